"""Write the generated parts of every chapter notebook, then its text twin (`make sync`; `make sync FROM=md`).

In order, for each chapter: the "Open in Colab" badge under the title (tools/colab_badge.py, URL from _config.yml);
the setup cell, the first code cell; the helpers cell, the code cell tagged `helpers` (inserted right after the
setup cell if missing); the notebook is written if any of these changed; then its twin chapters/NN_name.md
(tools/text_twins.py), so the twin holds the badge and the generated cells too. Only sources and metadata change;
outputs are left for `make outputs`.

With `--from-md` (`make sync FROM=md`) each notebook first takes its cells from its twin, keeping the outputs of
unchanged code cells, so an edit made in the twin reaches the notebook.
"""

import argparse
from pathlib import Path

import nbformat
from book_cells import HELPERS_METADATA, SETUP_METADATA, chapter_notebooks, helpers_source, setup_source
from colab_badge import colab_url, read_config, with_badge
from text_twins import cells_from_twin, twin_path, write_twin


def sync_badge(nb, path, config):
    """Put the chapter's Colab badge under its title (the first cell); return whether the cell changed."""
    title = nb.cells[0]
    if title.cell_type != "markdown":
        raise SystemExit(f"{path}: the first cell must be the markdown title cell")
    wanted = with_badge(title.source, colab_url(config, f"chapters/{Path(path).name}"))
    changed = title.source != wanted
    title.source = wanted
    return changed


def take_cells_from_twin(nb, path):
    """`make sync FROM=md`: the twin's cells replace the notebook's; return whether anything changed."""
    twin = twin_path(path)
    if not twin.exists():
        raise SystemExit(f"{twin} is missing: run `make sync` to write it from the notebook")
    before = [(cell.cell_type, cell.source, dict(cell.metadata)) for cell in nb.cells]
    stale = cells_from_twin(nb, twin.read_text())
    if stale:
        print(f"{path.name}: {stale} code cell(s) edited in the twin lost their outputs: run `make outputs`")
    return before != [(cell.cell_type, cell.source, dict(cell.metadata)) for cell in nb.cells]


def sync(path, config=None, from_twin=False):
    config = read_config() if config is None else config
    nb = nbformat.read(path, as_version=4)
    changed = take_cells_from_twin(nb, Path(path)) if from_twin else False
    changed |= sync_badge(nb, path, config)
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    if not code_cells:
        raise SystemExit(f"{path}: no code cell to hold the setup cell")
    setup = code_cells[0]
    changed |= setup.source != setup_source() or dict(setup.metadata) != SETUP_METADATA
    setup.source, setup.metadata = setup_source(), nbformat.from_dict(SETUP_METADATA)

    wanted = helpers_source(path)
    helpers = [cell for cell in code_cells if "helpers" in cell.metadata.get("tags", [])]
    if wanted is not None:
        if not helpers:
            cell = nbformat.v4.new_code_cell(wanted, metadata=HELPERS_METADATA)
            nb.cells.insert(nb.cells.index(setup) + 1, cell)
            changed = True
        else:
            cell = helpers[0]
            changed |= cell.source != wanted or dict(cell.metadata) != HELPERS_METADATA
            cell.source, cell.metadata = wanted, nbformat.from_dict(HELPERS_METADATA)
    if changed:
        nbformat.write(nb, path)
    write_twin(nb, path)
    return changed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-md", action="store_true", help="take each notebook's cells from its .md twin first")
    args = parser.parse_args()
    config = read_config()
    for notebook in chapter_notebooks():
        if sync(notebook, config, from_twin=args.from_md):
            name = notebook.relative_to(notebook.parents[1])
            print(f"synced {name} (if a code cell changed, `make outputs` refreshes its outputs)")
