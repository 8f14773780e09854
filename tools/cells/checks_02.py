# --- Chapter 2: jit ---
import warnings


def _attention_reference(q, k, v):
    """softmax(q kᵀ / √d) v in float64 NumPy."""
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    scores = q @ k.T / np.sqrt(q.shape[-1])
    scores -= scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(axis=-1, keepdims=True)
    return weights @ v


def _scale_and_shift(out, reference):
    """The least-squares fit out ≈ scale * reference + shift: (1, 0) for a right answer, whatever its noise."""
    design = np.stack([reference.ravel(), np.ones(reference.size)], axis=1)
    (scale, shift), *_ = np.linalg.lstsq(design, out.ravel(), rcond=None)
    return float(scale), float(shift)


def expect_attention_close(out, reference):
    """Close to the reference within bfloat16 matmul noise, but with no overall scale or shift.

    On TPU the matrix products multiply bfloat16-rounded operands, which moves single entries by up to ~0.012
    here; the errors are unbiased: over 200 simulated draws the least-squares fit out ≈ scale·reference + shift
    stayed within 1e-3 of scale 1 and 2.4e-4 of shift 0. A 1% scale or a 0.01 shift does not move single entries
    far, but it moves the fit far outside that noise; the limits (0.0025, 0.001) keep a margin of more than 2x.
    """
    out, reference = np.asarray(out, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    error = out - reference
    if np.abs(error).max() > 0.03:
        raise Wrong("the result has the right shape but wrong values")
    scale, shift = _scale_and_shift(out, reference)
    if abs(scale - 1) > 0.0025:
        raise Wrong(f"the result is scaled by {scale:.4f}; expected exactly softmax(QKᵀ/√d)V")
    if abs(shift) > 0.001:
        raise Wrong(f"the result is shifted by {shift:+.4f}")


def _check_jit_attention(jit_attention):
    rng = np.random.default_rng()
    n_q, n_k, d, d_v = (int(rng.integers(lo, hi)) for lo, hi in ((60, 70), (44, 52), (30, 34), (14, 18)))
    q, k, v = (jnp.asarray(rng.normal(size=shape), jnp.float32) for shape in ((n_q, d), (n_k, d), (n_k, d_v)))
    out = call_answer(jit_attention, q, k, v)
    if not hasattr(jit_attention, "lower"):
        raise Wrong("jit_attention is not jitted: wrap it with jax.jit")
    expect_array(out, (n_q, d_v), jnp.float32)
    expect_attention_close(out, _attention_reference(q, k, v))


def check_jit_attention(jit_attention):
    report("jit_attention", _check_jit_attention, jit_attention)


def _soft_threshold_reference(x, t):
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.maximum(np.abs(x) - t, 0.0)


def _check_soft_threshold(soft_threshold):
    rng = np.random.default_rng()
    size = int(rng.integers(50, 80))
    # A fresh wrapper, so its cache counts only this check's compiles (re-running the checker must not fail).
    jitted = jax.jit(lambda x, t: soft_threshold(x, t))
    thresholds = [float(t) for t in rng.uniform(0.3, 1.5, size=3)]
    for t in thresholds:
        # Random entries, plus entries just outside and just inside the threshold and zero, where an answer with a
        # slightly wrong threshold (t + 0.01, or off at the boundary) gives visibly wrong values.
        edges = [t + 0.005, -(t + 0.005), t - 0.005, -(t - 0.005), 0.0]
        x = jnp.asarray(np.concatenate([rng.normal(scale=2.0, size=size), edges]), jnp.float32)
        try:
            out = jitted(x, t)
        except NotImplementedError:
            raise NotYet() from None
        except Exception as exc:
            if "Non-hashable static arguments" in str(exc):
                raise Wrong("`t` is marked static; keep it traced (no static_argnums) and use jnp.where") from None
            raise Wrong(f"it fails under jax.jit ({first_line(exc)}); replace `if` with jnp.where") from None
        expect_array(out, x.shape, jnp.float32)
        expect_close(out, _soft_threshold_reference(x, t), rtol=1e-6, atol=1e-6)
    if jitted._cache_size() != 1:
        raise Wrong(f"{len(thresholds)} thresholds compiled {jitted._cache_size()} times; keep `t` traced")


def check_soft_threshold(soft_threshold):
    report("soft_threshold", _check_soft_threshold, soft_threshold)


def _check_sgd_step(sgd_step):
    rng = np.random.default_rng()

    shapes = {"w": (int(rng.integers(3, 6)), 4), "b": (4,)}

    def tree():
        return {name: jnp.asarray(rng.normal(size=shape), jnp.float32) for name, shape in shapes.items()}

    params, grads = tree(), tree()
    lr = float(rng.uniform(0.3, 0.7))
    expected = {name: np.asarray(params[name]) - lr * np.asarray(grads[name]) for name in params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an unusable donation warns; the checks below say it in words
        new = call_answer(sgd_step, params, grads, lr)
    if not isinstance(new, dict) or set(new) != set(params):
        raise Wrong(f"the result should be a dict with keys {sorted(params)}, like params")
    for name in params:
        expect_array(new[name], params[name].shape, jnp.float32, what=f"new params[{name!r}]")
        expect_close(new[name], expected[name], what=f"new params[{name!r}]", rtol=1e-6, atol=1e-6)
    if not hasattr(sgd_step, "lower"):
        raise Wrong("sgd_step is not jitted: wrap it with jax.jit(..., donate_argnums=0)")
    # What jit itself says it donates (deleting arrays by hand, or a donation that happens to be unusable, cannot
    # fool this): args_info holds one ArgInfo per leaf of (params, grads, lr), each with a `donated` flag.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params_info, grads_info, _ = sgd_step.lower(tree(), tree(), lr).args_info[0]
    if any(info.donated for info in jax.tree.leaves(grads_info)):
        raise Wrong("the gradients are donated too; donate only the parameters (argument 0)")
    if not all(info.donated for info in jax.tree.leaves(params_info)):
        raise Wrong("the parameters are not donated: jit the step with donate_argnums=0")
    if not all(p.is_deleted() for p in params.values()):
        raise Wrong("the old parameters are still alive after the step: donate them with donate_argnums=0")


def check_sgd_step(sgd_step):
    report("sgd_step", _check_sgd_step, sgd_step)
