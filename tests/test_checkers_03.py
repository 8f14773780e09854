"""Chapter 3's exercise checkers, fed the reference answer, the unfinished stub and at least five wrong answers each.

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

CH03 = load_checkers("03_vmap.ipynb")


def attention(q, k, v, scale=None, axis=-1):
    """One example: q (n_q, d), k (n_k, d), v (n_k, d_v)."""
    scale = jnp.sqrt(q.shape[-1]) if scale is None else scale
    return jax.nn.softmax(q @ k.T / scale, axis=axis) @ v


def attention_bf16_operands(q, k, v):
    """What a TPU computes at default precision: every matmul operand rounded to bfloat16."""
    scores = bf16(q) @ bf16(k).T / jnp.sqrt(q.shape[-1])
    return bf16(jax.nn.softmax(scores, axis=-1)) @ bf16(v)


# --- batched_attention ------------------------------------------------------------------------------------------

batched_ok = jax.vmap(attention)
batched_bf16 = jax.vmap(attention_bf16_operands)


def batched_python_if(q, k, v):
    if q.sum() > 1e9:  # Python control flow on a value: fails under jit
        return q
    return batched_ok(q, k, v)


def batched_einsum(q, k, v):
    """A hand-batched rewrite, loop-free and right: the checker cannot see vmap, so it passes (the prompt says so)."""
    scores = jnp.einsum("bqd,bkd->bqk", q, k) / jnp.sqrt(q.shape[-1])
    return jax.nn.softmax(scores, axis=-1) @ v


def batched_python_loop(q, k, v):
    return jnp.stack([attention(q[b], k[b], v[b]) for b in range(q.shape[0])])


def batched_lax_map(q, k, v):
    return jax.lax.map(lambda qkv: attention(*qkv), (q, k, v))


def batched_fori_loop(q, k, v):
    def body(b, out):
        return out.at[b].set(attention(q[b], k[b], v[b]))

    return jax.lax.fori_loop(0, q.shape[0], body, jnp.zeros((q.shape[0], q.shape[1], v.shape[-1])))


def batched_numpy(q, k, v):
    q, k, v = (np.asarray(a) for a in (q, k, v))
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(q.shape[-1])
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    return jnp.asarray(weights / weights.sum(-1, keepdims=True) @ v)


def test_batched_attention_accepts_correct_answers(capsys):
    check = CH03["check_batched_attention"]
    for _ in range(3):
        assert verdict(capsys, check, batched_ok).startswith("✓")
    for _ in range(20):  # fresh random inputs every time: the bfloat16 answer must pass on all of them
        assert verdict(capsys, check, batched_bf16).startswith("✓")
    assert verdict(capsys, check, batched_einsum).startswith("✓")
    assert verdict(capsys, check, jax.jit(jax.vmap(attention, in_axes=(0, 0, 0)))).startswith("✓")
    assert verdict(capsys, check, lambda q, k, v: jax.vmap(attention)(q, k, v)).startswith("✓")
    assert verdict(capsys, check, stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        # the prompt asks for vmap: loops over the examples are refused, and the line says why
        (batched_python_loop, ["grows with the batch", "Python loop", "vmap(attention)"]),
        (jax.jit(batched_python_loop), ["grows with the batch"]),
        (batched_lax_map, ["loop (scan)", "vmap(attention)"]),
        (batched_fori_loop, ["loop", "vmap(attention)"]),
        # the cheap diagnoses: softmax axis, scale, mixed-up examples
        (jax.vmap(partial(attention, axis=0)), ["softmax runs over the queries"]),
        (jax.vmap(partial(attention, scale=1.0)), ["not divided by √d"]),
        (jax.vmap(lambda q, k, v: attention(q, k, v, scale=q.shape[-1])), ["divided by d;"]),
        (lambda q, k, v: jnp.roll(batched_ok(q, k, v), 1, axis=0), ["examples are mixed up"]),
        (batched_numpy, ["NumPy", "jax.jit"]),
        (lambda q, k, v: 1.01 * batched_ok(q, k, v), ["scaled"]),
        (lambda q, k, v: batched_ok(q, k, v) + 0.01, ["shifted"]),
        (lambda q, k, v: 1.003 * batched_ok(q, k, v), ["scaled"]),
        (lambda q, k, v: batched_ok(q, k, v) + 0.0025, ["shifted"]),
        (lambda q, k, v: jnp.roll(batched_ok(q, k, v), 1, axis=1), ["wrong values"]),  # off by one position
        (lambda q, k, v: batched_ok(q, k, v)[:, :-1], ["shape"]),
        (lambda q, k, v: batched_ok(q, k, v) * jnp.nan, ["NaN"]),
        (lambda q, k, v: batched_ok(q, k, v).astype(jnp.float16), ["dtype"]),
        (lambda q, k, v: attention(q, k, v), ["raised"]),  # no vmap: q @ k.T on 3-D arrays
        (batched_python_if, ["jax.jit"]),
    ],
)
def test_batched_attention_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH03["check_batched_attention"], answer, *words)


# --- multi_head_batched -----------------------------------------------------------------------------------------


def multi_head(q, k, v, num_heads, single=attention, interleaved=False, full_scale=False, in_axes=1, out_axes=1):
    """The two-vmap solution; the keywords plant the usual mistakes (in_axes=2 is what the old hint led to)."""
    b, n_q, d = q.shape
    dh = d // num_heads

    def split(x):
        if interleaved:  # head h takes columns h, h + num_heads, ...: the wrong convention
            return x.reshape(x.shape[0], x.shape[1], dh, num_heads).swapaxes(2, 3)
        return x.reshape(x.shape[0], x.shape[1], num_heads, dh)

    one = partial(single, scale=jnp.sqrt(d)) if full_scale else single
    per_head = jax.vmap(one, in_axes=in_axes, out_axes=out_axes)  # heads are axis 1 of (n, H, dh)
    out = jax.vmap(per_head)(split(q), split(k), split(v))  # (b, n_q, H, dh)
    if interleaved:
        out = out.swapaxes(2, 3)
    return out.reshape(b, n_q, d)


def multi_head_bf16(q, k, v, num_heads):
    return multi_head(q, k, v, num_heads, single=attention_bf16_operands)


def multi_head_wrong_heads_order(q, k, v, num_heads):
    out = multi_head(q, k, v, num_heads)
    b, n, d = out.shape
    return out.reshape(b, n, num_heads, d // num_heads)[:, :, ::-1].reshape(b, n, d)


def multi_head_python_if(q, k, v, num_heads):
    if q.sum() > 1e9:  # Python control flow on a value: fails under jit
        return q
    return multi_head(q, k, v, num_heads)


def multi_head_einsum(q, k, v, num_heads):
    """Heads as an explicit axis with einsum, no vmap: loop-free and right; the checker cannot see vmap."""
    b, n_q, d = q.shape
    dh = d // num_heads
    qh, kh, vh = (x.reshape(b, x.shape[1], num_heads, dh) for x in (q, k, v))
    weights = jax.nn.softmax(jnp.einsum("bqhd,bkhd->bhqk", qh, kh) / jnp.sqrt(dh), axis=-1)
    return jnp.einsum("bhqk,bkhd->bqhd", weights, vh).reshape(b, n_q, d)


def multi_head_heads_first(q, k, v, num_heads):
    """Right too: move the heads in front with a transpose, vmap over axis 0 twice, and move them back."""
    b, n_q, d = q.shape
    dh = d // num_heads
    qh, kh, vh = (x.reshape(b, x.shape[1], num_heads, dh).transpose(0, 2, 1, 3) for x in (q, k, v))
    out = jax.vmap(jax.vmap(attention))(qh, kh, vh)  # (b, H, n_q, dh)
    return out.transpose(0, 2, 1, 3).reshape(b, n_q, d)


def multi_head_loop_over_heads(q, k, v, num_heads):
    dh = q.shape[-1] // num_heads

    def one(q, k, v):
        cols = [slice(h * dh, (h + 1) * dh) for h in range(num_heads)]
        return jnp.concatenate([attention(q[:, c], k[:, c], v[:, c]) for c in cols], axis=-1)

    return jax.vmap(one)(q, k, v)


def multi_head_loop_over_batch(q, k, v, num_heads):
    one = partial(multi_head, num_heads=num_heads)
    return jnp.concatenate([one(q[b : b + 1], k[b : b + 1], v[b : b + 1]) for b in range(q.shape[0])])


def multi_head_lax_map(q, k, v, num_heads):
    one = partial(multi_head, num_heads=num_heads)
    return jax.lax.map(lambda qkv: one(*(x[None] for x in qkv))[0], (q, k, v))


def test_multi_head_batched_accepts_correct_answers(capsys):
    check = CH03["check_multi_head_batched"]
    for _ in range(3):
        assert verdict(capsys, check, multi_head).startswith("✓")
    for _ in range(20):  # fresh random inputs every time: the bfloat16 answer must pass on all of them
        assert verdict(capsys, check, multi_head_bf16).startswith("✓")
    assert verdict(capsys, check, multi_head_einsum).startswith("✓")
    assert verdict(capsys, check, multi_head_heads_first).startswith("✓")
    assert verdict(capsys, check, jax.jit(multi_head, static_argnums=3)).startswith("✓")
    assert verdict(capsys, check, stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda q, k, v, h: 1.01 * multi_head(q, k, v, h), ["scaled"]),
        (lambda q, k, v, h: multi_head(q, k, v, h) + 0.01, ["shifted"]),
        (lambda q, k, v, h: 1.003 * multi_head(q, k, v, h), ["scaled"]),
        (lambda q, k, v, h: multi_head(q, k, v, h) + 0.0025, ["shifted"]),
        # the cheap diagnoses, one line each instead of "wrong values"
        (partial(multi_head, full_scale=True), ["√d, the full width"]),  # 1/sqrt(d) instead of 1/sqrt(dh)
        (partial(multi_head, single=partial(attention, scale=1.0)), ["not divided by √dh"]),
        (partial(multi_head, interleaved=True), ["interleaved columns"]),  # heads split the wrong way
        (partial(multi_head, single=partial(attention, axis=0)), ["softmax runs over the queries"]),
        (partial(multi_head, in_axes=2, out_axes=2), ["mapped the dh axis", "axis 1"]),  # the old hint's axis 2
        (partial(multi_head, in_axes=2, out_axes=1), ["mapped the dh axis", "axis 1"]),
        (partial(multi_head, out_axes=0), ["out_axes=0", "out_axes=1"]),  # heads before queries, then reshaped
        (lambda q, k, v, h: batched_ok(q, k, v), ["one head over all d columns"]),
        (multi_head_wrong_heads_order, ["keep the heads in order"]),
        (lambda q, k, v, h: multi_head(q, k, v, h).swapaxes(1, 2), ["swapped"]),  # transposed output
        (lambda q, k, v, h: jnp.roll(multi_head(q, k, v, h), 1, axis=2), ["wrong values"]),  # off by one column
        # the prompt asks for two vmaps: loops over heads or examples are refused, and the line says why
        (multi_head_loop_over_heads, ["grows with the number of heads", "two vmaps"]),
        (multi_head_loop_over_batch, ["grows with the batch", "two vmaps"]),
        (multi_head_lax_map, ["loop (scan)", "two vmaps"]),
        (lambda q, k, v, h: multi_head(q, k, v, h) * jnp.nan, ["NaN"]),
        (lambda q, k, v, h: multi_head(q, k, v, h)[:, :, : q.shape[-1] // h], ["shape"]),
        (multi_head_python_if, ["jax.jit"]),
    ],
)
def test_multi_head_batched_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH03["check_multi_head_batched"], answer, *words)


# --- pairwise_distances -----------------------------------------------------------------------------------------


def distance(a, b):
    return jnp.sqrt(jnp.sum((a - b) ** 2))


pairwise_ok = jax.vmap(jax.vmap(distance, in_axes=(None, 0)), in_axes=(0, None))


def pairwise_broadcast(a, b):
    return jnp.sqrt(jnp.sum((a[:, None, :] - b[None, :, :]) ** 2, axis=-1))


def pairwise_python_loop(a, b):
    return jnp.stack([jnp.stack([distance(a[i], b[j]) for j in range(b.shape[0])]) for i in range(a.shape[0])])


def pairwise_lax_map(a, b):
    return jax.lax.map(lambda x: jax.vmap(distance, in_axes=(None, 0))(x, b), a)


def pairwise_numpy(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))


def pairwise_expanded_bf16(a, b):
    """The |a|² + |b|² - 2 a·b expansion with bfloat16 matmul operands: imprecise."""
    squared = (a**2).sum(-1)[:, None] + (b**2).sum(-1)[None, :] - 2 * bf16(a) @ bf16(b).T
    return jnp.sqrt(jnp.maximum(squared, 0.0))


def pairwise_expanded(a, b):
    """The |a|² + |b|² - 2 a·b expansion in float32: accurate enough on a CPU, but the prompt warns against it."""
    squared = (a**2).sum(-1)[:, None] + (b**2).sum(-1)[None, :] - 2 * a @ b.T
    return jnp.sqrt(jnp.maximum(squared, 0.0))


def pair_dot(a, b):
    d = a - b
    return jnp.sqrt(d @ d)


def test_pairwise_distances_accepts_correct_answers(capsys):
    check = CH03["check_pairwise_distances"]
    for _ in range(5):  # no matrix product here, so no bfloat16 variant: both natural answers, fresh inputs
        assert verdict(capsys, check, pairwise_ok).startswith("✓")
        assert verdict(capsys, check, pairwise_broadcast).startswith("✓")
    norm = jax.vmap(jax.vmap(lambda a, b: jnp.linalg.norm(a - b), in_axes=(None, 0)), in_axes=(0, None))
    assert verdict(capsys, check, norm).startswith("✓")
    assert verdict(capsys, check, jax.jit(pairwise_broadcast)).startswith("✓")
    assert verdict(capsys, check, stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda a, b: 1.01 * pairwise_ok(a, b), ["scaled by 1.0100"]),
        (lambda a, b: pairwise_ok(a, b) + 0.01, ["shifted by +0.0100"]),
        (lambda a, b: pairwise_ok(a, b) ** 2, ["squared"]),
        (lambda a, b: pairwise_ok(a, b).T, ["shape"]),
        (lambda a, b: pairwise_ok(a, b[1:]), ["shape"]),  # off by one point
        (lambda a, b: pairwise_ok(a, jnp.roll(b, 1, axis=0)), ["wrong values"]),
        (lambda a, b: jnp.sum(jnp.abs(a[:, None] - b[None]), -1), ["wrong values"]),  # L1, not Euclidean
        (lambda a, b: pairwise_ok(a, b) * jnp.nan, ["NaN"]),
        (pairwise_expanded_bf16, ["dot product", "jnp.sum((a - b) ** 2)"]),
        (pairwise_expanded, ["dot product", "expanded", "jnp.sum((a - b) ** 2)"]),  # right values on a CPU
        (jax.vmap(jax.vmap(pair_dot, in_axes=(None, 0)), in_axes=(0, None)), ["dot product", "d @ d"]),
        (pairwise_python_loop, ["Python loop"]),
        (jax.jit(pairwise_python_loop), ["Python loop"]),  # an inner jit must not hide the unrolled loop
        (pairwise_lax_map, ["loop"]),
        (pairwise_numpy, ["NumPy", "jax.jit"]),
    ],
)
def test_pairwise_distances_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH03["check_pairwise_distances"], answer, *words)
