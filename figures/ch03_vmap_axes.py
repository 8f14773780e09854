"""Figure for chapter 3: how in_axes picks the batch axis of each argument and out_axes places it in the result."""

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, Rectangle
from style import PALETTE, new_figure

BATCH = 3  # batch size in the picture
COLOURS = (PALETTE[0], PALETTE[1], PALETTE[2])  # one colour per example
CELL = 0.42


def grid(ax, x, y, rows, columns, colour_of, label, note):
    """A rows x columns array drawn from its top-left corner; colour_of(row, column) gives each cell's colour."""
    for r in range(rows):
        for c in range(columns):
            colour = colour_of(r, c)
            ax.add_patch(
                Rectangle(
                    (x + c * CELL, y - (r + 1) * CELL),
                    CELL,
                    CELL,
                    facecolor=colour if colour else "white",
                    edgecolor="0.25",
                    linewidth=0.8,
                    alpha=0.85 if colour else 1.0,
                )
            )
    ax.text(x + columns * CELL / 2, y + 0.18, label, ha="center", va="bottom", fontsize=11, family="DejaVu Sans Mono")
    ax.text(x + columns * CELL / 2, y - rows * CELL - 0.15, note, ha="center", va="top", fontsize=10, color="0.3")


def arrow(ax, start, end):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color="0.2", linewidth=1.2))


def draw():
    fig, ax = new_figure(1, 1, figsize=(7.6, 4.6))
    top = 3.6
    # Inputs: x with in_axes=1 (batch along columns), w with in_axes=None (shared by every example).
    grid(ax, 0.2, top, 2, BATCH, lambda r, c: COLOURS[c], "x: (2, 3)", "in_axes=1\nexample i = column i")
    grid(ax, 0.2 + 0.5 * CELL, top - 2.1, 2, 1, lambda r, c: None, "w: (2,)", "in_axes=None\nthe same w for all")
    # The per-example calls.
    for i in range(BATCH):
        y = top - 0.1 - i * 1.35
        grid(ax, 3.0, y, 2, 1, lambda r, c, i=i: COLOURS[i], f"x[:, {i}]", "")
        ax.text(3.0 + CELL + 0.25, y - CELL, "f( · , w)  →", fontsize=10.5, va="center")
        grid(ax, 4.95, y, 1, 4, lambda r, c, i=i: COLOURS[i], "", "")
    arrow(ax, (1.75, top - 0.5), (2.85, top - 0.5))
    ax.text(3.0, top + 0.55, "f runs once per example\n(conceptually: vmap traces it once)", fontsize=10.5)
    # Outputs: stacked along out_axes=0 (rows) or out_axes=1 (columns).
    grid(ax, 7.6, top, BATCH, 4, lambda r, c: COLOURS[r], "out_axes=0: (3, 4)", "example i = row i")
    grid(ax, 7.95, top - 2.1, 4, BATCH, lambda r, c: COLOURS[c], "out_axes=1: (4, 3)", "example i = column i")
    arrow(ax, (6.8, top - 0.6), (7.5, top - 0.6))
    arrow(ax, (6.8, top - 2.8), (7.8, top - 2.8))
    ax.set_xlim(0, 9.6)
    ax.set_ylim(-0.5, top + 1.2)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    draw()
    plt.show()
