# @title Exercise checkers (run me)
# Generated from tools/cells/checks_core.py, the shared pieces in tools/cells/pieces/ that this chapter's
# tools/cells/checks_NN.py names, and that file itself, by `make sync`.
# Each check_* function runs your answer on fresh random inputs and prints one line:
# ✓ correct, ○ not done yet, or ✗ and what is wrong.
import jax
import jax.numpy as jnp  # noqa: F401  (used by the chapter checks appended below)
import numpy as np


class NotYet(Exception):
    """The exercise still has its `raise NotImplementedError` stub."""


class Wrong(Exception):
    """The answer is wrong; the message says how, in words meant for the reader."""


def first_line(exc):
    """`TypeError: first line of the message`, short enough for one printed line."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}".strip()
    return text if len(text) <= 160 else text[:157] + "..."


def call_answer(fn, *args, **kwargs):
    """Call the reader's function; a crash becomes a Wrong that names the error."""
    if not callable(fn):
        raise Wrong(f"expected a function, got {type(fn).__name__}")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise NotYet() from None
    except Exception as exc:  # the reader's bug, whatever it is, becomes one line
        raise Wrong(f"your function raised {first_line(exc)}") from None


def call_jitted(fn, *args, static_argnums=()):
    """Run the answer under jax.jit: an answer that only works eagerly is not done.

    If it fails under jit, an eager call says whether the bug is jit-specific: one that fails eagerly too is
    reported as the reader's own error (call_answer), not as a jit problem.
    """
    try:
        return jax.jit(fn, static_argnums=static_argnums)(*args)
    except NotImplementedError:
        raise NotYet() from None
    except jax.errors.TracerArrayConversionError:
        call_answer(fn, *args)
        raise Wrong("it converts a traced array to NumPy (np.* or np.asarray) under jax.jit; use jnp instead") from None
    except Exception as exc:
        call_answer(fn, *args)
        raise Wrong(f"it fails under jax.jit ({first_line(exc)}); avoid Python control flow on array values") from None


def expect_array(value, shape, dtype, what="the result"):
    """The value is an array of this shape and dtype, with no NaN or infinity."""
    if value is None:
        raise Wrong(f"{what} is None: did you forget to `return` it?")
    if not hasattr(value, "shape") or not hasattr(value, "dtype"):
        raise Wrong(f"{what} should be an array, got {type(value).__name__}")
    if tuple(value.shape) != tuple(shape):
        raise Wrong(f"{what} has shape {tuple(value.shape)}, expected {tuple(shape)}")
    if value.dtype != dtype:
        raise Wrong(f"{what} has dtype {value.dtype}, expected {np.dtype(dtype)}")
    if not np.all(np.isfinite(np.asarray(value))):
        raise Wrong(f"{what} contains NaN or infinity")


def expect_close(value, reference, what="the result", rtol=1e-5, atol=1e-5):
    """Values agree with the reference to float32 accuracy."""
    if not np.allclose(np.asarray(value), np.asarray(reference), rtol=rtol, atol=atol):
        raise Wrong(f"{what} has the right shape but wrong values")


def expect_same(first, second, message):
    """Two calls with the same inputs gave the same output (a pure function always does)."""
    if not np.array_equal(np.asarray(first), np.asarray(second)):
        raise Wrong(message)


def report(name, check, *args):
    """Run one check and print exactly one line; never raise, so the notebook keeps going."""
    try:
        check(*args)
    except NotYet:
        print(f"○ {name}: not done yet (replace `raise NotImplementedError`)")
    except Wrong as wrong:
        print(f"✗ {name}: {wrong}")
    except Exception as exc:  # a bug in the checker must not stop the reader either
        print(f"✗ {name}: the checker could not finish ({first_line(exc)})")
    else:
        print(f"✓ {name}: correct, all checks passed")
