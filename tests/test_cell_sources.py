"""The checker cells' sources (tools/cells/): each name and each function body written once, each piece named right.

A chapter's helpers cell is checks_core.py, then the pieces it names, then checks_NN.py (tools/book_cells.py). A
helper copied into two of those files can drift apart; these tests find the copies, by name and by body.
"""

import ast
import re
from pathlib import Path

import pytest
from book_cells import CELLS, PIECES, named_pieces, pieces_needed

CORE = CELLS / "checks_core.py"
CHAPTER_CHECKS = sorted(CELLS.glob("checks_[0-9][0-9].py"))
PIECE_FILES = sorted(PIECES.glob("*.py"))
MODULES = [CORE, *PIECE_FILES, *CHAPTER_CHECKS]
# A chapter's entry point is named after its exercise; two chapters may each have a `train_step` exercise, with
# different checkers (the body test below keeps them different).
ENTRY_POINT = re.compile(r"_?check_\w+$")


def top_level(path):
    """(name, node) for every top-level def, class and assignment of a module (imports left out: they copy no logic)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            yield node.name, node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    yield target.id, node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            yield node.target.id, node


def body_dump(node):
    """The function's body without its docstring, as ast.dump: equal for two copies of the same code."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return ast.dump(ast.Module(body=body, type_ignores=[])) if body else None


def test_sources_found():
    assert CORE.exists() and len(CHAPTER_CHECKS) >= 8 and len(PIECE_FILES) >= 5


def test_no_name_defined_twice():
    where = {}
    for path in MODULES:
        for name, _ in top_level(path):
            where.setdefault(name, []).append(path.name)
    twice = {
        name: files
        for name, files in where.items()
        if len(files) > 1 and not (ENTRY_POINT.match(name) and all(f.startswith("checks_0") for f in files))
    }
    assert not twice, f"defined in more than one file (move it to a piece in tools/cells/pieces/): {twice}"


def test_no_function_body_written_twice():
    bodies = {}
    for path in MODULES:
        for name, node in top_level(path):
            if isinstance(node, ast.FunctionDef) and (dump := body_dump(node)) is not None:
                bodies.setdefault(dump, []).append(f"{path.name}:{name}")
    # one exception: the chapters' entry points of the same name (each `report`s its own _check_train_step)
    copies = [
        places
        for places in bodies.values()
        if len(places) > 1
        and not (len({p.split(":")[1] for p in places}) == 1 and ENTRY_POINT.match(places[0].split(":")[1]))
    ]
    assert not copies, f"the same body under different names (keep one, in a piece): {copies}"


@pytest.mark.parametrize("path", MODULES[1:], ids=lambda path: path.stem)
def test_named_pieces_exist_and_are_needed(path):
    """Every piece a file names exists, and every name it uses from a piece comes from a piece it names."""
    source = path.read_text()
    needed = pieces_needed(source)  # raises for a missing piece or a circle
    provided = {name for piece in needed for name, _ in top_level(PIECES / f"{piece}.py")}
    own = {name for name, _ in top_level(path)}
    from_pieces = {name for piece in PIECE_FILES for name, _ in top_level(piece)} - own
    used = {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)}
    missing = (used & from_pieces) - provided
    assert not missing, f"{path.name} uses {sorted(missing)} from pieces it does not name in its `# pieces:` line"
    for piece in named_pieces(source):  # and each piece it names gives it something it uses itself
        assert used & {name for name, _ in top_level(PIECES / f"{piece}.py")}, f"{path.name} uses nothing of {piece!r}"


def test_every_piece_is_used():
    used = {piece for path in CHAPTER_CHECKS for piece in pieces_needed(path.read_text())}
    assert used == {path.stem for path in PIECE_FILES}, "a piece no chapter uses: delete it"


def test_pieces_come_after_what_they_need():
    order = pieces_needed("# pieces: " + ", ".join(path.stem for path in PIECE_FILES))
    assert sorted(order) == sorted(path.stem for path in PIECE_FILES)  # each once
    for position, piece in enumerate(order):
        for needed in named_pieces((PIECES / f"{piece}.py").read_text()):
            assert order.index(needed) < position, f"{piece} comes before {needed}, which it needs"


def test_missing_and_circular_pieces_are_refused(tmp_path, monkeypatch):
    import book_cells

    (tmp_path / "a.py").write_text("# pieces: b\n")
    (tmp_path / "b.py").write_text("# pieces: a\n")
    monkeypatch.setattr(book_cells, "PIECES", tmp_path)
    with pytest.raises(ValueError, match="circle"):
        pieces_needed("# pieces: a")
    with pytest.raises(ValueError, match="no piece 'c'"):
        pieces_needed("# pieces: c")
    with pytest.raises(ValueError, match="one `# pieces:` line"):
        named_pieces("# pieces: a\n# pieces: b\n")


def test_chapter_pieces_line_is_in_the_header():
    """The `# pieces:` line sits right under the chapter's title comment, where a reader of the file looks."""
    for path in CHAPTER_CHECKS:
        lines = path.read_text().splitlines()
        others = [i for i, line in enumerate(lines) if line.startswith("# pieces:")]
        assert others in ([], [1]), f"{path.name}: the `# pieces:` line belongs on line 2"


def test_helpers_cell_order(tmp_path):
    """checks_core, then the pieces in dependency order, then the chapter's own checks."""
    from book_cells import CHAPTERS, helpers_source

    source = helpers_source(CHAPTERS / "04_autodiff.ipynb")
    markers = [
        source.index(text)
        for text in (
            "class NotYet",
            "def _as64",
            "def _scale_and_shift",
            "def _expect_gradients_close",
            "# --- Chapter 4",
        )
    ]
    assert markers == sorted(markers)
    assert source.count("def _as64") == 1
    assert Path(CHAPTERS / "04_autodiff.ipynb").exists()
