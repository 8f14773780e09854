"""Chapter 2's exercise checkers, fed the reference answer, the unfinished stub and at least five wrong answers each.

A checker must print exactly one line, must never raise (the reader's notebook keeps running), must accept a
correct answer (including one computed from bfloat16-rounded operands, as a TPU does) and must reject every wrong
one, including answers that are only slightly off.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from checker_harness import assert_rejects, bf16, load_checkers, stub, verdict

CH02 = load_checkers("02_jit.ipynb")


# --- jit_attention ----------------------------------------------------------------------------------------------


def attention(q, k, v, scale=True, axis=-1):
    scores = q @ k.T
    if scale:
        scores = scores / jnp.sqrt(q.shape[-1])
    return jax.nn.softmax(scores, axis=axis) @ v


def attention_divided_by(q, k, v, offset=0, factor=1.0):
    """Scores divided by factor·√(d + offset) instead of √d: a wrong softmax temperature."""
    scores = q @ k.T / (factor * jnp.sqrt(q.shape[-1] + offset))
    return jax.nn.softmax(scores, axis=-1) @ v


attention_ok = jax.jit(attention)


@jax.jit
def attention_bf16_operands(q, k, v):
    """What a TPU computes at default precision: every matmul operand rounded to bfloat16."""
    scores = bf16(q) @ bf16(k).T / jnp.sqrt(q.shape[-1])
    return bf16(jax.nn.softmax(scores, axis=-1)) @ bf16(v)


def test_jit_attention_accepts_correct_answers(capsys):
    check = CH02["check_jit_attention"]
    for _ in range(20):  # fresh random inputs every time: the bfloat16 answer must pass on all of them
        assert verdict(capsys, check, attention_ok).startswith("✓")
        assert verdict(capsys, check, attention_bf16_operands).startswith("✓")
    assert verdict(capsys, check, jax.jit(stub)).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (jax.jit(lambda q, k, v: 1.01 * attention(q, k, v)), ["scaled"]),
        (jax.jit(lambda q, k, v: attention(q, k, v) + 0.01), ["shifted"]),
        (jax.jit(lambda q, k, v: attention(q, k, v) + 0.002), ["shifted"]),
        (jax.jit(lambda q, k, v: 1.003 * attention(q, k, v)), ["scaled"]),
        (jax.jit(partial(attention, scale=False)), ["not divided by √d"]),
        (jax.jit(partial(attention, axis=0)), ["axis 0", "keys"]),
        (jax.jit(lambda q, k, v: jax.nn.softmax(q @ k.T / q.shape[-1], axis=-1) @ v), ["temperature", "d itself"]),
        # A temperature only slightly off: the output moves by a few percent at most, not by an overall scale.
        (jax.jit(partial(attention_divided_by, offset=-1)), ["temperature", "√d"]),
        (jax.jit(partial(attention_divided_by, offset=+1)), ["temperature", "√d"]),
        (jax.jit(partial(attention_divided_by, factor=1.01)), ["temperature", "√d"]),
        (jax.jit(lambda q, k, v: (q @ k.T / jnp.sqrt(q.shape[-1])) @ v), ["softmax is missing"]),
        (jax.jit(lambda q, k, v: (q @ k.T) @ v), ["softmax is missing"]),
        (jax.jit(lambda q, k, v: jax.nn.softmax(q @ k.T, axis=0) @ v), ["wrong values"]),
        (jax.jit(lambda q, k, v: attention(q, k, v).T), ["shape", "transposed"]),
        (jax.jit(lambda q, k, v: attention(q, k, v) * jnp.nan), ["NaN"]),
        (attention, ["not jitted"]),
        (jax.jit(lambda q, k, v: attention(q, k, v).astype(jnp.float16)), ["dtype"]),
    ],
)
def test_jit_attention_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH02["check_jit_attention"], answer, *words)


# --- soft_threshold ---------------------------------------------------------------------------------------------


def soft_threshold_ok(x, t):
    return jnp.where(jnp.abs(x) > t, jnp.where(x > t, x - t, x + t), 0.0)


def soft_threshold_sign(x, t):
    return jnp.sign(x) * jnp.maximum(jnp.abs(x) - t, 0.0)


def soft_threshold_python_if(x, t):
    if x > t:
        return x - t
    if x < -t:
        return x + t
    return 0.0


def soft_threshold_numpy(x, t):
    x = np.asarray(x)
    return np.sign(x) * np.maximum(np.abs(x) - t, 0.0)


def test_soft_threshold_accepts_correct_answers(capsys):
    check = CH02["check_soft_threshold"]
    for _ in range(3):  # a reader may re-run the checker cell: earlier runs must not count as compiles
        assert verdict(capsys, check, soft_threshold_ok).startswith("✓")
    assert verdict(capsys, check, soft_threshold_sign).startswith("✓")
    assert verdict(capsys, check, stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (soft_threshold_python_if, ["jax.jit", "jnp.where"]),
        (soft_threshold_numpy, ["jax.jit"]),
        (partial(jax.jit, static_argnums=1)(soft_threshold_ok), ["static", "keep it traced"]),
        (lambda x, t: jnp.where(jnp.abs(x) >= t + 0.01, soft_threshold_ok(x, t), 0.0), ["wrong where", "x > t"]),
        (lambda x, t: soft_threshold_ok(x, t) + 0.01, ["wrong where"]),
        (lambda x, t: soft_threshold_ok(x, t) * 1.01, ["wrong where", "x > t"]),
        (lambda x, t: x - jnp.sign(x) * t, ["wrong where |x| <= t", "should be 0"]),
        (lambda x, t: jnp.where(jnp.abs(x) > t, x, 0.0), ["wrong where x > t", "leaves x unchanged"]),
        (lambda x, t: jnp.where(x > t, x - t, 0.0), ["wrong where x < -t", "x + t"]),
        (lambda x, t: jnp.where(x > t, x - t, jnp.where(x < -t, x - t, 0.0)), ["wrong where x < -t", "x + t"]),
        (lambda x, t: soft_threshold_ok(x, t)[1:], ["shape"]),
        (lambda x, t: soft_threshold_ok(x, t).astype(jnp.int32), ["dtype"]),
    ],
)
def test_soft_threshold_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH02["check_soft_threshold"], answer, *words)


# --- sgd_step ---------------------------------------------------------------------------------------------------


def sgd(params, grads, lr):
    return jax.tree.map(lambda p, g: p - lr * g, params, grads)


_sgd_copy = jax.jit(sgd)


def deletes_by_hand(params, grads, lr):
    """Copies, then deletes the old parameters itself: they end up deleted, but nothing was donated."""
    new = _sgd_copy(params, grads, lr)
    for leaf in params.values():
        leaf.delete()
    return new


deletes_by_hand.lower = _sgd_copy.lower  # looks jitted to the checker


def test_sgd_step_accepts_correct_answers(capsys):
    check = CH02["check_sgd_step"]
    assert verdict(capsys, check, jax.jit(sgd, donate_argnums=0)).startswith("✓")
    assert verdict(capsys, check, jax.jit(sgd, donate_argnames="params")).startswith("✓")
    # A static learning rate compiles once per value, but the step is right: it must pass, not crash the checker.
    assert verdict(capsys, check, jax.jit(sgd, donate_argnums=0, static_argnums=2)).startswith("✓")
    assert verdict(capsys, check, jax.jit(sgd, donate_argnames="params", static_argnames="lr")).startswith("✓")
    assert verdict(capsys, check, stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (jax.jit(sgd), ["not donated", "donate_argnums=0"]),
        (sgd, ["not jitted"]),
        (jax.jit(sgd, donate_argnums=1), ["gradients are donated too"]),
        (jax.jit(sgd, donate_argnums=(0, 1)), ["gradients are donated too"]),
        (deletes_by_hand, ["not donated"]),
        (jax.jit(lambda p, g, lr: sgd(p, g, 1.01 * lr), donate_argnums=0), ["wrong values"]),
        (jax.jit(lambda p, g, lr: sgd(p, g, -lr), donate_argnums=0), ["params + lr * grads", "downhill"]),
        (jax.jit(sgd, static_argnums=2), ["not donated"]),
        (jax.jit(lambda p, g, lr: jax.tree.map(lambda a: a + 0.01, sgd(p, g, lr)), donate_argnums=0), ["wrong"]),
        (jax.jit(lambda p, g, lr: list(sgd(p, g, lr).values()), donate_argnums=0), ["dict"]),
        (jax.jit(lambda p, g, lr: p, donate_argnums=0), ["equals the old one"]),
    ],
)
def test_sgd_step_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH02["check_sgd_step"], answer, *words)
