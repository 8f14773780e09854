"""The generated cells every chapter carries, and where each comes from.

One canonical source per cell, so the chapters stay standalone (each opens alone in Colab) without drifting apart:
- the setup cell: the first code cell of every chapter, from tools/cells/setup.py;
- the helpers cell: the exercise checkers, tagged `helpers`, from tools/cells/checks_core.py followed by the
  chapter's own tools/cells/checks_NN.py (only chapters with exercises have one).
`tools/sync_cells.py` writes them into the notebooks; tests/test_structure.py checks they are in sync.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CELLS = ROOT / "tools" / "cells"
CHAPTERS = ROOT / "chapters"

SETUP_METADATA = {"tags": ["hide-input", "setup"], "cellView": "form"}
HELPERS_METADATA = {"tags": ["hide-input", "helpers"], "cellView": "form"}


def chapter_number(notebook_path):
    """'01' for chapters/01_pure_functions.ipynb."""
    return Path(notebook_path).name.split("_", 1)[0]


def chapter_notebooks():
    return sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))


def setup_source():
    return (CELLS / "setup.py").read_text().rstrip("\n")


def helpers_source(notebook_path):
    """The checkers cell for this chapter, or None if the chapter has no checks file."""
    own = CELLS / f"checks_{chapter_number(notebook_path)}.py"
    if not own.exists():
        return None
    return ((CELLS / "checks_core.py").read_text() + own.read_text()).rstrip("\n")
