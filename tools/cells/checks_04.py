# --- Chapter 4: autodiff ---
# pieces: gradients, jaxprs, learning_rate, mlp, reference64


def _attention_gradient_reference(q, k, v, g):
    """dQ, dK, dV of softmax(q kᵀ/√d) v with cotangent g, worked by hand in float64 NumPy."""
    q, k, v, g = _as64(q), _as64(k), _as64(v), _as64(g)
    scale = np.sqrt(q.shape[-1])
    p = _softmax64(q @ k.T / scale)
    d_p = g @ v.T
    d_scores = p * (d_p - (d_p * p).sum(axis=-1, keepdims=True))  # the softmax's vjp
    return d_scores @ k / scale, d_scores.T @ q / scale, p.T @ g


def _check_attention_gradient(attention_gradient):
    rng = np.random.default_rng()
    n_q, n_k, d, d_v = (int(rng.integers(lo, hi)) for lo, hi in ((40, 56), (48, 64), (16, 20), (8, 12)))
    shapes = ((n_q, d), (n_k, d), (n_k, d_v), (n_q, d_v))
    q, k, v, g = (jnp.asarray(rng.normal(size=shape), jnp.float32) for shape in shapes)
    result = call_jitted(attention_gradient, q, k, v, g)
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        raise Wrong("return the tuple (dQ, dK, dV): the pullback's output, all three of them")
    names = ("dQ", "dK", "dV")
    for out, shape, name in zip(result, shapes[:3], names, strict=True):
        expect_array(out, shape, jnp.float32, what=name)
    refs = _attention_gradient_reference(q, k, v, g)
    _expect_gradients_close(result, refs, names, max_relative=0.04, max_scale=4e-3, max_each_scale=5e-3, max_shift=1e-3)


def check_attention_gradient(attention_gradient):
    report("attention_gradient", _check_attention_gradient, attention_gradient)


def _check_train_step(train_step):
    rng = np.random.default_rng()
    params, x, y = _random_mlp(rng)
    result = call_jitted(train_step, params, x, y)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise Wrong("return the pair (new_params, loss)")
    new_params, loss = result
    if not isinstance(new_params, dict) or set(new_params) != set(params):
        raise Wrong(f"new_params should be a dict with the keys {sorted(params)}, like params")
    names = sorted(params)
    for name in names:
        expect_array(new_params[name], params[name].shape, jnp.float32, what=f"new_params[{name!r}]")
    expect_array(loss, (), jnp.float32, what="the loss")
    ref_loss, grads = _mlp_reference(params, x, y)
    steps = [_as64(new_params[name]) - _as64(params[name]) for name in names]
    if all(np.all(step == 0) for step in steps):
        raise Wrong("the parameters did not change: subtract LEARNING_RATE times the gradient")
    ref_steps = [-_LEARNING_RATE * grads[name] for name in names]
    out_all = np.concatenate([step.ravel() for step in steps])
    ref_all = np.concatenate([step.ravel() for step in ref_steps])
    if (out_all * ref_all).sum() < 0:
        raise Wrong("the parameters move uphill: subtract the gradient (gradient descent), do not add it")
    for step, name in zip(steps, names, strict=True):
        if np.all(step == 0):
            raise Wrong(f"new_params[{name!r}] did not change: update every parameter")
    labels = [f"the update of {name!r}" for name in names]
    limits = {"max_relative": 0.03, "max_scale": 4e-3, "max_each_scale": 6e-3}
    try:
        _expect_gradients_close(steps, ref_steps, labels, **limits)
    except Wrong as wrong:
        raise Wrong(_diagnose_train_step(steps, ref_steps, params, x, y, labels, limits) or str(wrong)) from None
    if abs(float(loss) / ref_loss - 1) > 5e-3:
        raise Wrong(f"the loss is {float(loss):.4f}, expected {ref_loss:.4f}: the mean squared error at the old params")


def _diagnose_train_step(steps, ref_steps, params, x, y, labels, limits):
    """The message for a known bug whose update this is, or None: the generic message then stands."""
    _, broadcast_grads = _mlp_reference(params, x, y, broadcast=True)
    broadcast_steps = [-_LEARNING_RATE * broadcast_grads[name] for name in sorted(params)]
    try:
        _expect_gradients_close(steps, broadcast_steps, labels, **limits)
    except Wrong:
        pass
    else:
        return (
            "the loss compares every prediction with every target: pred - y broadcasts to (batch, batch) because one"
            " of them is not of shape (batch, 1); keep both (batch, 1)"
        )
    out_all = np.concatenate([step.ravel() for step in steps])
    ref_all = np.concatenate([step.ravel() for step in ref_steps])
    scale = _fitted_scale(out_all, ref_all)
    if np.abs(out_all - scale * ref_all).max() > 0.03 * np.abs(scale * ref_all).max():
        return None  # not a multiple of the right update: no diagnosis
    batch = x.shape[0]
    if abs(scale / batch - 1) < 0.01:
        return (
            f"the update is {batch} times (the batch size) too large: average the squared errors over the batch"
            " (jnp.mean), do not sum them"
        )
    if abs(scale - 0.5) < 0.005:
        return "the update is half the expected one: the loss is the mean of (pred - y) ** 2, with no factor 1/2"
    return None


def check_train_step(train_step):
    report("train_step", _check_train_step, train_step)


def _hvp_tests(rng, n):
    """(f, x, v, exact H v in float64) for elementwise and polynomial functions: no matmul, no rounding noise.

    Every input (x, v and the constant c) is rounded to float32 first, and the references are worked out at those
    rounded values, so the only difference between a right answer and its reference is the float32 arithmetic of
    the answer itself, sin, cos and exp included (accelerator kernels differ there by a few ulps).
    """

    def float32_exact(values):
        return np.asarray(values, np.float32).astype(np.float64)

    x64 = float32_exact(rng.uniform(-1.5, 1.5, size=n))
    v64 = float32_exact(rng.normal(size=n))
    c = float(np.float32(rng.uniform(0.2, 0.4)))

    def sine(x):  # f = Σ x² sin x: a diagonal Hessian
        return jnp.sum(x**2 * jnp.sin(x))

    sine_hv = (2 * np.sin(x64) + 4 * x64 * np.cos(x64) - x64**2 * np.sin(x64)) * v64

    def cube(x):  # f = (Σ x)³: every entry of the Hessian is 6 Σ x
        return jnp.sum(x) ** 3

    # Σv far from 0: a bfloat16-rounded v changes Σv by a tiny relative amount
    v_positive = float32_exact(np.abs(v64) + 0.5)
    cube_hv = 6 * x64.sum() * v_positive.sum() * np.ones(n)

    def wiggle(x):  # f = Σ sin(30 x): with a long v, finite differences (x ± εv) miss its curvature badly
        return jnp.sum(jnp.sin(30.0 * x))

    v_long = float32_exact(30.0 * v64)
    wiggle_hv = -900.0 * np.sin(30.0 * x64) * v_long

    def chain(x):  # f = Σ exp(c x_i x_{i+1}): a tridiagonal Hessian
        return jnp.sum(jnp.exp(c * x[:-1] * x[1:]))

    e = np.exp(c * x64[:-1] * x64[1:])
    diag = np.zeros(n)
    diag[:-1] += e * (c * x64[1:]) ** 2
    diag[1:] += e * (c * x64[:-1]) ** 2
    off = e * c * (1 + c * x64[:-1] * x64[1:])
    chain_hv = diag * v64
    chain_hv[:-1] += off * v64[1:]
    chain_hv[1:] += off * v64[:-1]
    x, v = jnp.asarray(x64, jnp.float32), jnp.asarray(v64, jnp.float32)
    return [
        ("Σ x² sin x", sine, x, v, sine_hv),
        ("(Σ x)³", cube, x, jnp.asarray(v_positive, jnp.float32), cube_hv),
        ("Σ exp(c x_i x_i+1)", chain, x, v, chain_hv),
        ("Σ sin(30 x)", wiggle, x, jnp.asarray(v_long, jnp.float32), wiggle_hv),
    ]


def _largest_square(jaxpr, n):
    """True if some value in the jaxpr (sub-jaxprs included) has shape (n, n): a formed Hessian."""
    for eqn in jaxpr.eqns:
        for var in eqn.outvars:
            if tuple(getattr(var.aval, "shape", ())) == (n, n):
                return True
        if any(_largest_square(inner, n) for inner in _sub_jaxprs(eqn)):
            return True
    return False


def _check_hvp(hvp):
    rng = np.random.default_rng()
    n = int(rng.integers(300, 400))
    for name, f, x, v, exact in _hvp_tests(rng, n):
        out = call_jitted(hvp, f, x, v, static_argnums=0)
        expect_array(out, (n,), jnp.float32, what=f"hvp for f = {name}")
        # 5e-3 of the largest entry: room for a reverse-over-reverse answer whose vdot rounds v to bfloat16 on a
        # TPU (2e-3 at most), not for a 1% error or for finite differences
        if np.abs(_as64(out) - exact).max() > 5e-3 * np.abs(exact).max():
            raise Wrong(f"hvp for f = {name} has the right shape but wrong values (expected H(x) @ v)")
        # rounding noise averages out over the entries; a constant shift (even a small one) does not
        if abs((_as64(out) - exact).mean()) > 1e-3 * np.sqrt((exact**2).mean()):
            raise Wrong(f"hvp for f = {name} is shifted: wrong values (expected H(x) @ v)")
    try:
        formed = _largest_square(jax.make_jaxpr(hvp, static_argnums=0)(f, x, v).jaxpr, n)
    except Exception:
        formed = False  # the calls above already ran it
    if formed:
        raise Wrong(f"the values are right, but the program builds an ({n}, {n}) Hessian: use jvp of grad")


def check_hvp(hvp):
    report("hvp", _check_hvp, hvp)


def _check_clip_gradient(clip_gradient):
    rng = np.random.default_rng()
    shape = (int(rng.integers(20, 30)), int(rng.integers(3, 6)))
    x = jnp.asarray(rng.normal(size=shape), jnp.float32)
    lo, hi = -float(rng.uniform(0.2, 0.5)), float(rng.uniform(0.6, 0.9))
    cotangent64 = rng.uniform(-2, 2, size=shape)
    cotangent = jnp.asarray(cotangent64, jnp.float32)
    value = call_answer(clip_gradient, x, lo, hi)
    expect_array(value, shape, jnp.float32, what="clip_gradient(x, lo, hi)")
    if not np.array_equal(np.asarray(value), np.asarray(x)):
        raise Wrong("the forward pass must return x unchanged; only the gradient is clipped")

    def pulled_back(x, cotangent):
        _, pullback = jax.vjp(lambda x: clip_gradient(x, lo, hi), x)
        return pullback(cotangent)[0]

    try:
        grad_x = jax.jit(pulled_back)(x, cotangent)
    except NotImplementedError:
        raise NotYet() from None
    except Exception as exc:
        raise Wrong(f"its gradient fails under jax.jit(jax.vjp(...)) ({first_line(exc)})") from None
    expect_array(grad_x, shape, jnp.float32, what="the gradient with respect to x")
    expected = np.clip(cotangent64.astype(np.float32), lo, hi)
    if np.allclose(_as64(grad_x), cotangent64, atol=1e-6):
        raise Wrong("the gradient is not clipped: it is the incoming cotangent unchanged")
    if not np.allclose(_as64(grad_x), expected, rtol=1e-6, atol=1e-6):
        raise Wrong(f"the gradient should be the incoming cotangent clipped to [lo, hi] = [{lo:.3f}, {hi:.3f}]")


def check_clip_gradient(clip_gradient):
    report("clip_gradient", _check_clip_gradient, clip_gradient)
