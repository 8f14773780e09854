# --- Chapter 2: jit ---
# pieces: fit, reference64
import warnings


def _temperature_direction(q, k, v):
    """d reference / d log(1/divisor) at divisor √d: how the output moves when the softmax temperature changes."""
    q, k, v = _as64(q), _as64(k), _as64(v)
    scores = q @ k.T / np.sqrt(q.shape[-1])
    weights = _softmax64(scores)
    return (weights * (scores - (weights * scores).sum(axis=-1, keepdims=True))) @ v


def _temperature_error(out, reference, direction):
    """The fit out - reference ≈ a·direction + b·reference + c: a is log(√d / divisor), the relative error of the
    softmax temperature (0 for a right answer), separated from an overall scale b and shift c."""
    design = np.stack([direction.ravel(), reference.ravel(), np.ones(reference.size)], axis=1)
    (alpha, _, _), *_ = np.linalg.lstsq(design, (out - reference).ravel(), rcond=None)
    return float(alpha)


def _best_divisor(out, q, k, v):
    """The divisor of QKᵀ whose attention is closest to `out` (largest entry error), searched over √d/128 .. 128√d."""
    root_d = np.sqrt(q.shape[-1])

    def error(log_divisor):
        return np.abs(out - _attention64(q, k, v, scale=np.exp(log_divisor))).max()

    grid = np.log(root_d) + np.linspace(-5.0, 5.0, 201)  # steps of 5%, then a golden-section refinement
    best = int(np.argmin([error(x) for x in grid]))
    low, high = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    ratio = (np.sqrt(5.0) - 1) / 2
    for _ in range(40):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        low, high = (low, b) if error(a) < error(b) else (a, high)
    divisor = float(np.exp((low + high) / 2))
    return divisor, error(np.log(divisor))


def _temperature_message(divisor, d):
    if abs(divisor - 1) < 0.01:
        return f"QKᵀ is not divided by √d = {np.sqrt(d):.3f} (d = {d}) before the softmax"
    named = "d itself" if abs(divisor / d - 1) < 0.005 else f"√{divisor**2:.1f}"
    expected = f"√d = {np.sqrt(d):.3f} (d = {d})"
    return f"the softmax temperature is wrong: QKᵀ is divided by {divisor:.3f} ({named}), not {expected}"


def _diagnose_attention(out, q, k, v):
    """A one-line name for the bug of an answer far from the reference, or the generic line."""
    d = q.shape[-1]
    divisor, error = _best_divisor(out, q, k, v)
    if error < 0.03 and abs(divisor / np.sqrt(d) - 1) > 0.005:
        return _temperature_message(divisor, d)
    if np.abs(out - _attention64(q, k, v, axis=0)).max() < 0.03:
        return "the softmax runs over the queries (axis 0); it should run over the keys, the last axis of the scores"
    raw = _as64(q) @ _as64(k).T
    for scores in (raw / np.sqrt(d), raw):
        if np.abs(out - scores @ _as64(v)).max() < 0.03:
            return "the softmax is missing: apply jax.nn.softmax to the scores (axis=-1) before multiplying by V"
    return "the result has the right shape but wrong values"


def expect_attention_close(out, q, k, v):
    """Close to softmax(QKᵀ/√d)V within bfloat16 matmul noise, with no temperature error, overall scale or shift.

    On TPU the matrix products multiply bfloat16-rounded operands, which moves single entries by up to ~0.012
    here; the errors are unbiased: over 300 simulated draws the least-squares fit out ≈ scale·reference + shift
    stayed within 1.1e-3 of scale 1 and 2e-4 of shift 0, and the fitted temperature error within 1.5e-3. A 1%
    scale or a 0.01 shift does not move single entries far, but it moves the fit far outside that noise; the
    limits (scale 0.0025, shift 0.001, temperature 0.005) keep a margin of more than 2x. Dividing by √(d-1)
    instead of √d is a temperature error of 0.0155 or more for the d used here, and 1.01√d one of 0.0099.
    """
    out = _as64(out)
    d = q.shape[-1]
    reference = _attention64(q, k, v)
    if np.abs(out - reference).max() > 0.03:
        raise Wrong(_diagnose_attention(out, q, k, v))
    alpha = _temperature_error(out, reference, _temperature_direction(q, k, v))
    if abs(alpha) > 0.005:
        raise Wrong(_temperature_message(np.sqrt(d) * np.exp(-alpha), d))
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
    if getattr(out, "shape", None) is not None and tuple(out.shape) == (d_v, n_q):
        raise Wrong(f"the result has shape {(d_v, n_q)}, expected {(n_q, d_v)}: it is transposed")
    expect_array(out, (n_q, d_v), jnp.float32)
    expect_attention_close(out, q, k, v)


def check_jit_attention(jit_attention):
    report("jit_attention", _check_jit_attention, jit_attention)


def _soft_threshold_reference(x, t):
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.maximum(np.abs(x) - t, 0.0)


def _diagnose_soft_threshold(out, x, t):
    """Which of the three cases (x > t, x < -t, |x| <= t) is wrong, with the worst entry as an example."""
    out, x = np.asarray(out, dtype=np.float64), np.asarray(x, dtype=np.float64)
    reference = _soft_threshold_reference(x, t)
    wrong = ~np.isclose(out, reference, rtol=1e-6, atol=1e-6)
    for case, rule, where in (
        ("x > t", "x - t", x > t),
        ("x < -t", "x + t", x < -t),
        ("|x| <= t", "0", np.abs(x) <= t),
    ):
        if np.any(wrong & where):
            i = int(np.argmax(np.where(wrong & where, np.abs(out - reference), -1.0)))
            got = "leaves x unchanged" if out[i] == x[i] else f"gives {out[i]:.4f}"
            return (
                f"wrong where {case} (should be {rule}): for x = {x[i]:.4f}, t = {t:.4f} it {got},"
                f" expected {reference[i]:.4f}"
            )
    return "the result has the right shape but wrong values"


def _check_soft_threshold(soft_threshold):
    rng = np.random.default_rng()
    size = int(rng.integers(50, 80))
    # A fresh wrapper whose traces are counted: one trace per compile, and re-running the checker starts again at 0.
    traces = []

    def counted(x, t):
        traces.append(1)
        return soft_threshold(x, t)

    jitted = jax.jit(counted)
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
        if not np.allclose(np.asarray(out), _soft_threshold_reference(x, t), rtol=1e-6, atol=1e-6):
            raise Wrong(_diagnose_soft_threshold(out, x, t))
    if len(traces) != 1:
        raise Wrong(f"{len(thresholds)} thresholds compiled {len(traces)} times; keep `t` traced")


def check_soft_threshold(soft_threshold):
    report("soft_threshold", _check_soft_threshold, soft_threshold)


def _check_sgd_step(sgd_step):
    rng = np.random.default_rng()

    shapes = {"w": (int(rng.integers(3, 6)), 4), "b": (4,)}

    def tree():
        return {name: jnp.asarray(rng.normal(size=shape), jnp.float32) for name, shape in shapes.items()}

    params, grads = tree(), tree()
    lr = float(rng.uniform(0.3, 0.7))
    # NumPy copies taken before the step, which deletes what it donates (the gradients too, in a wrong answer).
    old = {name: np.asarray(leaf, np.float64) for name, leaf in params.items()}
    old_grads = {name: np.asarray(leaf, np.float64) for name, leaf in grads.items()}
    expected = {name: old[name] - lr * old_grads[name] for name in params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an unusable donation warns; the checks below say it in words
        new = call_answer(sgd_step, params, grads, lr)
    if not isinstance(new, dict) or set(new) != set(params):
        raise Wrong(f"the result should be a dict with keys {sorted(params)}, like params")
    for name in params:
        expect_array(new[name], params[name].shape, jnp.float32, what=f"new params[{name!r}]")
    for name in params:
        got = np.asarray(new[name], np.float64)
        if np.allclose(got, expected[name], rtol=1e-6, atol=1e-6):
            continue
        if np.allclose(got, old[name], rtol=1e-6, atol=1e-6):
            raise Wrong(f"new params[{name!r}] equals the old one: return params - lr * grads")
        if np.allclose(got, old[name] + lr * old_grads[name], rtol=1e-6, atol=1e-6):
            raise Wrong(f"new params[{name!r}] is params + lr * grads: the step must go downhill, params - lr * grads")
        raise Wrong(f"new params[{name!r}] has the right shape but wrong values")
    if not hasattr(sgd_step, "lower"):
        raise Wrong("sgd_step is not jitted: wrap it with jax.jit(..., donate_argnums=0)")
    # What jit itself says it donates (deleting arrays by hand, or a donation that happens to be unusable, cannot
    # fool this): args_info holds one ArgInfo per leaf of (params, grads, lr), each with a `donated` flag.
    # A static lr (static_argnums=2 or static_argnames="lr") is allowed: it has no ArgInfo, so take the first two.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params_info, grads_info = sgd_step.lower(tree(), tree(), lr).args_info[0][:2]
    except Exception as exc:
        raise Wrong(f"sgd_step.lower(params, grads, lr) failed ({first_line(exc)}); jit the step itself") from None
    if any(info.donated for info in jax.tree.leaves(grads_info)):
        raise Wrong("the gradients are donated too; donate only the parameters (argument 0)")
    if not all(info.donated for info in jax.tree.leaves(params_info)):
        raise Wrong("the parameters are not donated: jit the step with donate_argnums=0")
    if not all(p.is_deleted() for p in params.values()):
        raise Wrong("the old parameters are still alive after the step: donate them with donate_argnums=0")


def check_sgd_step(sgd_step):
    report("sgd_step", _check_sgd_step, sgd_step)
