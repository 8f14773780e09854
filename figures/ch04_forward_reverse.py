"""Figure for chapter 4: forward mode pushes tangents from inputs to outputs; reverse mode pulls cotangents back."""

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from style import PALETTE, new_figure

TANGENT, COTANGENT = PALETTE[0], PALETTE[1]
XS = (0.7, 3.5, 6.3, 9.1)  # centres of x, h = f1(x), z = f2(h), y = f3(z)
NAMES = ("x", "h", "z", "y")
FUNCTIONS = ("f1", "f2", "f3")


def node(ax, x, y, label):
    ax.add_patch(
        FancyBboxPatch((x - 0.45, y - 0.3), 0.9, 0.6, boxstyle="round,pad=0.05", facecolor="white", edgecolor="0.2")
    )
    ax.text(x, y, label, ha="center", va="center", fontsize=13, family="DejaVu Sans Mono")


def arrow(ax, start, end, colour, style="-|>", width=1.4):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=14, color=colour, linewidth=width))


def chain(ax, y, title):
    """The primal chain x -> h -> z -> y, computed left to right in both modes."""
    ax.text(0.25, y + 0.95, title, fontsize=12, fontweight="bold", va="center")
    for x, name in zip(XS, NAMES, strict=True):
        node(ax, x, y, name)
    for left, right, name in zip(XS, XS[1:], FUNCTIONS, strict=False):
        arrow(ax, (left + 0.55, y), (right - 0.55, y), "0.35")
        ax.text((left + right) / 2, y + 0.2, name, ha="center", va="bottom", fontsize=11, color="0.3")


def draw():
    fig, ax = new_figure(1, 1, figsize=(8.2, 4.9))
    top, bottom = 3.9, 0.4
    chain(ax, top, "Forward mode (jvp): one pass, tangents travel with the values")
    tangents = ("v", "J1 v", "J2 J1 v", "J3 J2 J1 v")
    for x, label in zip(XS, tangents, strict=True):
        ax.text(x, top - 0.75, label, ha="center", va="center", fontsize=11, color=TANGENT)
    for left, right in zip(XS, XS[1:], strict=False):
        arrow(ax, (left + 0.55, top - 0.75), (right - 0.75, top - 0.75), TANGENT)
    ax.text(
        XS[0] + 0.1,
        top - 1.35,
        "result: J v, the Jacobian times one input direction v, per pass",
        fontsize=10,
        color="0.3",
        va="center",
    )

    chain(ax, bottom, "Reverse mode (vjp): values forward, then cotangents backward")
    cotangents = ("u J3 J2 J1", "u J3 J2", "u J3", "u")
    for x, label in zip(XS, cotangents, strict=True):
        ax.text(x, bottom - 0.75, label, ha="center", va="center", fontsize=11, color=COTANGENT)
    for left, right in zip(XS, XS[1:], strict=False):
        arrow(ax, (right - 0.45, bottom - 0.75), (left + 0.75, bottom - 0.75), COTANGENT)
    ax.text(
        XS[0] + 0.1,
        bottom - 1.55,
        "result: u J, one output weighting u times the Jacobian, per pass;\n"
        "the backward pass needs the values h, z saved by the forward pass",
        fontsize=10,
        color="0.3",
        va="center",
    )
    ax.set_xlim(-0.9, 10.5)
    ax.set_ylim(bottom - 2.0, top + 1.3)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    draw()
    plt.show()
