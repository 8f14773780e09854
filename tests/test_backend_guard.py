"""The backend guard: a regression run asked for gpu or tpu fails at once, with a clear message, on any other backend.

The guard is the last statement of the canonical setup cell (tools/cells/setup.py): with BOOK_BACKEND set, JAX's
default backend must be that one. This machine has no accelerator, so asking for gpu or tpu must fail here, and
asking for cpu must pass. The last test runs the setup cell through nbval, as the GPU and TPU workflows do, to show
that BOOK_BACKEND reaches the kernels nbval starts.
"""

import os
import subprocess
import sys

import pytest
from book_cells import setup_source
from nbformat import write
from nbformat.v4 import new_code_cell, new_notebook


def run_setup_cell(tmp_path, backend):
    script = tmp_path / "setup_cell.py"
    script.write_text(setup_source())
    env = {key: value for key, value in os.environ.items() if not key.startswith(("COLAB_", "TPU_", "BOOK_BACKEND"))}
    env["BOOK_BACKEND"] = backend
    return subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, cwd=tmp_path)


@pytest.mark.parametrize("backend", ["gpu", "tpu"])
def test_asking_for_an_accelerator_on_cpu_fails_clearly(tmp_path, backend):
    run = run_setup_cell(tmp_path, backend)
    assert run.returncode != 0
    assert f"RuntimeError: BOOK_BACKEND={backend} but JAX runs on 'cpu'" in run.stderr, run.stderr


def test_asking_for_cpu_on_cpu_passes(tmp_path):
    run = run_setup_cell(tmp_path, "cpu")
    assert run.returncode == 0, run.stderr
    assert run.stdout == "", "the setup cell prints nothing outside Colab"


def test_the_guard_fires_inside_nbval_kernels(tmp_path):
    nb = new_notebook(cells=[new_code_cell(setup_source())])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    with open(tmp_path / "guard.ipynb", "w") as out:
        write(nb, out)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}  # not the outer run's
    env["BOOK_BACKEND"] = "gpu"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "--nbval"]
    command += ["--nbval-current-env", "--color=no", "--rootdir", str(tmp_path), "guard.ipynb"]
    run = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 1, run.stdout
    assert "BOOK_BACKEND=gpu but JAX runs on 'cpu'" in run.stdout, run.stdout
