"""Chapter 9's exercise checkers, fed right answers (in two styles or more), the unfinished stub and wrong answers.

A checker must print exactly one line, must never raise, must accept a correct answer and must reject every wrong
one, including slightly-off answers (ranks off by one, a check that lets a tiny negative through, a deleted array
counted). bytes_on runs on the 8 virtual CPU devices tests/conftest.py asks for.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from checker_harness import assert_rejects, load_checkers, stub, verdict
from jax.experimental import checkify

CH09 = load_checkers("09_practice.ipynb")


# --- on_host -----------------------------------------------------------------------------------------------------


def on_host_with(method="expand_dims", dtype=jnp.int32, shape=None, plus=0, cast=None):
    def on_host(host_fn):
        def host(x):
            out = host_fn(x) + plus
            return out if cast is None else out.astype(cast)

        def rank(x):
            out = jax.ShapeDtypeStruct(x.shape if shape is None else shape(x), dtype)
            kwargs = {} if method is None else {"vmap_method": method}
            return jax.pure_callback(host, out, x, **kwargs)

        return rank

    return on_host


def on_host_cast_after(host_fn):
    """Another style: a float32 callback, cast back to int32 on the device."""

    def rank(x):
        spec = jax.ShapeDtypeStruct(x.shape, np.float32)
        out = jax.pure_callback(lambda v: np.asarray(host_fn(v), np.float32), spec, x, vmap_method="broadcast_all")
        return out.astype(jnp.int32)

    return rank


def on_host_direct(host_fn):
    return lambda x: jnp.asarray(host_fn(x))  # no callback: a tracer reaches NumPy


def on_host_in_jnp(host_fn):
    return lambda x: jnp.argsort(jnp.argsort(x, axis=-1), axis=-1).astype(jnp.int32)  # never calls host_fn


def test_on_host_accepts_correct_answers(capsys):
    assert verdict(capsys, CH09["check_on_host"], on_host_with()).startswith("✓")
    assert verdict(capsys, CH09["check_on_host"], on_host_with("broadcast_all")).startswith("✓")
    assert verdict(capsys, CH09["check_on_host"], on_host_with(dtype=np.int32)).startswith("✓")
    assert verdict(capsys, CH09["check_on_host"], on_host_cast_after).startswith("✓")
    assert verdict(capsys, CH09["check_on_host"], stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (on_host_with(plus=1), ["off by one"]),  # slightly off
        (on_host_with(method=None), ["vmap_method"]),
        (on_host_with(method="sequential"), ["called", "not once"]),
        (on_host_with(dtype=jnp.float32), ["dtype", "int32"]),
        (on_host_with(dtype=jnp.float32, cast=np.float32), ["dtype", "int32"]),  # a float32 result
        (on_host_with(shape=lambda x: x.shape[:-1]), ["shape"]),
        (on_host_direct, ["jax.pure_callback"]),
        (on_host_in_jnp, ["never called"]),
        (lambda host_fn: 42, ["function"]),
    ],
)
def test_on_host_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH09["check_on_host"], answer, *words)


# --- checked_sqrt ------------------------------------------------------------------------------------------------


def sqrt_checking(condition, message="negative input: {m}", value=lambda x: x.min()):
    def checked_sqrt(x):
        checkify.check(condition(x), message, m=value(x))
        return jnp.sqrt(x)

    return checked_sqrt


def sqrt_with_min_check(x):
    """Another style: the condition on the minimum, the whole array in the message."""
    checkify.check(x.min() >= 0.0, "x has negative entries: {x}", x=x)
    return x**0.5


def sqrt_python_if(x):
    if jnp.any(x < 0):
        raise ValueError("negative")
    return jnp.sqrt(x)


def test_checked_sqrt_accepts_correct_answers(capsys):
    assert verdict(capsys, CH09["check_checked_sqrt"], sqrt_checking(lambda x: jnp.all(x >= 0))).startswith("✓")
    assert verdict(capsys, CH09["check_checked_sqrt"], sqrt_with_min_check).startswith("✓")
    assert verdict(capsys, CH09["check_checked_sqrt"], stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (sqrt_checking(lambda x: jnp.all(x >= -1e-3)), ["slightly below 0"]),  # slightly off
        (sqrt_checking(lambda x: jnp.all(x > 0)), ["0 is allowed"]),  # the boundary rejected
        (sqrt_checking(lambda x: jnp.any(x >= 0)), ["no error"]),
        (sqrt_checking(lambda x: x[0] >= 0), ["no error"]),
        (sqrt_checking(lambda x: jnp.all(x >= 0), message="negative input"), ["smallest entry"]),
        (sqrt_checking(lambda x: jnp.all(x >= 0), value=lambda x: x.max()), ["smallest entry"]),
        (lambda x: jnp.sqrt(x), ["no error"]),
        (sqrt_python_if, ["checkify.check"]),
        (lambda x: jnp.sqrt(jnp.abs(x)) * 1.001, ["square root"]),
    ],
)
def test_checked_sqrt_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH09["check_checked_sqrt"], answer, *words)


# --- bytes_on ----------------------------------------------------------------------------------------------------


def bytes_by_shards(arrays, device):
    return sum(s.data.nbytes for a in arrays if not a.is_deleted() for s in a.addressable_shards if s.device == device)


def bytes_by_shape(arrays, device):
    """Another style: shard shapes from the sharding, times the item size."""
    total = 0
    for a in arrays:
        if a.is_deleted() or device not in a.devices():
            continue
        total += int(np.prod(a.sharding.shard_shape(a.shape))) * a.dtype.itemsize
    return total


def whole_arrays(arrays, device):
    return sum(a.nbytes for a in arrays if not a.is_deleted() and device in a.devices())


def counts_deleted(arrays, device):
    live = bytes_by_shards([a for a in arrays if not a.is_deleted()], device)
    return live + sum(a.nbytes for a in arrays if a.is_deleted() and device in a.sharding.device_set)


def test_bytes_on_accepts_correct_answers(capsys):
    assert verdict(capsys, CH09["check_bytes_on"], bytes_by_shards).startswith("✓")
    assert verdict(capsys, CH09["check_bytes_on"], bytes_by_shape).startswith("✓")
    assert verdict(capsys, CH09["check_bytes_on"], stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (counts_deleted, ["deleted"]),  # slightly off: one small array too many
        (whole_arrays, ["whole arrays"]),
        (lambda arrays, device: sum(a.nbytes // len(a.devices()) for a in arrays if not a.is_deleted()), ["expected"]),
        (lambda arrays, device: float(bytes_by_shards(arrays, device)), ["integer"]),
        (lambda arrays, device: bytes_by_shards(arrays, device) + 1, ["expected"]),
        (lambda arrays, device: sum(s.data.size for a in arrays for s in a.addressable_shards), ["RuntimeError"]),
        (lambda arrays, device: sum(a.size * 4 for a in arrays if not a.is_deleted()), ["expected"]),
    ],
)
def test_bytes_on_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH09["check_bytes_on"], answer, *words)
