"""Each shared checker piece (tools/cells/pieces/) against an independent computation, once for every chapter."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from book_cells import CELLS, CHAPTERS, PIECES, pieces_needed
from jax import lax


def load_pieces():
    """checks_core.py and every piece, in the order a helpers cell holds them."""
    namespace = {}
    order = pieces_needed("# pieces: " + ", ".join(sorted(path.stem for path in PIECES.glob("*.py"))))
    for path in [CELLS / "checks_core.py", *(PIECES / f"{name}.py" for name in order)]:
        exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace


P = load_pieces()
RNG = np.random.default_rng(0)


# --- reference64 --------------------------------------------------------------------------------------------------


def test_as64():
    out = P["_as64"](jnp.arange(3, dtype=jnp.float32))
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax64(axis):
    scores = RNG.normal(size=(5, 7)) * 3
    expected = jax.nn.softmax(jnp.asarray(scores, jnp.float32), axis=axis)
    out = P["_softmax64"](scores, axis=axis)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out.sum(axis=axis), 1.0, rtol=1e-12)


def test_softmax64_large_scores():
    out = P["_softmax64"](np.array([[1000.0, 1000.0], [-1000.0, 0.0]]))  # exp(1000) overflows unless shifted
    np.testing.assert_allclose(out, [[0.5, 0.5], [0.0, 1.0]])


@pytest.mark.parametrize(("scale", "axis"), [(None, -1), (1.0, -1), (None, 0)])
def test_attention64(scale, axis):
    q, k, v = (RNG.normal(size=shape) for shape in ((6, 4), (9, 4), (9, 3)))
    divisor = np.sqrt(4) if scale is None else scale
    scores = jnp.asarray(q @ k.T / divisor, jnp.float32)
    expected = jax.nn.softmax(scores, axis=axis) @ jnp.asarray(v, jnp.float32)
    np.testing.assert_allclose(P["_attention64"](q, k, v, scale=scale, axis=axis), expected, rtol=1e-5, atol=1e-6)


def test_attention64_matches_jax_dot_product_attention():
    q, k, v = (RNG.normal(size=shape).astype(np.float32) for shape in ((6, 8), (9, 8), (9, 8)))
    expected = jax.nn.dot_product_attention(q[None, :, None], k[None, :, None], v[None, :, None])[0, :, 0]
    np.testing.assert_allclose(P["_attention64"](q, k, v), expected, rtol=1e-5, atol=1e-5)


# --- fit ----------------------------------------------------------------------------------------------------------


def test_fitted_scale_and_scale_and_shift():
    ref = RNG.normal(size=(4, 5))
    assert P["_fitted_scale"](2.5 * ref, ref) == pytest.approx(2.5)
    scale, shift = P["_scale_and_shift"](1.5 * ref + 0.25, ref)
    assert (scale, shift) == (pytest.approx(1.5), pytest.approx(0.25))
    assert P["_fitted_scale"](ref, np.zeros_like(ref)) == 0.0  # no division by zero


def test_relative_error():
    ref = np.array([1.0, -4.0, 2.0])
    assert P["_relative_error"](np.array([1.0, -4.0, 2.5]), ref) == pytest.approx(0.5 / 4)
    assert P["_relative_error"](jnp.asarray(ref, jnp.float32), ref) == 0.0


# --- gradients ----------------------------------------------------------------------------------------------------


LIMITS = {"max_relative": 0.03, "max_scale": 4e-3, "max_each_scale": 6e-3}


def expect(outs, refs, **options):
    """The Wrong message of _expect_gradients_close, or None if it accepts."""
    try:
        P["_expect_gradients_close"](outs, refs, [f"r{i}" for i in range(len(refs))], **{**LIMITS, **options})
    except P["Wrong"] as wrong:
        return str(wrong)
    return None


def test_expect_gradients_close():
    refs = [RNG.normal(size=(6, 5)), RNG.normal(size=(1,))]
    assert expect([jnp.asarray(r, jnp.float32) for r in refs], refs) is None
    assert "r0 is scaled by 1.0100" in expect([refs[0] * 1.01, refs[1]], refs)
    assert "r1 is scaled by 1.0100" in expect([refs[0], refs[1] * 1.01], refs)  # one entry: a scale fit only
    assert "off by 10%" in expect(
        [refs[0] + 0.1 * np.abs(refs[0]).max() * (np.arange(30) == 3).reshape(6, 5), refs[1]], refs
    )
    shifted = [refs[0] + 0.01, refs[1]]
    assert expect(shifted, refs) is None  # a shift is only checked when asked for
    assert "r0 is shifted by +0.0100" in expect(shifted, refs, max_shift=1e-3)
    everything = [r * 1.005 for r in refs]  # within each result's limit, not within the overall one
    assert "the results are scaled by 1.0050" in expect(everything, refs, max_scale=4e-3, max_each_scale=6e-3)


def test_expect_gradients_close_diagnose_runs_first():
    refs = [RNG.normal(size=(6, 5))]
    seen = []

    def diagnose(out, ref, name):
        seen.append((out.dtype, name))
        raise P["Wrong"](f"{name}: a known bug")

    assert expect([refs[0] * 8], refs, diagnose=diagnose) == "r0: a known bug"
    assert seen == [(np.float64, "r0")]


# --- mlp and learning_rate ----------------------------------------------------------------------------------------


def jax_mlp_loss(params, x, y):
    pred = jnp.tanh(x @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]
    return jnp.mean((pred - y) ** 2)


@pytest.mark.parametrize("broadcast", [False, True])
def test_mlp_reference_matches_jax_grad(broadcast):
    params, x, y = P["_random_mlp"](np.random.default_rng(1))
    y_used = y.reshape(-1) if broadcast else y  # (batch,) against (batch, 1): the broadcast bug
    loss, grads = jax.value_and_grad(jax_mlp_loss)(params, x, y_used)
    ref_loss, ref_grads = P["_mlp_reference"](params, x, y, broadcast=broadcast)
    assert ref_loss == pytest.approx(float(loss), rel=1e-5)
    for name in params:
        np.testing.assert_allclose(ref_grads[name], grads[name], rtol=1e-4, atol=1e-5)


def test_random_mlp_shapes():
    rng = np.random.default_rng(2)
    for _ in range(20):
        params, x, y = P["_random_mlp"](rng)
        batch, d_in = x.shape
        h = params["w1"].shape[1]
        assert 32 <= batch < 48 and 6 <= d_in < 10 and 16 <= h < 24
        shapes = {name: value.shape for name, value in params.items()}
        assert shapes == {"w1": (d_in, h), "b1": (h,), "w2": (h, 1), "b2": (1,)} and y.shape == (batch, 1)
        assert all(value.dtype == jnp.float32 for value in (*params.values(), x, y))
    _, x, y = P["_random_mlp"](rng, batch=40)
    assert x.shape[0] == y.shape[0] == 40


def test_learning_rate_is_the_chapters():
    """The checkers' LEARNING_RATE is the one chapters 4, 5 and 6 define for their training exercises."""
    for pattern in ("04_*.ipynb", "05_*.ipynb", "06_*.ipynb"):
        text = next(CHAPTERS.glob(pattern)).read_text()
        assert set(re.findall(r"(?<![\w])LEARNING_RATE = ([0-9.e-]+)", text)) == {repr(P["_LEARNING_RATE"])}, pattern


# --- jaxprs -------------------------------------------------------------------------------------------------------


def test_primitives_looks_inside_sub_jaxprs():
    inner = jax.jit(lambda x: jnp.sin(x))

    def f(x):
        def body(carry, _):
            return jnp.cos(carry), None

        out, _ = lax.scan(body, x, length=3)
        return inner(out) + lax.cond(x.sum() > 0, jnp.exp, jnp.log1p, x)

    jaxpr = jax.make_jaxpr(f)(jnp.ones(2)).jaxpr
    top = {eqn.primitive.name for eqn in jaxpr.eqns}
    assert "sin" not in top and "cos" not in top  # the walk must find them itself
    assert {"scan", "cos", "sin", "cond", "exp", "log1p", "add"} <= P["_primitives"](jaxpr)
    holders = [eqn for eqn in jaxpr.eqns if list(P["_sub_jaxprs"](eqn))]
    assert {eqn.primitive.name for eqn in holders} >= {"scan", "cond"}
    assert len(list(P["_sub_jaxprs"](next(e for e in jaxpr.eqns if e.primitive.name == "cond")))) == 2


# --- mesh ---------------------------------------------------------------------------------------------------------


def test_mesh():
    devices = P["_devices8"]()
    assert len(devices) == 8 and len({d.id for d in devices}) == 8
    mesh = P["_mesh"]()
    assert dict(mesh.shape) == {"data": 4, "model": 2}
    assert mesh.axis_types == (jax.sharding.AxisType.Auto,) * 2
    flat = P["_mesh"]((8,), ("i",), auto=False)
    assert dict(flat.shape) == {"i": 8} and flat.axis_types == (jax.sharding.AxisType.Explicit,)
    assert sorted(d.id for d in flat.devices.flat) == sorted(d.id for d in devices)
