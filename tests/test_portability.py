"""The perturbations of `make test-portability` (tools/portability.py) really reach the kernels nbval starts.

A probe notebook, run through the same `run_pass` as the chapters, stores the outputs a perturbed kernel must
produce: one core, the fresh HOME, the copied notebook's folder as working directory, jax's deprecation warnings
raised as errors (while a cell that records warnings on purpose still records them), and the simulated bfloat16
matmuls loaded. If a perturbation did not reach the kernel, nbval reports the differing output. This is the cheap
part that `make test` runs; the chapters themselves go through `make test-portability` (nightly in CI).
"""

import subprocess
import sys

from nbformat import write
from nbformat.v4 import new_code_cell, new_notebook, new_output
from portability import KERNEL_HOOKS, nbval_command, perturbed_env, run_pass


def probe_notebook(path, cells):
    """A notebook whose code cells ran in order and printed the given stdout."""
    code = []
    for count, (source, printed) in enumerate(cells, start=1):
        code.append(
            new_code_cell(source, execution_count=count, outputs=[new_output("stream", name="stdout", text=printed)])
        )
    nb = new_notebook(cells=code)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    with open(path, "w") as out:
        write(nb, out)
    return path


def test_perturbations_reach_the_kernel(tmp_path):
    home, workdir, source_dir = tmp_path / "home", tmp_path / "workdir", tmp_path / "source"
    for folder in (home, workdir, source_dir):
        folder.mkdir()
    probe = probe_notebook(
        source_dir / "probe.ipynb",
        [
            ("import os\nprint(len(os.sched_getaffinity(0)))", "1\n"),
            (f"print(os.path.expanduser('~') == {str(home)!r})", "True\n"),
            (f"print(os.getcwd() == {str(workdir)!r})", "True\n"),
            (
                "import jax.experimental.shard_map as legacy\n"
                "try:\n    legacy.shard_map\nexcept DeprecationWarning as error:\n    print('raised:', error)",
                "raised: jax.experimental.shard_map is deprecated in v0.8.0. Used jax.shard_map instead.\n",
            ),
            (
                "import jax.numpy as jnp\n"
                "try:\n    jnp.zeros(3, jnp.int32).at[0].set(1.5)\nexcept FutureWarning:\n    print('raised')",
                "raised\n",
            ),
            (
                "import warnings\nwith warnings.catch_warnings(record=True) as caught:\n"
                "    warnings.simplefilter('always')\n    legacy.shard_map\n"
                "print([w.category.__name__ for w in caught])",
                "['DeprecationWarning']\n",
            ),
            ("import jax\nprint(getattr(jax, 'bfloat16_matmul_simulated', False))", "True\n"),
        ],
    )
    assert run_pass([probe], workdir, home) == 0


def test_a_notebook_warning_of_its_own_stays_a_warning(tmp_path):
    """Only warnings issued by jax, jaxlib or optax become errors: the kernel starts and a cell's own warning passes."""
    script = "import warnings\nwarnings.warn('mine', DeprecationWarning)\nprint('still running')"
    run = subprocess.run(
        [sys.executable, "-c", script], env=perturbed_env(tmp_path), capture_output=True, text=True, cwd=tmp_path
    )
    assert run.returncode == 0 and run.stdout == "still running\n", run.stderr
    assert (KERNEL_HOOKS / "sitecustomize.py").exists()


def test_nbval_command_is_serial_and_uses_this_venv():
    command = nbval_command(["a.ipynb"])
    assert command[0] == sys.executable and "no:xdist" in command and "--nbval-current-env" in command
    assert command[-1] == "a.ipynb"
