"""The simulated accelerator numerics (tools/kernel_hooks/bfloat16_matmul.py) catch what a CPU run cannot see.

Two planted notebooks get their outputs stored by a normal CPU run (tools/execute_notebooks.py), then nbval checks
them with and without the hook, as `make test-portability` and `make test-accelerator-numerics` do:
- printing a raw float32 product (`print(x @ x)`, x a random 6x6 matrix) passes on CPU and fails under the hook,
  as it would on a TPU;
- printing `np.allclose` against a float64 NumPy reference, with a tolerance that holds for bfloat16 operands,
  passes under both.
"""

import subprocess
import sys

import nbformat
import pytest
from execute_notebooks import execute
from portability import ROOT, hooks_env, nbval_command

MAKE_X = """import jax
import numpy as np

x = jax.random.normal(jax.random.key(0), (6, 6))
reference = np.asarray(x, np.float64) @ np.asarray(x, np.float64)"""
RAW_PRODUCT = "print(x @ x)"
CHECKED_PRODUCT = "print(np.allclose(x @ x, reference, rtol=2e-2, atol=1e-1))"


def planted(path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nb, path)
    execute(path)  # stores the outputs of a plain CPU run
    return path


def nbval_passes(notebook, env):
    """Whether nbval, run as the portability tools run it, finds the stored outputs reproduced; and its report."""
    command = nbval_command([notebook.name])
    run = subprocess.run(command, cwd=notebook.parent, env=env, capture_output=True, text=True, timeout=300)
    return run.returncode == 0, run.stdout[-3000:]


@pytest.fixture(scope="module")
def planted_notebooks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planted")
    raw = planted(folder / "raw_product.ipynb", MAKE_X, RAW_PRODUCT)
    checked = planted(folder / "checked_product.ipynb", MAKE_X, CHECKED_PRODUCT)
    assert '"name": "stdout"' in raw.read_text() and "True" in checked.read_text()
    return {"raw_product": raw, "checked_product": checked}


@pytest.mark.parametrize(
    ("hooks", "notebook", "should_pass"),
    [
        ([], "raw_product", True),
        ([], "checked_product", True),
        (["bfloat16_matmul"], "raw_product", False),
        (["bfloat16_matmul"], "checked_product", True),
    ],
)
def test_planted_notebooks(planted_notebooks, hooks, notebook, should_pass):
    passed, report = nbval_passes(planted_notebooks[notebook], hooks_env(hooks))
    assert passed == should_pass, report


def hooked_python(code):
    """Run code in a fresh Python with the hook loaded (never in this process: the hook patches JAX globally)."""
    run = subprocess.run(
        [sys.executable, "-c", code], env=hooks_env(["bfloat16_matmul"]), capture_output=True, text=True, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


def test_the_hook_rounds_every_route_to_a_default_precision_float32_product():
    code = """
import jax, jax.numpy as jnp, numpy as np
x = jnp.float32(1 + 2**-10) * jnp.ones((2, 2))        # 1 + 2**-10 is not a bfloat16: it rounds to 1
exact = np.float64(1 + 2**-10) ** 2 * 2                 # every entry of x @ x in exact arithmetic
routes = {
    "matmul": x @ x,
    "einsum": jnp.einsum("ij,jk->ik", x, x),
    "jit": jax.jit(jnp.dot)(x, x),
    "vmap": jax.vmap(jnp.dot)(x, x),
    "grad": jax.grad(lambda a: (a @ x).sum())(x),
    "highest": jnp.dot(x, x, precision="highest"),
    "int32": jnp.ones((2, 2), jnp.int32) @ jnp.ones((2, 2), jnp.int32),
}
for name, value in routes.items():
    print(name, float(np.asarray(value).ravel()[0]))
print("exact", exact)
"""
    words = hooked_python(code)
    values = dict(zip(words[::2], words[1::2], strict=True))
    for route in ("matmul", "einsum", "jit", "vmap", "grad"):
        assert float(values[route]) == 2.0, (route, values)  # operands rounded to 1.0 before the product
    assert float(values["highest"]) == pytest.approx(float(values["exact"]), rel=1e-6)  # explicit precision kept
    assert float(values["int32"]) == 2.0
