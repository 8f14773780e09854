"""Shared fixtures: paths into the repository and the chapter notebooks, read once."""

import sys
from pathlib import Path

import jax
import nbformat

# Eight virtual CPU devices, as the chapters' setup cell asks for (chapter 5's checkers need them). It must happen
# before any JAX operation in this process, so here, before any test module is imported.
jax.config.update("jax_num_cpu_devices", 8)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from book_cells import chapter_notebooks  # noqa: E402


def read_notebook(path):
    return nbformat.read(path, as_version=4)


CHAPTERS = chapter_notebooks()
CHAPTER_IDS = [path.stem for path in CHAPTERS]
