"""Figure for chapter 6: the 4 x 2 mesh and the block of W1 each device holds under each strategy."""

import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle
from style import PALETTE, new_figure

ROWS, COLS = 4, 2  # mesh: data x model
PANELS = (
    ("data parallel", "W1: P()", "full", True),
    ("FSDP", "W1: P('data', None)", "rows", True),
    ("tensor parallel", "W1: P(None, 'model')", "columns", False),
    ("2-D data x model", "W1: P(None, 'model')", "columns", True),
)


def held_block(kind, i, j):
    """(x0, y0, width, height) of W1 held by device (i, j), in a unit square; and the colour index."""
    if kind == "full":
        return (0, 0, 1, 1), 0
    if kind == "rows":
        return (0, 1 - (i + 1) / ROWS, 1, 1 / ROWS), i
    return (j / COLS, 0, 1 / COLS, 1), j


def panel(ax, title, spec, kind, batch_split):
    ax.set_title(f"{title}\n{spec}", fontsize=11, family="DejaVu Sans Mono")
    for i in range(ROWS):
        for j in range(COLS):
            x0, y0 = j * 1.5, (ROWS - 1 - i) * 1.2
            ax.add_patch(Rectangle((x0, y0), 1.3, 1.0, facecolor="white", edgecolor="0.6", lw=1))
            ax.text(x0 + 0.05, y0 + 0.92, f"({i},{j})", fontsize=7, va="top", color="0.4")
            wx, wy, size = x0 + 0.35, y0 + 0.12, 0.6
            ax.add_patch(Rectangle((wx, wy), size, size * 1.1, facecolor="0.93", edgecolor="0.3", lw=0.8))
            (bx, by, bw, bh), colour = held_block(kind, i, j)
            ax.add_patch(
                Rectangle(
                    (wx + bx * size, wy + by * size * 1.1),
                    bw * size,
                    bh * size * 1.1,
                    facecolor=PALETTE[colour],
                    edgecolor="none",
                )
            )
        # the batch strip: one band per data row if x is split over 'data', else the whole batch
        label = f"x block {i}" if batch_split else "all of x"
        ax.text(-0.15, (ROWS - 1 - i) * 1.2 + 0.5, label, ha="right", va="center", fontsize=8, color="0.3")
    ax.text(0.65, ROWS * 1.2 + 0.05, "model 0", ha="center", fontsize=8, color="0.3")
    ax.text(2.15, ROWS * 1.2 + 0.05, "model 1", ha="center", fontsize=8, color="0.3")
    ax.set_xlim(-1.6, 3.0)
    ax.set_ylim(-0.2, ROWS * 1.2 + 0.4)
    ax.set_aspect("equal")
    ax.axis("off")


def draw():
    fig, axes = new_figure(1, 4, figsize=(13, 4.6))
    for ax, spec in zip(axes, PANELS, strict=True):
        panel(ax, *spec)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    draw()
    plt.show()
