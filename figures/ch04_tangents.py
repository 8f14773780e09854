"""Figure for chapter 4: the tangent lines of f(x) = sin x + 0.1 x² at five points, the widget's static companion."""

import matplotlib.pyplot as plt
import numpy as np
from style import PALETTE, new_figure

POINTS = (-3.0, -1.5, 0.0, 1.5, 3.0)


def curve(x):
    return np.sin(x) + 0.1 * x**2


def slope(x):  # f'(x), what jax.jvp returns for the tangent t = 1
    return np.cos(x) + 0.2 * x


def draw():
    fig, axes = new_figure(1, len(POINTS), figsize=(10, 2.9), sharey=True)
    grid = np.linspace(-4, 4, 161)
    for ax, x in zip(axes, POINTS, strict=True):
        ax.plot(grid, curve(grid), color=PALETTE[0], linewidth=1.5)
        s = np.array([-1.2, 1.2])
        ax.plot(x + s, curve(x) + slope(x) * s, color=PALETTE[1], linewidth=2.5)
        ax.plot([x], [curve(x)], "o", color="black", markersize=5)
        ax.set_title(f"x = {x:g}\nslope {slope(x):.3g}", fontsize=11)
        ax.set_xlim(-4, 4)
        ax.set_ylim(-2, 3)
        ax.set_xticks([-4, 0, 4])
        ax.tick_params(labelsize=10)
    axes[0].set_ylabel("f(x) = sin x + 0.1 x²", fontsize=10)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    draw()
    plt.show()
