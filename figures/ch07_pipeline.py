"""Figure for chapter 7: the stages from a Python function to an executable, and the call that reaches each one."""

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from style import PALETTE, new_figure

PORTABLE, SPECIFIC, SHIP, LOWERED = PALETTE[0], PALETTE[1], PALETTE[2], PALETTE[3]
MONO = "DejaVu Sans Mono"

# (name, what you can look at, colour); top to bottom.
STAGES = (
    ("Python function", "def f(x): ...", PORTABLE),
    ("jaxpr", "print(traced.jaxpr)", PORTABLE),
    ("StableHLO", "lowered.as_text()", LOWERED),
    ("optimized HLO", "compiled.as_text()", SPECIFIC),
    ("executable", "compiled(x)\ncompiled.cost_analysis()\ncompiled.memory_analysis()", SPECIFIC),
)
# The call on each arrow between two stages (None: no call of its own), and a note.
ARROWS = (
    ("jax.make_jaxpr(f)(x)\njax.jit(f).trace(x)", None),
    ("traced.lower()", "or jax.jit(f).lower(spec)"),
    ("lowered.compile()", "XLA optimizes: fusion, layouts"),
    (None, "code generation, in the same call"),
)
BOX_W, BOX_H, STEP = 3.4, 0.78, 2.0
CALL_SIZE, NOTE_SIZE = 14, 14


def box_y(index):
    return (len(STAGES) - 1 - index) * STEP


def draw_box(ax, x, y, width, label, colour, size=16):
    ax.add_patch(
        FancyBboxPatch(
            (x, y), width, BOX_H, boxstyle="round,pad=0.06", facecolor="white", edgecolor=colour, linewidth=2.2
        )
    )
    ax.text(x + width / 2, y + BOX_H / 2, label, ha="center", va="center", fontsize=size, weight="bold")


def arrow(ax, start, end, colour="0.2", **kwargs):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=20, color=colour, lw=1.8, **kwargs))


def draw_stages(ax):
    centre = BOX_W / 2
    for index, (name, inspect, colour) in enumerate(STAGES):
        y = box_y(index)
        draw_box(ax, 0.0, y, BOX_W, name, colour)
        ax.text(BOX_W + 0.35, y + BOX_H / 2, inspect, ha="left", va="center", fontsize=CALL_SIZE, family=MONO)
        if not index:
            continue
        top = box_y(index - 1)
        arrow(ax, (centre, top - 0.1), (centre, y + BOX_H + 0.1))
        call, note = ARROWS[index - 1]
        middle = (top + y + BOX_H) / 2
        if call and note:
            ax.text(centre + 0.25, middle + 0.2, call, ha="left", va="center", fontsize=CALL_SIZE, family=MONO)
            ax.text(centre + 0.25, middle - 0.22, note, ha="left", va="center", fontsize=NOTE_SIZE, color="0.35")
        elif call:
            ax.text(centre + 0.25, middle, call, ha="left", va="center", fontsize=CALL_SIZE, family=MONO)
        else:
            ax.text(centre + 0.25, middle, note, ha="left", va="center", fontsize=NOTE_SIZE, color="0.35")


def draw_export(ax):
    """StableHLO, serialized with its metadata by jax.export, and called in another process."""
    stable = box_y(2)
    x, width = 8.0, 3.3
    y = stable - 1.1
    draw_box(ax, x, y, width, "serialized bytes", SHIP, size=15)
    arrow(ax, (BOX_W + 0.1, stable + 0.1), (x - 0.1, y + BOX_H / 2), colour=SHIP)
    ax.text(
        x + width / 2,
        y + BOX_H + 0.2,
        "jax.export.export(\n  jax.jit(f))(spec)\n.serialize()",
        ha="center",
        va="bottom",
        fontsize=CALL_SIZE,
        family=MONO,
        color=SHIP,
    )
    arrow(ax, (x + width / 2, y - 0.1), (x + width / 2, y - 0.8), colour=SHIP)
    ax.text(
        x + width / 2,
        y - 0.9,
        "in another process:\ndeserialize(b).call(x)",
        ha="center",
        va="top",
        fontsize=CALL_SIZE,
        family=MONO,
        color=SHIP,
    )


def draw_brackets(ax):
    """Which stages read the same on every platform, which is lowered for chosen platforms (a lowering may call a
    platform's own library routines), and which belong to one backend."""
    left = -0.35
    groups = (
        (0, 1, PORTABLE, "the same on\nevery platform"),
        (2, 2, LOWERED, "lowered for\nthe chosen\nplatforms"),
        (3, 4, SPECIFIC, "one backend\n(CPU, GPU\nor TPU)"),
    )
    for first, last, colour, label in groups:
        top, bottom = box_y(first) + BOX_H, box_y(last)
        ax.plot([left, left], [bottom, top], color=colour, lw=3)
        ax.text(left - 0.2, (top + bottom) / 2, label, ha="right", va="center", fontsize=NOTE_SIZE, color=colour)


def draw():
    fig, ax = new_figure(1, 1, figsize=(10.0, 8.6))
    draw_stages(ax)
    draw_export(ax)
    draw_brackets(ax)
    ax.set_xlim(-2.9, 11.6)
    ax.set_ylim(box_y(4) - 0.5, box_y(0) + BOX_H + 0.2)
    ax.axis("off")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    draw()
    plt.show()
