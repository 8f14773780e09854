"""Figure for chapter 1: random walks with split keys (top row) and with one reused key (bottom row)."""

import jax
import matplotlib.pyplot as plt
import numpy as np
from style import PALETTE, new_figure

SEEDS = (0, 1, 2)
STEPS = 100


def walk(key, steps, reuse_key):
    """Positions of a Gaussian random walk; with reuse_key, every step draws from the same key (the bug)."""
    position, path = 0.0, [0.0]
    for _ in range(steps):
        if not reuse_key:
            key, step_key = jax.random.split(key)
        position += float(jax.random.normal(key if reuse_key else step_key))
        path.append(position)
    return np.array(path)


def draw():
    fig, axes = new_figure(2, len(SEEDS), figsize=(7.5, 3.6), sharex=True)
    rows = [(False, "split keys", PALETTE[0]), (True, "reused key", PALETTE[1])]
    for row, (reuse_key, label, colour) in enumerate(rows):
        for column, seed in enumerate(SEEDS):
            ax = axes[row, column]
            ax.plot(walk(jax.random.key(seed), STEPS, reuse_key), color=colour, linewidth=1.4)
            ax.axhline(0.0, color="0.75", linewidth=0.8, zorder=0)
            ax.set_title(f"{label}, seed {seed}", fontsize=9)
            if row == 1:
                ax.set_xlabel("step")
            if column == 0:
                ax.set_ylabel("position")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    draw()
    plt.show()
