"""Shared look of the book's figures: a colour-blind-safe palette and settings that make SVG output deterministic."""

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt  # noqa: E402

# Okabe-Ito palette: distinguishable with the common forms of colour blindness.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")

DETERMINISTIC_SVG = {
    "svg.hashsalt": "jax-transformations",  # fixed ids instead of random ones
    "svg.fonttype": "none",  # text stays text: smaller files, no font-version-dependent glyph paths
    "font.family": "DejaVu Sans",
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def new_figure(rows, columns, **kwargs):
    plt.rcParams.update(DETERMINISTIC_SVG)
    return plt.subplots(rows, columns, **kwargs)


def save_svg(fig, path):
    """Write the figure with no date or tool-version metadata, so regenerating it gives identical bytes."""
    fig.savefig(path, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
