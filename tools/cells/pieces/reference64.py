# --- piece reference64 (tools/cells/pieces/reference64.py): float64 NumPy references ---


def _as64(value):
    return np.asarray(value, dtype=np.float64)


def _softmax64(scores, axis=-1):
    scores = scores - scores.max(axis=axis, keepdims=True)
    weights = np.exp(scores)
    return weights / weights.sum(axis=axis, keepdims=True)


def _attention64(q, k, v, scale=None, axis=-1):
    """softmax(q kᵀ / scale) v for one example in float64 NumPy (scale √d unless given; the softmax over `axis`)."""
    q, k, v = _as64(q), _as64(k), _as64(v)
    scale = np.sqrt(q.shape[-1]) if scale is None else scale
    return _softmax64(q @ k.T / scale, axis=axis) @ v
