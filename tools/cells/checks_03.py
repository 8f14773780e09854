# --- Chapter 3: vmap ---


def _softmax64(scores):
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    return weights / weights.sum(axis=-1, keepdims=True)


def _attention64(q, k, v):
    """softmax(q kᵀ / √d) v for one example, in float64 NumPy."""
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    return _softmax64(q @ k.T / np.sqrt(q.shape[-1])) @ v


def _batched_attention_reference(q, k, v):
    return np.stack([_attention64(q[b], k[b], v[b]) for b in range(q.shape[0])])


def _multi_head_reference(q, k, v, num_heads):
    """Head h attends with columns [h*dh, (h+1)*dh) of q, k, v; the heads are concatenated in order."""
    dh = q.shape[-1] // num_heads
    out = np.zeros(q.shape, dtype=np.float64)
    for b in range(q.shape[0]):
        for h in range(num_heads):
            cols = slice(h * dh, (h + 1) * dh)
            out[b, :, cols] = _attention64(q[b, :, cols], k[b, :, cols], v[b, :, cols])
    return out


def _scale_and_shift(out, reference):
    """The least-squares fit out ≈ scale * reference + shift: (1, 0) for a right answer, whatever its noise."""
    design = np.stack([reference.ravel(), np.ones(reference.size)], axis=1)
    (scale, shift), *_ = np.linalg.lstsq(design, out.ravel(), rcond=None)
    return float(scale), float(shift)


def _expect_close_bf16(out, reference, what):
    """Close to the reference within bfloat16 matmul noise, but with no overall scale or shift.

    On TPU the matrix products multiply bfloat16-rounded operands, which moves single entries by up to ~0.01 here;
    the errors are unbiased: over 200 simulated single-example draws the fitted scale stayed within 1.2e-3 of 1
    and the fitted shift below 2.5e-4. A 0.3% scale or a 0.0025 shift does not move single entries far, but it
    moves the fit outside the limits (2.5e-3, 6e-4), which keep a margin of about 2x or more over that noise.
    """
    out, reference = np.asarray(out, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    error = out - reference
    if np.abs(error).max() > 0.03:
        raise Wrong(f"the result has the right shape but wrong values ({what})")
    scale, shift = _scale_and_shift(out, reference)
    if abs(scale - 1) > 2.5e-3:
        raise Wrong(f"the result (or the scores) is scaled by {scale:.4f}; expected exactly {what}")
    if abs(shift) > 6e-4:
        raise Wrong(f"the result is shifted by {shift:+.4f}")


def _random_qkv(rng, batch, n_q, n_k, d, d_v):
    shapes = ((batch, n_q, d), (batch, n_k, d), (batch, n_k, d_v))
    return tuple(jnp.asarray(rng.normal(size=shape), jnp.float32) for shape in shapes)


def _check_batched_attention(batched_attention):
    rng = np.random.default_rng()
    batch, n_q, n_k, d, d_v = (int(rng.integers(lo, hi)) for lo, hi in ((3, 6), (40, 48), (30, 36), (30, 34), (14, 18)))
    q, k, v = _random_qkv(rng, batch, n_q, n_k, d, d_v)
    out = call_jitted(batched_attention, q, k, v)
    expect_array(out, (batch, n_q, d_v), jnp.float32)
    _expect_close_bf16(out, _batched_attention_reference(q, k, v), "softmax(QKᵀ/√d)V per example")


def check_batched_attention(batched_attention):
    report("batched_attention", _check_batched_attention, batched_attention)


def _check_multi_head_batched(multi_head_batched):
    rng = np.random.default_rng()
    for num_heads in (2, 4):
        batch, n_q, n_k, dh = (int(rng.integers(lo, hi)) for lo, hi in ((2, 5), (30, 38), (24, 30), (8, 12)))
        d = num_heads * dh
        q, k, v = _random_qkv(rng, batch, n_q, n_k, d, d)
        out = call_jitted(multi_head_batched, q, k, v, num_heads, static_argnums=3)
        expect_array(out, (batch, n_q, d), jnp.float32, what=f"the result for num_heads={num_heads}")
        what = f"{num_heads} heads, columns [h*dh, (h+1)*dh), scale 1/√dh"
        _expect_close_bf16(out, _multi_head_reference(q, k, v, num_heads), what)


def check_multi_head_batched(multi_head_batched):
    report("multi_head_batched", _check_multi_head_batched, multi_head_batched)


def _loop_primitives(jaxpr):
    """Names of the loop primitives (scan, while) anywhere in a jaxpr, sub-jaxprs included."""
    found = set()
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in ("scan", "while"):
            found.add(eqn.primitive.name)
        for param in eqn.params.values():
            for sub in param if isinstance(param, (tuple, list)) else (param,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    found |= _loop_primitives(inner)
    return found


def _equation_count(jaxpr):
    """Equations in a jaxpr, counting those inside sub-jaxprs (an inner jit) too."""
    total = 0
    for eqn in jaxpr.eqns:
        total += 1
        for param in eqn.params.values():
            for sub in param if isinstance(param, (tuple, list)) else (param,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    total += _equation_count(inner)
    return total


def _check_pairwise_distances(pairwise_distances):
    rng = np.random.default_rng()
    n, m, d = (int(rng.integers(lo, hi)) for lo, hi in ((20, 30), (31, 40), (3, 7)))
    a = jnp.asarray(rng.normal(size=(n, d)), jnp.float32)
    b = jnp.asarray(rng.normal(size=(m, d)), jnp.float32)
    small = ((a[:3], b[:4]), (a[:4], b[:6]))
    try:  # on small inputs first: an unrolled Python loop is slow to compile on the full ones
        sizes = {_equation_count(jax.make_jaxpr(pairwise_distances)(*args).jaxpr) for args in small}
        loops = _loop_primitives(jax.make_jaxpr(pairwise_distances)(*small[0]).jaxpr)
    except Exception:
        sizes, loops = set(), set()  # the calls below report the error
    if len(sizes) > 1:
        raise Wrong("the program grows with the number of points: a Python loop was unrolled; use vmap")
    if loops:
        raise Wrong(f"it runs a loop ({', '.join(sorted(loops))}); build it with vmap or broadcasting")
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
        error = np.abs(out64 - reference).max()
        if error < 0.2:
            raise Wrong(
                f"the values are off by up to {error:.4f}: a matrix or dot product (|a-b|² expanded, or d @ d) "
                "rounds its inputs on TPUs; use jnp.sum((a - b) ** 2)"
            )
        raise Wrong("the result has the right shape but wrong values (expected Euclidean distances)")


def check_pairwise_distances(pairwise_distances):
    report("pairwise_distances", _check_pairwise_distances, pairwise_distances)
