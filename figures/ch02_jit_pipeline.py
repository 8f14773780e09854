"""Figure for chapter 2: the jit pipeline, and which calls go through it and which hit the cache."""

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from style import PALETTE, new_figure

STAGES = (
    ("Python\nfunction", "f(x)"),
    ("trace", "abstract values\nfloat32[3]"),
    ("jaxpr", "recorded\noperations"),
    ("XLA", "compile for\nthis backend"),
    ("executable", "stored in the\ncache"),
)
CALLS = (
    ("f(float32[3])", "first call: miss, trace and compile", True),
    ("f(float32[3])", "same key: hit", False),
    ("f(float32[4])", "new shape: miss", True),
    ("f(int32[3])", "new dtype: miss", True),
)
BOX_W, BOX_H, GAP = 1.5, 0.9, 0.55


def box_x(index):
    return 2.3 + index * (BOX_W + GAP)


def arrow(ax, start, end, colour, style="-|>", **kwargs):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, color=colour, **kwargs))


def draw():
    fig, ax = new_figure(1, 1, figsize=(8.2, 4.4))
    top = 4.3
    for index, (name, note) in enumerate(STAGES):
        x = box_x(index)
        colour = PALETTE[2] if index == len(STAGES) - 1 else PALETTE[0]
        ax.add_patch(
            FancyBboxPatch(
                (x, top), BOX_W, BOX_H, boxstyle="round,pad=0.05", facecolor="white", edgecolor=colour, linewidth=1.6
            )
        )
        ax.text(x + BOX_W / 2, top + BOX_H / 2, name, ha="center", va="center", fontsize=10, weight="bold")
        ax.text(x + BOX_W / 2, top - 0.15, note, ha="center", va="top", fontsize=9.5, color="0.3")
        if index:
            arrow(ax, (x - GAP, top + BOX_H / 2), (x, top + BOX_H / 2), "0.2")
    ax.text(box_x(0), top + BOX_H + 0.3, "compile once per cache key", fontsize=11, color=PALETTE[1])
    last = box_x(len(STAGES) - 1) + BOX_W / 2
    for row, (call, label, miss) in enumerate(CALLS):
        y = 2.6 - row * 0.62
        ax.text(0.1, y, call, ha="left", va="center", fontsize=10.5, family="DejaVu Sans Mono")
        colour = PALETTE[1] if miss else PALETTE[2]
        if miss:
            arrow(ax, (2.3, y), (box_x(1) + BOX_W / 2, y), colour, linewidth=1.4)
            ax.plot([box_x(1) + BOX_W / 2] * 2, [y, top - 0.85], color=colour, linewidth=1.0, linestyle=":")
        else:
            arrow(ax, (2.3, y), (last, y), colour, linewidth=1.8)
            ax.plot([last] * 2, [y, top - 0.85], color=colour, linewidth=1.0, linestyle=":")
        ax.text(
            last + 0.15 if not miss else box_x(1) + BOX_W / 2 + 0.2,
            y + 0.12,
            label,
            fontsize=10,
            color=colour,
            va="bottom",
        )
    key = "cache key: shapes, dtypes, weak types, pytree structure, placement, static argument values"
    ax.text(0.1, 0.0, key, fontsize=10, color="0.3")
    baked = "not in the key: globals read while tracing (their values are baked into the executable)"
    ax.text(0.1, -0.45, baked, fontsize=10, color="0.3")
    ax.set_xlim(0, box_x(len(STAGES) - 1) + BOX_W + 1.4)
    ax.set_ylim(-0.65, top + BOX_H + 0.7)
    ax.axis("off")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    draw()
    plt.show()
