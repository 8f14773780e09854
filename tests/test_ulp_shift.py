"""The simulated accelerator transcendentals (tools/kernel_hooks/ulp_shift.py) catch a value on a rounding edge.

A planted notebook prints `jnp.exp(x)` for an x whose float32 exponential is 1.23444998..., within one ulp of the
4-decimal boundary 1.23445: the CPU prints 1.2344, and a GPU or TPU kernel a few ulps off could print 1.2345. Its
outputs are stored by a plain CPU run; nbval passes without the hook and fails with it shifted up, as
`make test-portability` runs it. The same value shown through a check (`np.isclose` with a tolerance far above a few
ulps) passes under both shifts. A direct probe checks what the hook promises: a shift of exactly 4 ulps, exact
values (exp(0), log(1), saturated tanh and logistic) left alone, bounded functions in range, grad and jit reached.
"""

import json
import subprocess
import sys

import pytest
from portability import ROOT, hooks_env
from test_accelerator_numerics import nbval_passes, planted  # the same planted-notebook harness

ON_THE_EDGE = """import jax.numpy as jnp
import numpy as np

np.set_printoptions(precision=4, suppress=True)
x = jnp.float32(0.2106255143880844)  # exp(x) = 1.23444998... in float32, just under 1.23445"""
RAW_VALUE = "print(np.asarray(jnp.exp(x)))"
CHECKED_VALUE = "print(np.isclose(jnp.exp(x), 1.23445, rtol=1e-5))"


def shifted_env(ulps):
    env = hooks_env(["ulp_shift"] if ulps else [])
    env["BOOK_ULP_SHIFT"] = str(ulps)
    return env


@pytest.fixture(scope="module")
def planted_notebooks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planted_ulps")
    raw = planted(folder / "raw_value.ipynb", ON_THE_EDGE, RAW_VALUE)
    checked = planted(folder / "checked_value.ipynb", ON_THE_EDGE, CHECKED_VALUE)
    assert "1.2344" in raw.read_text() and "True" in checked.read_text()
    return {"raw_value": raw, "checked_value": checked}


@pytest.mark.parametrize(
    ("ulps", "notebook", "should_pass"),
    [
        (0, "raw_value", True),
        (4, "raw_value", False),
        (0, "checked_value", True),
        (4, "checked_value", True),
        (-4, "checked_value", True),
    ],
)
def test_the_shift_catches_a_value_on_a_rounding_edge(planted_notebooks, ulps, notebook, should_pass):
    passed, report = nbval_passes(planted_notebooks[notebook], shifted_env(ulps))
    assert passed == should_pass, report


PROBE = """
import jax, jax.numpy as jnp, numpy as np
x = jnp.array([0.3, 1.0, 2.0], jnp.float32)
exact = np.exp(np.asarray(x, np.float64)).astype(np.float32)
moved = np.asarray(jnp.exp(x)).view(np.int32) - exact.view(np.int32)
grad = np.asarray(jax.grad(lambda v: jnp.exp(v).sum())(x)).view(np.int32) - exact.view(np.int32)
jitted = np.asarray(jax.jit(jnp.exp)(x)).view(np.int32) - exact.view(np.int32)
fixed = [float(jnp.exp(jnp.float32(0))), float(jnp.log(jnp.float32(1))), float(jnp.tanh(jnp.float32(30))),
         float(jax.nn.sigmoid(jnp.float32(100)))]
import json
print(json.dumps([moved.tolist(), grad.tolist(), jitted.tolist(), fixed, float(jnp.cos(jnp.float32(0))) <= 1.0]))
"""


@pytest.mark.parametrize("ulps", [4, -4])
def test_the_hook_moves_by_the_promised_ulps_and_keeps_exact_values(ulps):
    run = subprocess.run(
        [sys.executable, "-c", PROBE], env=shifted_env(ulps), capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert run.returncode == 0, run.stderr
    moved, grad, jitted, fixed, bounded = json.loads(run.stdout)
    # CPU's exp is itself within an ulp of the float64 one, so the shift lands within one of the promised ulps.
    assert all(abs(m - ulps) <= 1 for m in moved + grad + jitted), (moved, grad, jitted)
    assert fixed == [1.0, 0.0, 1.0, 1.0] and bounded
