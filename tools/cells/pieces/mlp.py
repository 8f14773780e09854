# --- piece mlp (tools/cells/pieces/mlp.py): the training exercises' tanh MLP, random and by hand in float64 ---
# pieces: reference64


def _mlp_reference(params, x, y, broadcast=False):
    """(loss, gradients) of the mean squared error of tanh(x @ w1 + b1) @ w2 + b2, by hand in float64.

    broadcast=True: the loss of the classic shape bug, `pred - y` with one side of shape (batch,) and the other
    (batch, 1), which broadcasts to (batch, batch) and compares every prediction with every target.
    """
    p = {name: _as64(value) for name, value in params.items()}
    x, y = _as64(x), _as64(y)
    hidden = np.tanh(x @ p["w1"] + p["b1"])
    pred = hidden @ p["w2"] + p["b2"]
    if broadcast:
        residual = pred - y.T  # (batch, batch)
        d_pred = 2 * residual.sum(axis=1, keepdims=True) / residual.size
    else:
        residual = pred - y
        d_pred = 2 * residual / x.shape[0]
    d_z = (d_pred @ p["w2"].T) * (1 - hidden**2)
    grads = {"w1": x.T @ d_z, "b1": d_z.sum(0), "w2": hidden.T @ d_pred, "b2": d_pred.sum(0)}
    return float((residual**2).mean()), grads


def _random_mlp(rng, batch=None):
    """(params, x, y) in float32: random sizes, and `batch` examples (unless given, 32 to 47)."""
    batch = int(rng.integers(32, 48)) if batch is None else batch
    d_in, h = int(rng.integers(6, 10)), int(rng.integers(16, 24))
    params = {
        "w1": rng.normal(size=(d_in, h)) / np.sqrt(d_in),
        "b1": rng.normal(size=h) * 0.5,
        "w2": rng.normal(size=(h, 1)) / np.sqrt(h),
        "b2": rng.normal(size=1) * 0.5,
    }
    params = {name: jnp.asarray(value, jnp.float32) for name, value in params.items()}
    x = jnp.asarray(rng.normal(size=(batch, d_in)), jnp.float32)
    y = jnp.asarray(rng.normal(size=(batch, 1)) + 3.0, jnp.float32)  # far from the predictions: big gradients
    return params, x, y
