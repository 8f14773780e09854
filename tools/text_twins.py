"""The text twin of each chapter: chapters/NN_name.md, the notebook's cells as jupytext MyST Markdown, no outputs.

A review reads the twin's diff: prose and code as text, without the JSON and outputs of the .ipynb. The notebook is
the source (it holds the outputs, and `make lab` edits it); `make sync` writes the twin from it. A reviewer may
also edit a twin: `make sync FROM=md` takes its cells back into the notebook (`cells_from_twin`), keeping the
stored outputs of the code cells whose source is unchanged and clearing those of edited or new code cells, which
then need `make outputs`.

The twin is deterministic: the header holds the notebook metadata the book keeps (BOOK_DESIGN.md section 2) and
jupytext's own version (pinned in requirements.txt), and each cell keeps its `tags` and `cellView` and nothing
else. The filters are written into the header too, so jupytext itself (its CLI, or JupyterLab opening a twin)
writes the same file again. The Sphinx build excludes the twins (_config.yml `exclude_patterns`); one document per
chapter name.
"""

import copy
from pathlib import Path

import jupytext
import nbformat
from jupytext.combine import map_outputs_to_inputs

FORMAT = "md:myst"
NOTEBOOK_METADATA_KEPT = "accelerator,colab,language_info"  # jupytext always keeps kernelspec and its own header
CELL_METADATA_KEPT = "tags,cellView,-all"


def twin_path(notebook_path):
    return Path(notebook_path).with_suffix(".md")


def twin_text(nb):
    """The twin of a notebook, as text (the notebook itself is not changed)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:  # in the order the .ipynb stores them (sorted), however they were set in memory
        cell.metadata = nbformat.from_dict(dict(sorted(cell.metadata.items())))
    nb.metadata["jupytext"] = {
        "notebook_metadata_filter": NOTEBOOK_METADATA_KEPT,
        "cell_metadata_filter": CELL_METADATA_KEPT,
    }
    return jupytext.writes(nb, fmt=FORMAT)


def read_twin(text):
    return jupytext.reads(text, fmt=FORMAT)


def write_twin(nb, notebook_path):
    """Write the notebook's twin beside it if its text changed; return whether it did."""
    path, text = twin_path(notebook_path), twin_text(nb)
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


def cells_from_twin(nb, text):
    """Replace the notebook's cells by the twin's, in place; return how many code cells lost their outputs.

    Cells are matched as `jupytext --update` matches them (same type and content, in order). A matched cell keeps
    its id; a code cell keeps its outputs and execution count only if its source is exactly the same.
    The notebook's own metadata is kept.
    """
    twin = read_twin(text)
    matches = map_outputs_to_inputs(twin.cells, nb.cells)
    cells, stale = [], 0
    for new, index in zip(twin.cells, matches, strict=True):
        old = nb.cells[index] if index is not None else None
        if new.cell_type == "code":
            cell = nbformat.v4.new_code_cell(new.source, metadata=dict(new.metadata))
            if old is not None and old.cell_type == "code" and old.source == new.source:
                cell.outputs, cell.execution_count = old.outputs, old.execution_count
            else:
                stale += 1
        elif new.cell_type == "markdown":
            cell = nbformat.v4.new_markdown_cell(new.source, metadata=dict(new.metadata))
        else:
            cell = nbformat.v4.new_raw_cell(new.source, metadata=dict(new.metadata))
        if old is not None:
            cell.id = old.id
        cells.append(cell)
    nb.cells = cells
    return stale
