"""Write the canonical setup and helpers cells into every chapter notebook (`make sync`).

The setup cell is the first code cell; the helpers cell is the code cell tagged `helpers` (inserted right after
the setup cell if missing). Only their source and metadata change; outputs are left for `make outputs`.
"""

import nbformat
from book_cells import HELPERS_METADATA, SETUP_METADATA, chapter_notebooks, helpers_source, setup_source


def sync(path):
    nb = nbformat.read(path, as_version=4)
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    if not code_cells:
        raise SystemExit(f"{path}: no code cell to hold the setup cell")
    setup = code_cells[0]
    changed = setup.source != setup_source() or dict(setup.metadata) != SETUP_METADATA
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
    return changed


if __name__ == "__main__":
    for notebook in chapter_notebooks():
        if sync(notebook):
            print(f"synced {notebook.relative_to(notebook.parents[1])} (run `make outputs` to refresh its outputs)")
