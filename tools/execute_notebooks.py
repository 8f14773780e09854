"""Re-execute chapter notebooks in fresh kernels and store their outputs (`make outputs`, `make outputs CHAPTER=01`).

Each notebook runs top to bottom in a new kernel, with the working directory set to chapters/, so execution counts
are 1, 2, 3, ... in order. The result goes to a temporary file that replaces the notebook only if every cell ran
(cells tagged `raises-exception` may raise; that is what they show). Metadata is reduced to what the book needs.
Consecutive prints of a cell are stored as one stream output, so re-running an unchanged chapter leaves its file
unchanged (apart from widget model ids). Prints each chapter's wall time and the kernel's peak memory (the budgets
in BOOK_DESIGN.md section 9).
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from book_cells import CHAPTERS, chapter_notebooks  # noqa: E402

NOTEBOOK_METADATA = {
    # What Colab itself saves for its current TPU runtime (v5e-1), so "Open in Colab" starts on a TPU.
    "accelerator": "TPU",
    "colab": {"gpuType": "V5E1"},
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python", "pygments_lexer": "ipython3"},
}
CELL_METADATA_KEPT = ("tags", "cellView")


def peak_rss_mib(pid):
    """Peak resident memory of a live process (Linux), in MiB; None where /proc is not available."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def execute(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    # coalesce_streams: a cell's prints are stored as one stream output per stream, as nbval compares them, however
    # the kernel's flushes happened to split them; otherwise a re-run of an unchanged chapter produces a diff.
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        record_timing=False,
        coalesce_streams=True,
        resources={"metadata": {"path": str(CHAPTERS)}},
    )
    start = time.perf_counter()
    with client.setup_kernel():
        pid = client.km.provisioner.pid
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        peak = peak_rss_mib(pid)
    seconds = time.perf_counter() - start

    nb.metadata = nbformat.from_dict(NOTEBOOK_METADATA)
    for cell in nb.cells:
        kept = {key: cell.metadata[key] for key in CELL_METADATA_KEPT if key in cell.metadata}
        cell.metadata = nbformat.from_dict(kept)
    nbformat.validate(nb)
    handle, temporary = tempfile.mkstemp(suffix=".ipynb", dir=path.parent)
    with os.fdopen(handle, "w") as out:
        nbformat.write(nb, out)
    os.replace(temporary, path)  # only now: a failed run above leaves the notebook untouched
    memory = f", kernel peak {peak:.0f} MiB" if peak else ""
    print(f"{path.name}: {seconds:.1f} s{memory}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapter", nargs="?", default="", help="chapter number such as 01; default: all chapters")
    args = parser.parse_args()
    notebooks = [nb for nb in chapter_notebooks() if nb.name.startswith(args.chapter)]
    if not notebooks:
        sys.exit(f"no chapter notebook matches {args.chapter!r} in {CHAPTERS}")
    for notebook in notebooks:
        execute(notebook)


if __name__ == "__main__":
    main()
