"""The generated cells every chapter carries, and where each comes from.

One canonical source per cell, so the chapters stay standalone (each opens alone in Colab) without drifting apart:
- the setup cell: the first code cell of every chapter, from tools/cells/setup.py;
- the helpers cell: the exercise checkers, tagged `helpers`, from tools/cells/checks_core.py, then the shared pieces
  (tools/cells/pieces/*.py) the chapter names, then the chapter's own tools/cells/checks_NN.py (only chapters with
  exercises have one). A checks file or piece names the pieces it needs in one line, `# pieces: fit, mlp`; each
  piece appears once, after the pieces it needs.
`tools/sync_cells.py` writes them into the notebooks; tests/test_structure.py checks they are in sync.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CELLS = ROOT / "tools" / "cells"
CHAPTERS = ROOT / "chapters"
PIECES = CELLS / "pieces"
PIECES_LINE = re.compile(r"^# pieces: *(.*)$", re.MULTILINE)

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
    text = own.read_text()
    pieces = "".join((PIECES / f"{name}.py").read_text() + "\n\n" for name in pieces_needed(text))
    return ((CELLS / "checks_core.py").read_text() + "\n\n" + pieces + text).rstrip("\n")


def named_pieces(source):
    """The pieces a checks file or piece names in its `# pieces:` line (none without one)."""
    lines = PIECES_LINE.findall(source)
    if len(lines) > 1:
        raise ValueError("name the pieces in one `# pieces:` line")
    return [name.strip() for name in lines[0].split(",") if name.strip()] if lines else []


def pieces_needed(source):
    """Every piece this source needs, directly or through other pieces, each once and after the pieces it needs
    (a stable order: depth first, in the order they are named)."""
    order = []

    def visit(name, path):
        if name in path:
            raise ValueError(f"pieces need each other in a circle: {' -> '.join((*path, name))}")
        if name in order:
            return
        piece = PIECES / f"{name}.py"
        if not piece.exists():
            raise ValueError(f"no piece {name!r}: expected tools/cells/pieces/{name}.py")
        for needed in named_pieces(piece.read_text()):
            visit(needed, (*path, name))
        order.append(name)

    for name in named_pieces(source):
        visit(name, ())
    return order
