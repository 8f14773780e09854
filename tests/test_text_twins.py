"""Each chapter's text twin chapters/NN_name.md (tools/text_twins.py): present, current, faithful, and editable.

The notebook is the source and `make sync` writes the twin; `make sync FROM=md` takes a twin's edits back.
"""

import shutil

import nbformat
import pytest
import yaml
from conftest import CHAPTER_IDS, CHAPTERS, ROOT, read_notebook
from sphinx.util.matching import Matcher
from sync_cells import sync
from text_twins import cells_from_twin, read_twin, twin_path, twin_text

REGENERATE = "run `make sync` (tools/sync_cells.py) to rewrite the twins from the notebooks"
chapters = pytest.mark.parametrize("path", CHAPTERS, ids=CHAPTER_IDS)


def cells(nb):
    return [(cell.cell_type, cell.source, dict(cell.metadata)) for cell in nb.cells]


def test_every_chapter_has_a_twin_and_every_twin_a_chapter():
    twins = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.md"))
    assert twins == [twin_path(path) for path in CHAPTERS], REGENERATE


@chapters
def test_twin_is_what_make_sync_writes(path):
    twin = twin_path(path)
    assert twin.exists(), f"{twin.name} is missing: {REGENERATE}"
    assert twin.read_text() == twin_text(read_notebook(path)), f"{twin.name} is stale: {REGENERATE}"


@chapters
def test_twin_reads_back_to_the_notebook_cells(path):
    """Same cells, in order, with the same type, source, tags and cellView, and the book's notebook metadata."""
    nb, back = read_notebook(path), read_twin(twin_path(path).read_text())
    assert cells(back) == cells(nb)
    kept = {key: value for key, value in back.metadata.items() if key != "jupytext"}
    assert kept == dict(nb.metadata)


def test_twin_holds_no_outputs_and_no_per_run_metadata():
    nb = read_notebook(CHAPTERS[0])
    nb.cells[1].metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00"}
    nb.metadata["per_run_marker"] = {"state": {}}
    text = twin_text(nb)
    assert "2026-01-01" not in text and "per_run_marker" not in text
    stored = next(cell for cell in nb.cells if cell.cell_type == "code" and cell.outputs)
    printed = next(output for output in stored.outputs if output.get("text"))
    assert printed.text.strip().splitlines()[0] not in text.replace(stored.source, "")


def test_the_build_and_the_tests_leave_the_twins_alone():
    """Sphinx excludes them (one document per chapter name); nothing that lists chapters picks up a .md."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    excluded = Matcher(config["exclude_patterns"])
    assert all(excluded(twin_path(path).relative_to(ROOT).as_posix()) for path in CHAPTERS)
    assert not excluded("chapters/index.md") and not excluded("chapters/01_pure_functions.ipynb")
    assert all(path.suffix == ".ipynb" for path in CHAPTERS)


def edited_copy(tmp_path, edit):
    """A chapter and its twin in tmp_path, with `edit(twin_notebook)` applied to the twin."""
    source = CHAPTERS[0]
    path = tmp_path / source.name
    shutil.copy(source, path)
    twin = read_twin(twin_path(source).read_text())
    edit(twin)
    twin_path(path).write_text(twin_text(twin))
    return path


def test_make_sync_from_md_takes_a_prose_edit_and_keeps_the_outputs(tmp_path):
    before = read_notebook(CHAPTERS[0])
    index = next(i for i, cell in enumerate(before.cells) if cell.cell_type == "markdown" and i > 3)

    def edit(twin):
        twin.cells[index].source += "\n\nA sentence a reviewer added."

    path = edited_copy(tmp_path, edit)
    sync(path, from_twin=True)
    after = nbformat.read(path, as_version=4)
    assert after.cells[index].source.endswith("A sentence a reviewer added.")
    assert [cell.get("outputs") for cell in after.cells] == [cell.get("outputs") for cell in before.cells]
    assert [cell.id for cell in after.cells] == [cell.id for cell in before.cells]
    assert after.metadata == before.metadata
    assert twin_path(path).read_text() == twin_text(after)


def test_make_sync_from_md_clears_the_outputs_of_an_edited_code_cell(tmp_path):
    before = read_notebook(CHAPTERS[0])
    index = next(i for i, cell in enumerate(before.cells) if cell.cell_type == "code" and cell.outputs and i > 3)

    def edit(twin):
        twin.cells[index].source += "\nprint('edited')"

    path = edited_copy(tmp_path, edit)
    sync(path, from_twin=True)
    after = nbformat.read(path, as_version=4)
    assert after.cells[index].source.endswith("print('edited')")
    assert after.cells[index].outputs == [] and after.cells[index].execution_count is None
    others = [cell.get("outputs") for i, cell in enumerate(after.cells) if i != index]
    assert others == [cell.get("outputs") for i, cell in enumerate(before.cells) if i != index]


def test_a_cell_inserted_in_the_twin_becomes_a_notebook_cell():
    """An inserted twin cell becomes a new notebook cell; the unchanged rest keeps its ids and outputs."""
    nb = read_notebook(CHAPTERS[0])
    ids = [cell.id for cell in nb.cells]
    twin = read_twin(twin_text(nb))
    twin.cells.insert(2, nbformat.v4.new_markdown_cell("A new paragraph."))
    stale = cells_from_twin(nb, twin_text(twin))
    assert stale == 0
    assert nb.cells[2].source == "A new paragraph." and nb.cells[2].id not in ids
    assert [cell.id for cell in nb.cells[:2] + nb.cells[3:]] == ids
