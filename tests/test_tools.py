"""The maintenance tools: interpreter discovery and the notebook executor's all-or-nothing write."""

import os
import subprocess
import sys

import nbformat
import pytest
from conftest import ROOT
from execute_notebooks import execute

FIND_PYTHON = ROOT / "tools" / "find_python.sh"


def find_python(env):
    return subprocess.run(["bash", str(FIND_PYTHON)], env=env, capture_output=True, text=True)


def test_find_python_returns_a_python_312_or_newer():
    result = find_python(os.environ.copy())
    assert result.returncode == 0, result.stderr
    version = subprocess.run(
        [result.stdout.strip(), "-c", "import sys; print(sys.version_info >= (3, 12))"], capture_output=True, text=True
    )
    assert version.stdout.strip() == "True"


def test_find_python_explains_in_one_line_when_there_is_none(tmp_path):
    old = tmp_path / "bin"
    old.mkdir()
    fake = old / "python3"
    fake.write_text("#!/bin/sh\nexit 1\n")  # answers, but is not a usable Python >= 3.12
    fake.chmod(0o755)
    env = {"PATH": f"{old}:/usr/bin:/bin", "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path / "no-pyenv")}
    if (
        subprocess.run(
            ["sh", "-c", "command -v python3.12 || command -v python3.13"], env=env, capture_output=True
        ).returncode
        == 0
    ):
        pytest.skip("this machine has a system Python >= 3.12 in /usr/bin")
    result = find_python(env)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Python >= 3.12" in lines[0] and "BOOK_PYTHON" in lines[0]


def test_find_python_honours_book_python():
    env = {**os.environ, "BOOK_PYTHON": sys.executable}
    assert find_python(env).stdout.strip() == sys.executable


def notebook(*sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    return nb


def test_failed_run_leaves_the_notebook_untouched(tmp_path):
    path = tmp_path / "99_broken.ipynb"
    nbformat.write(notebook("print('fine')", "1 / 0"), path)
    before = path.read_bytes()
    with pytest.raises(Exception, match="ZeroDivisionError"):
        execute(path)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path], "no temporary file may be left behind"


def test_successful_run_numbers_cells_and_keeps_only_book_metadata(tmp_path):
    path = tmp_path / "99_fine.ipynb"
    nb = notebook("print('a')", "1 / 0", "print('c')")
    nb.cells[1].metadata["tags"] = ["raises-exception"]
    nb.metadata["widgets"] = {"state": {}}
    nbformat.write(nb, path)
    execute(path)
    done = nbformat.read(path, as_version=4)
    assert [cell.execution_count for cell in done.cells] == [1, 2, 3]
    assert done.cells[1].outputs[0].output_type == "error"
    assert set(done.metadata) == {"accelerator", "colab", "kernelspec", "language_info"}
    assert done.metadata["colab"] == {"gpuType": "V5E1"}


def test_a_rerun_of_an_unchanged_notebook_leaves_the_file_unchanged(tmp_path):
    """Prints split across flushes (a sleep between them) are stored as one stream output: runs agree byte for byte."""
    path = tmp_path / "99_streams.ipynb"
    source = (
        "import sys, time\n"
        "for i in range(3):\n    print(i, flush=True)\n    time.sleep(0.2)\n"
        "print('err', file=sys.stderr)"
    )
    nbformat.write(notebook(source, "print('a'); print('b')"), path)
    execute(path)
    first = path.read_bytes()
    outputs = nbformat.read(path, as_version=4).cells[0].outputs
    assert [(out.name, out.text) for out in outputs] == [("stdout", "0\n1\n2\n"), ("stderr", "err\n")]
    execute(path)
    assert path.read_bytes() == first
