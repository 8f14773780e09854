"""The book's structure: table of contents, notebook anatomy and metadata (BOOK_DESIGN.md sections 1, 2 and 5)."""

import re

import pytest
import yaml
from book_cells import HELPERS_METADATA, SETUP_METADATA, chapter_number, helpers_source, setup_source
from conftest import CHAPTER_IDS, CHAPTERS, ROOT, read_notebook

NOTEBOOK_METADATA_KEYS = {"accelerator", "colab", "kernelspec", "language_info"}
CELL_METADATA_KEYS = {"tags", "cellView"}
IGNORE = "nbval-ignore-output"


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [entry["file"] for entry in part["chapters"]]
    return files


def code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def tags(cell):
    return cell.metadata.get("tags", [])


def stdout(cell):
    return "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")


def test_there_are_chapters():
    assert CHAPTERS, "no chapters/NN_*.ipynb found"


def test_toc_and_chapter_files_agree():
    listed = toc_files()
    for entry in listed:
        assert any((ROOT / f"{entry}{suffix}").exists() for suffix in (".md", ".ipynb")), f"{entry} is in _toc.yml"
    notebooks_in_toc = {entry for entry in listed if (ROOT / f"{entry}.ipynb").exists()}
    on_disk = {f"chapters/{path.stem}" for path in CHAPTERS}
    assert on_disk == notebooks_in_toc, "every chapter notebook must be in _toc.yml, and only those"


@pytest.fixture(params=CHAPTERS, ids=CHAPTER_IDS, scope="module")
def chapter(request):
    return request.param, read_notebook(request.param)


def test_notebook_metadata(chapter):
    _, nb = chapter
    assert set(nb.metadata) == NOTEBOOK_METADATA_KEYS
    assert nb.metadata["accelerator"] == "TPU", "Colab opens the chapter on a TPU runtime"
    assert nb.metadata["colab"] == {"gpuType": "V5E1"}, "what Colab saves for its current TPU runtime (v5e-1)"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        extra = set(cell.metadata) - CELL_METADATA_KEYS
        assert not extra, f"cell {cell.get('id')} carries per-run metadata {extra}"


def test_execution_counts_are_1_to_n(chapter):
    _, nb = chapter
    counts = [cell.execution_count for cell in code_cells(nb)]
    assert counts == list(range(1, len(counts) + 1)), "run `make outputs` (one fresh top-to-bottom run)"


def test_title_cell(chapter):
    path, nb = chapter
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    number = int(chapter_number(path))
    assert re.match(rf"# {number}\. \S", first.source), f"title must read '# {number}. Title'"
    for required in ("**You will learn**", "**Prerequisites:**", "**In Colab:**"):
        assert required in first.source


def test_setup_cell_is_first_and_in_sync(chapter):
    _, nb = chapter
    setup = code_cells(nb)[0]
    assert setup.source == setup_source(), "run `make sync`"
    assert dict(setup.metadata) == SETUP_METADATA
    assert not stdout(setup).strip(), "the setup cell must print nothing outside Colab"


def test_helpers_cell_in_sync(chapter):
    path, nb = chapter
    expected = helpers_source(path)
    helpers = [cell for cell in code_cells(nb) if "helpers" in tags(cell)]
    if expected is None:
        assert not helpers
        return
    assert len(helpers) == 1 and helpers[0].source == expected, "run `make sync`"
    assert dict(helpers[0].metadata) == HELPERS_METADATA


def test_every_ignored_output_is_followed_by_a_check(chapter):
    _, nb = chapter
    cells = code_cells(nb)
    for index, cell in enumerate(cells):
        if IGNORE not in tags(cell):
            continue
        assert index + 1 < len(cells), "an nbval-ignore-output cell needs a check cell after it"
        check = cells[index + 1]
        assert IGNORE not in tags(check), "the cell after an ignored output must itself be compared"
        assert "assert" in check.source or stdout(check).strip(), (
            f"the cell after ignored cell {index + 1} must assert or print what the prose relies on"
        )


def test_raising_cells_show_their_error(chapter):
    _, nb = chapter
    for cell in code_cells(nb):
        errors = [out for out in cell.outputs if out.output_type == "error"]
        if "raises-exception" in tags(cell):
            assert errors, "a raises-exception cell must show its error"
        else:
            assert not errors, f"unexpected error in cell {cell.execution_count}"


def test_exercise_pattern(chapter):
    _, nb = chapter
    cells = code_cells(nb)
    exercises = [index for index, cell in enumerate(cells) if "exercise" in tags(cell)]
    assert len(exercises) >= 3, "each chapter has at least three exercises"
    for index in exercises:
        stub, check_before, solution, check_after = cells[index : index + 4]
        assert "# YOUR CODE HERE" in stub.source
        assert check_before.source.startswith("check_") and check_before.source == check_after.source
        assert stdout(check_before).startswith("○"), "the checker after a stub must say 'not done yet'"
        assert {"solution", "hide-input"} <= set(tags(solution))
        assert solution.source.startswith("# @title Solution") and solution.metadata.get("cellView") == "form"
        assert stdout(check_after).startswith("✓"), "the checker after the solution must pass"


def test_has_a_live_widget_with_static_companion(chapter):
    _, nb = chapter
    widget_cells = [index for index, cell in enumerate(nb.cells) if "interact(" in cell.source]
    assert widget_cells, "each chapter has at least one ipywidgets interact cell"
    for index in widget_cells:
        assert IGNORE in tags(nb.cells[index]), "interact output reaches nbval as stray stdout: ignore it"
        following = "\n".join(cell.source for cell in nb.cells[index + 1 : index + 4] if cell.cell_type == "markdown")
        assert "```{figure}" in following or "|---" in following, "a static figure or table must follow the widget"


def test_figures_exist_and_have_alt_text(chapter):
    path, nb = chapter
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for match in re.finditer(r"```\{figure\} (\S+)\n(.*?)```", cell.source, re.S):
            target, body = match.groups()
            assert (path.parent / target).exists(), f"figure {target} not found"
            assert re.search(r"^:alt: \S", body, re.M), f"figure {target} needs :alt: text"
        assert not re.search(r"!\[\]\(", cell.source), "markdown images need alt text"


def test_visible_code_fits_the_page(chapter):
    """The website's code column shows about 80 characters; longer lines are cut off behind a scrollbar."""
    _, nb = chapter
    for cell in code_cells(nb):
        if {"setup", "helpers"} & set(tags(cell)):
            continue  # generated from tools/cells/, hidden by default
        for line in cell.source.splitlines():
            assert len(line) <= 80, f"cell {cell.execution_count}: {line!r} is {len(line)} characters"
