"""Figure for chapter 5: four collectives across 4 devices, each device's value before and after."""

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from style import PALETTE, new_figure

BEFORE, AFTER, MOVE = PALETTE[0], PALETTE[1], PALETTE[2]
ROW_BEFORE, ROW_AFTER = 2.3, 0.0

PANELS = (
    ("lax.psum(x, 'i')", ["1", "2", "3", "4"], ["10", "10", "10", "10"], "every device gets the sum"),
    (
        "lax.all_gather(x, 'i')",
        ["1", "2", "3", "4"],
        ["1 2 3 4"] * 4,
        "every device gets all the blocks",
    ),
    ("lax.ppermute(x, 'i', ring)", ["1", "2", "3", "4"], ["4", "1", "2", "3"], None),
    (
        "lax.psum_scatter(x, 'i')",
        ["1 2 3 4", "2 3 4 5", "3 4 5 6", "4 5 6 7"],
        ["10", "14", "18", "22"],
        "device d gets entry d of the sum",
    ),
)


def box(ax, x, y, label, colour):
    ax.add_patch(
        FancyBboxPatch(
            (x - 0.42, y - 0.3), 0.84, 0.6, boxstyle="round,pad=0.04", facecolor="white", edgecolor=colour, lw=1.6
        )
    )
    ax.text(x, y, label, ha="center", va="center", fontsize=10.5, family="DejaVu Sans Mono")


def panel(ax, title, before, after, note):
    ax.set_title(title, fontsize=12, family="DejaVu Sans Mono")
    for d in range(4):
        ax.text(d, ROW_BEFORE + 0.55, f"device {d}", ha="center", va="bottom", fontsize=10, color="0.3")
        box(ax, d, ROW_BEFORE, before[d], BEFORE)
        box(ax, d, ROW_AFTER, after[d], AFTER)
    ax.text(-0.75, ROW_BEFORE, "before", ha="right", va="center", fontsize=10, color=BEFORE)
    ax.text(-0.75, ROW_AFTER, "after", ha="right", va="center", fontsize=10, color=AFTER)
    if note is None:  # ppermute: draw each block's move, source -> destination (d -> d + 1, wrapping around)
        for d in range(4):
            target = (d + 1) % 4
            bend = "arc3,rad=0.0" if target > d else "arc3,rad=0.2"
            ax.add_patch(
                FancyArrowPatch(
                    (d + 0.1, ROW_BEFORE - 0.35),
                    (target - 0.1, ROW_AFTER + 0.35),
                    arrowstyle="-|>",
                    mutation_scale=12,
                    color=MOVE,
                    lw=1.4,
                    connectionstyle=bend,
                )
            )
        note = "perm = [(0,1), (1,2), (2,3), (3,0)]"
        ax.text(1.5, ROW_AFTER - 0.6, note, ha="center", va="top", fontsize=10, color="0.3")
    else:
        ax.text(1.5, (ROW_BEFORE + ROW_AFTER) / 2, note, ha="center", va="center", fontsize=10, color="0.3")
    ax.set_xlim(-1.6, 3.6)
    ax.set_ylim(ROW_AFTER - 1.1, ROW_BEFORE + 1.0)
    ax.axis("off")


def draw():
    fig, axes = new_figure(2, 2, figsize=(10.5, 6.2))
    for ax, spec in zip(axes.ravel(), PANELS, strict=True):
        panel(ax, *spec)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    draw()
    plt.show()
