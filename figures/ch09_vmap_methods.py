"""Figure for chapter 9: what a pure_callback's host function receives under vmap, for each vmap_method.

A batch of 4 vectors x (length 3) and one unbatched vector y (length 3). Each grid is one array the host function
gets; each column of panels is one vmap_method.
"""

import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle
from style import PALETTE, new_figure

X_COLOUR, Y_COLOUR, NEW_AXIS = PALETTE[0], PALETTE[1], PALETTE[4]
MONO = "DejaVu Sans Mono"
CELL = 0.32
BATCH, LENGTH = 4, 3


def grid(ax, x0, y0, rows, cols, colour, label, broadcast_rows=0):
    """A rows x cols array drawn as cells; the last `broadcast_rows` rows are copies (hatched)."""
    for r in range(rows):
        for c in range(cols):
            copied = r >= rows - broadcast_rows
            ax.add_patch(
                Rectangle(
                    (x0 + c * CELL, y0 - (r + 1) * CELL),
                    CELL,
                    CELL,
                    facecolor="white" if copied else colour,
                    edgecolor=colour,
                    hatch="//" if copied else None,
                    alpha=1.0 if copied else 0.55,
                    linewidth=1.4,
                )
            )
    ax.text(x0 + cols * CELL / 2, y0 + 0.12, label, ha="center", va="bottom", fontsize=12, family=MONO)


def sequential(ax, x0, top):
    ax.text(x0, top, "sequential", fontsize=15, weight="bold", va="bottom")
    ax.text(x0, top - 0.35, "4 calls, one per example", fontsize=12, color="0.3", va="top")
    for call in range(BATCH):
        y = top - 1.25 - call * 0.85
        ax.text(x0, y - CELL / 2, f"call {call + 1}", fontsize=11, va="center", color="0.3")
        grid(ax, x0 + 1.1, y, 1, LENGTH, X_COLOUR, "x (3,)" if call == 0 else "")
        grid(ax, x0 + 2.4, y, 1, LENGTH, Y_COLOUR, "y (3,)" if call == 0 else "")


def single_call(ax, x0, top, name, y_rows, y_label, note):
    ax.text(x0, top, name, fontsize=15, weight="bold", va="bottom")
    ax.text(x0, top - 0.35, "1 call, the whole batch", fontsize=12, color="0.3", va="top")
    y = top - 1.25
    ax.text(x0, y - CELL / 2, "call 1", fontsize=11, va="center", color="0.3")
    grid(ax, x0 + 1.1, y, BATCH, LENGTH, X_COLOUR, "x (4, 3)")
    grid(ax, x0 + 2.4, y, y_rows, LENGTH, Y_COLOUR, y_label, broadcast_rows=y_rows - 1)
    ax.text(x0 + 1.1, y - BATCH * CELL - 0.3, note, fontsize=11, color="0.3", va="top")


def draw():
    fig, ax = new_figure(1, 1, figsize=(11.0, 4.6))
    top = 4.2
    sequential(ax, 0.0, top)
    single_call(ax, 4.1, top, "expand_dims", 1, "y (1, 3)", "y gets a new axis\nof size 1: broadcast it")
    single_call(ax, 8.2, top, "broadcast_all", BATCH, "y (4, 3)", "y is copied to the\nbatch size (hatched)")
    ax.set_xlim(-0.1, 12.0)
    ax.set_ylim(0.0, top + 0.6)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    draw()
    plt.show()
