# --- Chapter 3: vmap ---
# pieces: fit, jaxprs, reference64


def _batched_attention_reference(q, k, v, scale=None, axis=-1):
    return np.stack([_attention64(q[b], k[b], v[b], scale, axis) for b in range(q.shape[0])])


def _grouped_attention64(q, k, v, groups, out_groups=None, scale=None, axis=-1, heads_first=False):
    """Attention within each group of columns of q, k, v; group g's result fills the columns out_groups[g].

    The right multi-head layout has group h = columns [h*dh, (h+1)*dh), written back to the same columns; the
    other layouts model the usual mistakes. heads_first: the (num_groups, n_q, width) stack is reshaped to
    (n_q, d) as it is, which is what an inner vmap with out_axes=0 followed by the reshape gives.
    """
    out_groups = groups if out_groups is None else out_groups
    out = np.zeros(q.shape, dtype=np.float64)
    for b in range(q.shape[0]):
        heads = [_attention64(q[b][:, g], k[b][:, g], v[b][:, g], scale, axis) for g in groups]
        if heads_first:
            out[b] = np.stack(heads).reshape(q.shape[1], q.shape[2])
        else:
            for cols, head in zip(out_groups, heads, strict=True):
                out[b][:, cols] = head
    return out


def _head_columns(d, num_heads):
    dh = d // num_heads
    return [np.arange(h * dh, (h + 1) * dh) for h in range(num_heads)]


def _multi_head_reference(q, k, v, num_heads):
    """Head h attends with columns [h*dh, (h+1)*dh) of q, k, v; the heads are concatenated in order."""
    return _grouped_attention64(q, k, v, _head_columns(q.shape[-1], num_heads))


_BF16_NOISE = 0.03  # the largest single-entry error bfloat16 matmul operands cause here, with a margin


def _close(out, reference):
    return np.abs(_as64(out) - reference).max() <= _BF16_NOISE


def _diagnose(out, mistakes):
    """The message of the first known mistake whose result the answer matches, within bfloat16 noise."""
    for message, result in mistakes:
        if _close(out, result()):
            raise Wrong(message)


def _diagnose_blocks(out, reference, axis, size, message):
    """Every block along `axis` (examples, or head columns) is right but some sit in another block's place."""
    out_blocks = np.split(_as64(out), out.shape[axis] // size, axis=axis)
    ref_blocks = np.split(reference, reference.shape[axis] // size, axis=axis)
    found = [next((j for j, ref in enumerate(ref_blocks) if _close(block, ref)), None) for block in out_blocks]
    if None not in found and found != list(range(len(found))):
        raise Wrong(message)


def _expect_close_bf16(out, reference, what):
    """Close to the reference within bfloat16 matmul noise, but with no overall scale or shift.

    On TPU the matrix products multiply bfloat16-rounded operands, which moves single entries by up to ~0.01 here;
    the errors are unbiased: over 200 simulated single-example draws the fitted scale stayed within 1.2e-3 of 1
    and the fitted shift below 2.5e-4. A 0.3% scale or a 0.0025 shift does not move single entries far, but it
    moves the fit outside the limits (2.5e-3, 6e-4), which keep a margin of about 2x or more over that noise.
    """
    out, reference = _as64(out), _as64(reference)
    if not _close(out, reference):
        raise Wrong(f"the result has the right shape but wrong values ({what})")
    scale, shift = _scale_and_shift(out, reference)
    if abs(scale - 1) > 2.5e-3:
        raise Wrong(f"the result (or the scores) is scaled by {scale:.4f}; expected exactly {what}")
    if abs(shift) > 6e-4:
        raise Wrong(f"the result is shifted by {shift:+.4f}")


def _random_qkv(rng, batch, n_q, n_k, d, d_v):
    shapes = ((batch, n_q, d), (batch, n_k, d), (batch, n_k, d_v))
    return tuple(jnp.asarray(rng.normal(size=shape), jnp.float32) for shape in shapes)


def _loop_primitives(jaxpr):
    """Names of the loop primitives (scan, while) anywhere in a jaxpr, sub-jaxprs included."""
    return _primitives(jaxpr) & {"scan", "while"}


def _equation_count(jaxpr):
    """Equations in a jaxpr, counting those inside sub-jaxprs (an inner jit) too."""
    return sum(1 + sum(_equation_count(inner) for inner in _sub_jaxprs(eqn)) for eqn in jaxpr.eqns)


def _trace(fn, *args, static_argnums=()):
    """The answer's jaxpr on these inputs, or None if tracing fails (the calls after it report that error).

    NumPy on a traced array is the one tracing error named here: the core's jit message would send the reader
    looking for Python control flow instead.
    """
    try:
        return jax.make_jaxpr(fn, static_argnums=static_argnums)(*args).jaxpr
    except NotImplementedError:
        raise NotYet() from None
    except jax.errors.TracerArrayConversionError:
        raise Wrong(
            "it converts a traced array to NumPy (np.* or np.asarray), which fails under jax.jit: use jnp"
        ) from None
    except Exception:
        return None


def _expect_no_loop(jaxprs, what_grows, message):
    """Reject an unrolled Python loop (the program grows with what_grows) or a scan/while loop."""
    counts = {key: _equation_count(jaxpr) for key, jaxpr in jaxprs.items() if jaxpr is not None}
    for key, grows in what_grows.items():
        base, bigger = key
        if base in counts and bigger in counts and counts[bigger] > counts[base]:
            raise Wrong(
                f"the program grows with the {grows}: a Python loop (or a stack of slices) was unrolled; {message}"
            )
    loops = set().union(*(_loop_primitives(jaxpr) for jaxpr in jaxprs.values() if jaxpr is not None))
    if loops:
        raise Wrong(f"it runs a loop ({', '.join(sorted(loops))}); {message}")


def _check_batched_attention(batched_attention):
    rng = np.random.default_rng()
    small = {b: _random_qkv(rng, b, 3, 4, 2, 2) for b in (2, 3)}
    jaxprs = {b: _trace(batched_attention, *args) for b, args in small.items()}
    _expect_no_loop(jaxprs, {(2, 3): "batch"}, "the exercise asks for vmap(attention), which maps without a loop")
    batch, n_q, n_k, d, d_v = (int(rng.integers(lo, hi)) for lo, hi in ((3, 6), (40, 48), (30, 36), (30, 34), (14, 18)))
    q, k, v = _random_qkv(rng, batch, n_q, n_k, d, d_v)
    out = call_jitted(batched_attention, q, k, v)
    expect_array(out, (batch, n_q, d_v), jnp.float32)
    reference = _batched_attention_reference(q, k, v)
    if not _close(out, reference):
        _diagnose(
            out,
            [
                (
                    "the softmax runs over the queries; normalize each query's scores over the keys (axis=-1)",
                    lambda: _batched_attention_reference(q, k, v, axis=0),
                ),
                ("the scores are not divided by √d", lambda: _batched_attention_reference(q, k, v, scale=1.0)),
                (
                    "the scores are divided by d; divide them by √d",
                    lambda: _batched_attention_reference(q, k, v, scale=d),
                ),
            ],
        )
        _diagnose_blocks(
            out, reference, 0, 1, "the examples are mixed up: example b must get attention(Q[b], K[b], V[b])"
        )
    _expect_close_bf16(out, reference, "softmax(QKᵀ/√d)V per example")


def check_batched_attention(batched_attention):
    report("batched_attention", _check_batched_attention, batched_attention)


def _multi_head_mistakes(q, k, v, num_heads):
    """Messages and float64 results of the usual multi-head mistakes, for these inputs."""
    d = q.shape[-1]
    dh = d // num_heads
    blocks = _head_columns(d, num_heads)
    interleaved = [np.arange(h, d, num_heads) for h in range(num_heads)]  # head h: columns h, h + num_heads, ...
    across = [np.arange(j, d, dh) for j in range(dh)]  # what mapping the dh axis makes: column j of every head
    across_out = [np.arange(j * num_heads, (j + 1) * num_heads) for j in range(dh)]
    return [
        (
            "each head divides its scores by √d, the full width; divide by √dh (attention does that on dh columns)",
            lambda: _grouped_attention64(q, k, v, blocks, scale=np.sqrt(d)),
        ),
        ("the scores are not divided by √dh", lambda: _grouped_attention64(q, k, v, blocks, scale=1.0)),
        (
            "the softmax runs over the queries; normalize each query's scores over the keys (axis=-1)",
            lambda: _grouped_attention64(q, k, v, blocks, axis=0),
        ),
        (
            "head h took the interleaved columns h, h + num_heads, ...; it must take the block [h*dh, (h+1)*dh)",
            lambda: _grouped_attention64(q, k, v, interleaved),
        ),
        (
            "the inner vmap mapped the dh axis: inside the outer vmap one example is (n, num_heads, dh), so the "
            "heads are axis 1 (in_axes=1)",
            lambda: _grouped_attention64(q, k, v, across),
        ),
        (
            "the inner vmap mapped the dh axis: inside the outer vmap one example is (n, num_heads, dh), so the "
            "heads are axis 1 (in_axes=1)",
            lambda: _grouped_attention64(q, k, v, across, across_out),
        ),
        (
            "the head axis came out before the queries (inner out_axes=0), so the reshape scrambles the heads; "
            "use out_axes=1",
            lambda: _grouped_attention64(q, k, v, blocks, heads_first=True),
        ),
        (
            "this is one head over all d columns: split the columns into num_heads heads",
            lambda: _batched_attention_reference(q, k, v),
        ),
    ]


def _check_multi_head_batched(multi_head_batched):
    rng = np.random.default_rng()
    small = {(b, h): _random_qkv(rng, b, 3, 4, 2 * h, 2 * h) for b, h in ((2, 2), (3, 2), (2, 4))}
    jaxprs = {key: _trace(multi_head_batched, *args, key[1], static_argnums=3) for key, args in small.items()}
    what_grows = {((2, 2), (3, 2)): "batch", ((2, 2), (2, 4)): "number of heads"}
    _expect_no_loop(jaxprs, what_grows, "map the batch and the heads with two vmaps")
    for num_heads in (2, 4):
        # n_q >= 45 > d: a result with its last two axes swapped cannot have the right shape by accident
        batch, n_q, n_k, dh = (int(rng.integers(lo, hi)) for lo, hi in ((2, 5), (45, 52), (24, 30), (8, 12)))
        d = num_heads * dh
        q, k, v = _random_qkv(rng, batch, n_q, n_k, d, d)
        out = call_jitted(multi_head_batched, q, k, v, num_heads, static_argnums=3)
        what = f"the result for num_heads={num_heads}"
        if getattr(out, "shape", None) == (batch, d, n_q):
            raise Wrong(
                f"{what} has shape {(batch, d, n_q)}: its last two axes are swapped, expected {(batch, n_q, d)}"
            )
        expect_array(out, (batch, n_q, d), jnp.float32, what=what)
        reference = _multi_head_reference(q, k, v, num_heads)
        if not _close(out, reference):
            _diagnose(out, _multi_head_mistakes(q, k, v, num_heads))
            _diagnose_blocks(
                out, reference, 2, dh, "head h's result must fill columns [h*dh, (h+1)*dh): keep the heads in order"
            )
        _expect_close_bf16(out, reference, f"{num_heads} heads, columns [h*dh, (h+1)*dh), scale 1/√dh")


def check_multi_head_batched(multi_head_batched):
    report("multi_head_batched", _check_multi_head_batched, multi_head_batched)


def _check_pairwise_distances(pairwise_distances):
    rng = np.random.default_rng()
    n, m, d = (int(rng.integers(lo, hi)) for lo, hi in ((20, 30), (31, 40), (3, 7)))
    a = jnp.asarray(rng.normal(size=(n, d)), jnp.float32)
    b = jnp.asarray(rng.normal(size=(m, d)), jnp.float32)
    # on small inputs first: an unrolled Python loop is slow to compile on the full ones
    jaxprs = {size: _trace(pairwise_distances, a[:size], b[: size + 1]) for size in (3, 4)}
    _expect_no_loop(jaxprs, {(3, 4): "number of points"}, "build it with vmap or broadcasting")
    if any(jaxpr is not None and "dot_general" in _primitives(jaxpr) for jaxpr in jaxprs.values()):
        raise Wrong(
            "it uses a matrix or dot product (|a-b|² expanded, or d @ d), which a TPU computes from bfloat16-rounded "
            "inputs; use jnp.sum((a - b) ** 2)"
        )
    out = call_jitted(pairwise_distances, a, b)
    expect_array(out, (n, m), jnp.float32)
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    reference = np.sqrt(((a64[:, None, :] - b64[None, :, :]) ** 2).sum(-1))
    if not np.allclose(np.asarray(out), reference, rtol=1e-4, atol=1e-4):
        out64 = np.asarray(out, np.float64)
        if np.allclose(out64, reference**2, rtol=1e-3, atol=1e-3):
            raise Wrong("these are squared distances: take the square root")
        scale = float((out64 * reference).sum() / (reference * reference).sum())
        if np.allclose(out64, scale * reference, rtol=1e-4, atol=1e-4):
            raise Wrong(f"the distances are scaled by {scale:.4f}")
        shift = float((out64 - reference).mean())
        if np.allclose(out64 - shift, reference, rtol=1e-4, atol=1e-4):
            raise Wrong(f"the distances are shifted by {shift:+.4f}")
        raise Wrong("the result has the right shape but wrong values (expected Euclidean distances)")


def check_pairwise_distances(pairwise_distances):
    report("pairwise_distances", _check_pairwise_distances, pairwise_distances)
