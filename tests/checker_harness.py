"""What every chapter's checker tests share: load a chapter's checkers cell, run a checker, read its one line.

A checker must print exactly one line and never raise (the reader's notebook keeps running); `verdict` asserts the
first, and a raise fails the test that called it.
"""

import contextlib

import jax
import jax.numpy as jnp
from book_cells import CHAPTERS, helpers_source
from jax import lax


def load_checkers(chapter_file):
    """The namespace of a chapter's helpers cell (checks_core.py + checks_NN.py), as the notebook runs it."""
    namespace = {}
    exec(compile(helpers_source(CHAPTERS / chapter_file), chapter_file, "exec"), namespace)
    return namespace


def verdict(capsys, checker, answer):
    """The one line the checker prints for this answer."""
    checker(answer)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, f"a checker prints exactly one line, got {lines}"
    return lines[0]


def stub(*args):
    """The unfinished exercise, as the notebook's stub cell leaves it."""
    raise NotImplementedError


def assert_rejects(capsys, checker, answer, *expected_words):
    """The checker says ✗ (not that it crashed), and its line names what is wrong (every expected word appears)."""
    line = verdict(capsys, checker, answer)
    assert line.startswith("✗"), line
    assert "could not finish" not in line, line  # a crashing checker is no rejection
    for word in expected_words:
        assert word in line, line


def bf16(a):
    """a with every entry rounded to bfloat16, kept as float32: what a TPU multiplies in a float32 matmul."""
    return jnp.asarray(a, jnp.bfloat16).astype(jnp.float32)


@contextlib.contextmanager
def bfloat16_matmuls():
    """Inside: every float32 matmul at default precision (forward and backward, eager and under jit) rounds its
    operands to bfloat16, as a TPU does; the same rule as tools/kernel_hooks/bfloat16_matmul.py, but undone on exit
    (and JAX's caches cleared on entry and exit, so no trace crosses its boundary)."""
    original = lax.dot_general_p.bind

    def bind_bf16(lhs, rhs, **params):
        if lhs.dtype == jnp.float32 and rhs.dtype == jnp.float32 and params.get("precision") is None:
            lhs = lax.reduce_precision(lhs, exponent_bits=8, mantissa_bits=7)
            rhs = lax.reduce_precision(rhs, exponent_bits=8, mantissa_bits=7)
        return original(lhs, rhs, **params)

    jax.clear_caches()  # or a trace made before (jnp.matmul is itself jitted) would skip the rounding
    lax.dot_general_p.bind = bind_bf16
    try:
        yield
    finally:
        del lax.dot_general_p.bind  # back to the class's own bind, not a shadowing copy
        jax.clear_caches()


def fresh(fn):
    """A new function object, so jit traces it again (under bfloat16_matmuls, say)."""
    return lambda *args: fn(*args)
