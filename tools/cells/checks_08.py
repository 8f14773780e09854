# --- Chapter 8: capstone ---
# pieces: fit, reference64
import os as _os  # noqa: E402
import traceback as _traceback  # noqa: E402
import warnings as _warnings  # noqa: E402

import optax  # noqa: E402

# The chapter's model and optimizer, repeated here so the checkers have their own reference.
_VOCAB, _LENGTH, _D, _HEADS, _MLP = 8, 16, 32, 8, 64
_B1, _B2, _WEIGHT_DECAY = 0.9, 0.99, 1e-2


def _decay_mask(params):
    """Weight decay on the block's matrices only: not on embeddings, biases, scales or the readout."""
    mask = jax.tree.map(lambda p: p.ndim == 2, params)
    mask["embed"] = mask["pos"] = False
    return mask


def _reference_optimizer():
    schedule = optax.warmup_cosine_decay_schedule(0.0, 1e-2, 20, 200, 1e-3)
    return optax.adamw(schedule, b1=_B1, b2=_B2, weight_decay=_WEIGHT_DECAY, mask=_decay_mask)


def _random_params(rng, readout_scale=1.0):
    """Parameters with the chapter's structure and random values (nothing zero, so every path matters)."""

    def normal(*shape, scale=1.0):
        return jnp.asarray(rng.normal(size=shape) * scale, jnp.float32)

    def norm():
        return {"scale": 1.0 + normal(_D, scale=0.2), "bias": normal(_D, scale=0.1)}

    def away_from_zero(size):
        """A scalar of magnitude between size/2 and size, either sign: leaving it out always shows."""
        return jnp.asarray(rng.choice([-1.0, 1.0]) * rng.uniform(size / 2, size), jnp.float32)

    return {
        "embed": normal(_VOCAB, _D),
        "pos": normal(_LENGTH, _D, scale=0.5),
        "block": {
            "ln1": norm(),
            "wq": normal(_D, _D, scale=_D**-0.5),
            "wk": normal(_D, _D, scale=_D**-0.5),
            "wv": normal(_D, _D, scale=_D**-0.5),
            "wo": normal(_D, _D, scale=_D**-0.5),
            "ln2": norm(),
            "w1": normal(_D, _MLP, scale=_D**-0.5),
            "b1": normal(_MLP, scale=0.1),
            "w2": normal(_MLP, _D, scale=0.5 * _MLP**-0.5),
            "b2": normal(_D, scale=0.1),
        },
        "readout": {"w": normal(_D, scale=readout_scale * _D**-0.5), "b": away_from_zero(0.1 * readout_scale)},
    }


def _random_batch(rng, batch):
    tokens = rng.integers(0, _VOCAB, size=(batch, _LENGTH))
    labels = (rng.random(batch) < 0.5).astype(np.float32)
    return jnp.asarray(tokens, jnp.int32), jnp.asarray(labels)


def _numpy_logits(params, tokens, **mistake):
    """The chapter's model on a batch, by hand in float64 NumPy: (batch, L) tokens -> (batch,) logits.

    Keyword arguments rebuild a known mistake instead (see _FORWARD_MISTAKES), so a checker can name the one an
    answer matches.
    """
    m = {
        "pos": True, "ln1": True, "ln2": True, "res1": True, "res2": True, "wo": True, "b1": True, "b2": True,
        "bias": True, "heads": _HEADS, "scale": "sqrt", "softmax_axis": -1, "merge": "right", "act": "relu",
        "readout": "first",
    }  # fmt: skip
    m.update(mistake)
    p = jax.tree.map(_as64, params)
    blk = p["block"]

    def layer_norm(x, ln, on=True):
        if not on:
            return x
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-5) * ln["scale"] + ln["bias"]

    h = p["embed"][np.asarray(tokens)] + (p["pos"] if m["pos"] else 0.0)  # (B, L, D)
    x = layer_norm(h, blk["ln1"], m["ln1"])
    batch, length, d = x.shape
    heads = m["heads"]
    dh = d // heads
    q, k, v = ((x @ blk[name]).reshape(batch, length, heads, dh) for name in ("wq", "wk", "wv"))
    scores = np.einsum("bqhd,bkhd->bhqk", q, k) / {"sqrt": np.sqrt(dh), "none": 1.0, "twice": dh}[m["scale"]]
    axis = m["softmax_axis"]
    weights = _softmax64(scores, axis)
    if m["merge"] == "right":
        att = np.einsum("bhqk,bkhd->bqhd", weights, v).reshape(batch, length, d)
    else:  # (batch, heads, L, dh) reshaped as it is: the head axis never moved back next to dh
        att = np.einsum("bhqk,bkhd->bhqd", weights, v).reshape(batch, length, d)
    att = att @ blk["wo"] if m["wo"] else att
    h = h + att if m["res1"] else att
    x = layer_norm(h, blk["ln2"], m["ln2"])
    hidden = x @ blk["w1"] + (blk["b1"] if m["b1"] else 0.0)
    if m["act"] == "relu":
        hidden = np.maximum(hidden, 0)
    elif m["act"] == "gelu":  # jax.nn.gelu's default, the tanh approximation
        hidden = 0.5 * hidden * (1 + np.tanh(np.sqrt(2 / np.pi) * (hidden + 0.044715 * hidden**3)))
    mlp = hidden @ blk["w2"] + (blk["b2"] if m["b2"] else 0.0)
    h = h + mlp if m["res2"] else mlp
    pooled = {"first": h[:, 0], "last": h[:, -1], "mean": h.mean(1)}[m["readout"]]
    return pooled @ p["readout"]["w"] + (p["readout"]["b"] if m["bias"] else 0.0)


# Mistakes readers make in the batched model, each with the line that names it (the first one an answer matches).
_FORWARD_MISTAKES = [
    ({"bias": False}, "the readout bias params['readout']['b'] is missing"),
    ({"b2": False}, "the MLP's output bias b2 is missing"),
    ({"b1": False}, "the MLP's hidden bias b1 is missing"),
    ({"pos": False}, "the positional embedding params['pos'] is missing: add it to the token embeddings"),
    ({"scale": "twice"}, "the scores are divided by sqrt(dh) twice: multi_head_batched already scales them"),
    ({"scale": "none"}, "the attention scores are not divided by sqrt(dh)"),
    ({"softmax_axis": -2}, "the softmax runs over the queries: take it over the keys, the last axis of the scores"),
    (
        {"merge": "transposed"},
        "the heads are joined in the wrong order: put the head axis back before dh, then reshape",
    ),
    *[({"heads": n}, f"the number of heads is {n}, not HEADS = {_HEADS}") for n in (1, 2, 4, 16, 32)],
    ({"readout": "last"}, "the readout reads the last position: read position 0, the query, h[:, 0]"),
    ({"readout": "mean"}, "the readout averages over the positions: read position 0, the query, h[:, 0]"),
    ({"ln1": False}, "the first layer norm (ln1, before the attention) is missing"),
    ({"ln2": False}, "the second layer norm (ln2, before the MLP) is missing"),
    ({"res1": False}, "the residual around the attention is missing: h = h + attention @ wo"),
    ({"res2": False}, "the residual around the MLP is missing: h = h + mlp(x)"),
    ({"wo": False}, "the attention's output projection wo is missing"),
    ({"act": "none"}, "the MLP has no relu between its two layers"),
    ({"act": "gelu"}, "the MLP uses gelu: the chapter's block uses relu"),
]


def _forward_mistake(params, tokens, out, error):
    """The line of the known mistake whose logits `out` matches (much closer than the right ones), or None."""
    best = None
    for mistake, message in _FORWARD_MISTAKES:
        wrong = _numpy_logits(params, tokens, **mistake)
        distance = np.abs(out - wrong).max()
        if distance < 0.25 * error and distance < 0.02 * np.abs(wrong).max() and (best is None or distance < best[0]):
            best = (distance, message)
    return None if best is None else best[1]


class _LookupProbe:
    """Stands in for params["embed"] in one extra trace of the answer: records how many token ids each lookup gets.
    Written by hand, a lookup gets the whole (batch, LENGTH) array (or all of it flattened); mapped over the examples
    (vmap, lax.map or a Python loop), it gets one row of LENGTH ids at a time."""

    def __init__(self, table, seen):
        self.table, self.seen = table, seen

    def __getitem__(self, index):
        rows = index[0] if isinstance(index, tuple) else index  # embed[tokens] or embed[tokens, :]
        if hasattr(rows, "shape"):
            self.seen.append(int(np.prod(rows.shape)))  # how many token ids this one lookup gets
        return self.table[index]

    shape = property(lambda self: self.table.shape)
    dtype = property(lambda self: self.table.dtype)
    ndim = property(lambda self: self.table.ndim)


class _Seen(list):
    __hash__ = object.__hash__  # pytree aux data must be hashable: compared by identity, one list per probe


jax.tree_util.register_pytree_node(
    _LookupProbe, lambda probe: ((probe.table,), probe.seen), lambda seen, children: _LookupProbe(children[0], seen)
)


def _lookups_per_row(batched_forward, params, tokens):
    """True if the answer looks up one row of tokens at a time; None if the probe cannot tell (another spelling)."""
    seen = _Seen()
    probed = {**params, "embed": _LookupProbe(params["embed"], seen)}
    try:
        jax.eval_shape(batched_forward, probed, tokens)
    except Exception:  # jnp.take, .at[].get(), one_hot @ embed, ...: the probe does not apply, so it allows
        return None
    # at most one row of ids in every lookup: mapped over the examples. A lookup of the whole batch, of all the ids
    # flattened or of one position across the batch (tokens[:, i]: 48 to 72 ids, more than LENGTH) is by hand.
    return max(seen) <= tokens.shape[1] if seen else None


def _check_batched_forward(batched_forward):
    rng = np.random.default_rng()
    batch = int(rng.integers(48, 72))
    params = _random_params(rng, readout_scale=0.5)  # small logits: a shift of 0.01 stands out
    # b2 reaches the logits only through the readout: give its projection w·b2 a magnitude of 0.05 to 0.1 too
    w = _as64(params["readout"]["w"])
    b2 = _as64(params["block"]["b2"])
    b2 = b2 - (w @ b2) / (w @ w) * w + float(rng.choice([-1.0, 1.0]) * rng.uniform(0.05, 0.1)) / (w @ w) * w
    params["block"]["b2"] = jnp.asarray(b2, jnp.float32)
    tokens, _ = _random_batch(rng, batch)
    logits = call_jitted(batched_forward, params, tokens)
    expect_array(logits, (batch,), jnp.float32, what="the logits")
    ref = _numpy_logits(params, tokens)
    out = _as64(logits)
    error = np.abs(out - ref).max()
    if error > 1e-3 * np.abs(ref).max():  # more than float32 rounding: is it a mistake we know?
        mistake = _forward_mistake(params, tokens, out, error)
        if mistake:
            raise Wrong(mistake)
    # bfloat16 matmul operands (TPU) move single logits by up to about 2% of the largest; a wrong model by far more
    if error > 0.05 * np.abs(ref).max():
        raise Wrong("the logits have the right shape but wrong values: compare your model with `forward`, step by step")
    scale, shift = _scale_and_shift(out, ref)
    if abs(scale - 1) > 4e-3:
        raise Wrong(
            f"the logits are off by about a scale of {scale:.4f} (a weight scaled, or a small change to the model?)"
        )
    if abs(shift) > 4e-3:
        raise Wrong(
            f"the logits are off by about a shift of {shift:+.4f} "
            "(a missing or extra bias, or a small change to the model?)"
        )
    if _lookups_per_row(batched_forward, params, tokens):
        raise Wrong(
            "the logits are right, but the model sees one example at a time (vmap, lax.map or a loop over the rows): "
            "the exercise asks for the batch axis by hand, params['embed'][tokens] on the whole batch"
        )


def check_batched_forward(batched_forward):
    report("batched_forward", _check_batched_forward, batched_forward)


def _reference_step(optimizer):
    def example_loss(params, tokens, label):
        logit = _jax_forward(params, tokens)
        return optax.sigmoid_binary_cross_entropy(logit, label)

    def loss_fn(params, tokens, labels):
        return jnp.mean(jax.vmap(example_loss, in_axes=(None, 0, 0))(params, tokens, labels))

    def step(params, opt_state, tokens, labels):
        loss, grads = jax.value_and_grad(loss_fn)(params, tokens, labels)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return jax.jit(step)


def _jax_forward(params, tokens):
    """The chapter's `forward` (one example), in JAX: the checker's reference for gradients."""
    blk = params["block"]

    def layer_norm(x, ln):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / jnp.sqrt(var + 1e-5) * ln["scale"] + ln["bias"]

    h = params["embed"][tokens] + params["pos"]
    x = layer_norm(h, blk["ln1"])
    dh = _D // _HEADS
    q, k, v = ((x @ blk[name]).reshape(_LENGTH, _HEADS, dh) for name in ("wq", "wk", "wv"))
    weights = jax.nn.softmax(jnp.einsum("qhd,khd->hqk", q, k) / jnp.sqrt(dh), axis=-1)
    h = h + jnp.einsum("hqk,khd->qhd", weights, v).reshape(_LENGTH, _D) @ blk["wo"]
    x = layer_norm(h, blk["ln2"])
    h = h + jax.nn.relu(x @ blk["w1"] + blk["b1"]) @ blk["w2"] + blk["b2"]
    return h[0] @ params["readout"]["w"] + params["readout"]["b"]


def _warm_state(optimizer, params, rng, count, mu_scale, nu_value):
    """An optimizer state as after `count` steps: Adam's first step is blind to the gradient's scale."""
    state = optimizer.init(params)
    adam, masked, schedule = state
    mu = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape) * mu_scale, jnp.float32), params)
    if nu_value is None:  # a plausible second moment, larger than mu²
        nu = jax.tree.map(lambda m: m**2 + jnp.asarray(rng.uniform(1, 2, size=m.shape) * mu_scale**2), mu)
    else:
        nu = jax.tree.map(lambda p: jnp.full(p.shape, nu_value, jnp.float32), params)
    count = jnp.asarray(count, jnp.int32)
    return (adam._replace(count=count, mu=mu, nu=nu), masked, schedule._replace(count=count))


def _copy(tree):
    return jax.tree.map(jnp.copy, tree)


def _raised_in_optax(exc):
    return any(f"{_os.sep}optax{_os.sep}" in frame.filename for frame in _traceback.extract_tb(exc.__traceback__))


def _call_step(train_step, *args):
    """call_answer, except that a crash inside optax (another optimizer's update fed adamw's state) says so."""
    if not callable(train_step):
        return call_answer(train_step, *args)  # its "expected a function" line
    try:
        return train_step(*args)
    except NotImplementedError:
        raise NotYet() from None
    except Exception as exc:
        if _raised_in_optax(exc):
            raise Wrong(
                "use the chapter's `optimizer`: the checker passes its own state, and your optimizer's update "
                f"fails on it ({first_line(exc)[:60]}...)"
            ) from None
        raise Wrong(f"your function raised {first_line(exc)}") from None


def _run_step(train_step, params, opt_state, tokens, labels):
    """Call the reader's step on copies; check donation and the result's structure."""
    p_in, s_in = _copy(params), _copy(opt_state)
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        # Not the kernel's own warnings (older Jupyter, as on Colab).
        _warnings.filterwarnings("ignore", module="jupyter_client")
        result = _call_step(train_step, p_in, s_in, tokens, labels)
    if any("donated buffers were not usable" in str(w.message) for w in caught):
        raise Wrong("some donated buffers were not usable: donate only params and opt_state, donate_argnums=(0, 1)")
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        raise Wrong("return the triple (new_params, new_opt_state, loss)")
    new_params, new_state, loss = result
    if jax.tree.structure(new_params) != jax.tree.structure(params):
        raise Wrong("new_params should have the structure of params (apply the updates with optax.apply_updates)")
    if jax.tree.structure(new_state) != jax.tree.structure(opt_state):
        raise Wrong("new_opt_state should have the structure of the optimizer's state: return optimizer.update's")
    for leaf, ref in zip(jax.tree.leaves(new_params), jax.tree.leaves(params), strict=True):
        expect_array(leaf, ref.shape, jnp.float32, what="a leaf of new_params")
    expect_array(loss, (), jnp.float32, what="the loss")
    if not all(leaf.is_deleted() for leaf in jax.tree.leaves((p_in, s_in))):
        raise Wrong("params and opt_state were not donated: jax.jit(train_step, donate_argnums=(0, 1))")
    return new_params, new_state, loss


def _expect_steps_close(new, ref_new, old, what, max_scale=3e-3, hint="the learning rate or its schedule?"):
    """Each leaf's step (new - old) agrees with the reference step; together, no overall scale."""
    steps, refs = [], []
    for (path, a), b, o in zip(
        jax.tree_util.tree_leaves_with_path(new), jax.tree.leaves(ref_new), jax.tree.leaves(old), strict=True
    ):
        step, ref = _as64(a) - _as64(o), _as64(b) - _as64(o)
        name = jax.tree_util.keystr(path)
        largest = max(np.abs(ref).max(), 1e-12)
        if np.abs(step - ref).max() > 0.05 * largest:
            if np.all(step == 0):
                raise Wrong(f"{what}: params{name} did not change: apply the updates")
            raise Wrong(f"{what}: the update of params{name} is wrong")
        steps.append(step.ravel())
        refs.append(ref.ravel())
    out_all, ref_all = np.concatenate(steps), np.concatenate(refs)
    scale = _fitted_scale(out_all, ref_all)
    if abs(scale - 1) > max_scale:
        raise Wrong(f"{what}: the updates are scaled by {scale:.4f} ({hint})")


def _read_grads(new_state, old_state):
    """The gradients a step gave the optimizer, read back from Adam's first moment: mu_new = b1 mu + (1 - b1) g."""
    return jax.tree.map(lambda m, m0: (_as64(m) - _B1 * _as64(m0)) / (1 - _B1), new_state[0].mu, old_state[0].mu)


def _numpy_losses(params, tokens, labels):
    """Each example's binary cross-entropy, in float64 NumPy, and the logits it came from."""
    z, y = _numpy_logits(params, tokens), _as64(labels)
    return np.logaddexp(0.0, z) - z * y, z


def _loss_mistake(loss, ref_loss, params, new_params, tokens, labels):
    """The line for a wrong loss: which known mistake it matches, or what the loss should be."""
    losses, z = _numpy_losses(params, tokens, labels)
    y = _as64(labels)

    def close(value):
        return np.isclose(loss, value, rtol=2e-3, atol=1e-4)

    if close(_numpy_losses(new_params, tokens, labels)[0].mean()):
        return "the loss is the one at the updated parameters: return value_and_grad's loss, before the update"
    if close(losses.sum()):
        return "the loss is the sum over the batch: take the mean of the per-example losses"
    if close((np.logaddexp(0.0, z)[:, None] - z[:, None] * y[None, :]).mean()):
        return "the loss pairs every logit with every label (a (batch, batch) broadcast): check the shapes"
    return (
        f"the loss is {loss:.4f}, expected {ref_loss:.4f}: the mean of example_loss over the batch, before the update"
    )


def _check_train_step(train_step):
    rng = np.random.default_rng()
    optimizer = _reference_optimizer()
    reference = _reference_step(optimizer)
    params = _random_params(rng)
    tokens, _ = _random_batch(rng, int(rng.integers(24, 40)))
    # Labels that follow the logits: a (batch, batch) broadcast of the loss is off by cov(logits, labels), which
    # independent random labels make near 0 in about 3% of draws, hiding that mistake behind a vaguer message.
    logits = _numpy_logits(params, tokens)
    labels = jnp.asarray(logits > np.median(logits), jnp.float32)

    # 1. A warm state in the middle of the schedule: loss, gradients (through Adam's mu) and updates. Its momentum
    #    has a downhill part, so the step lowers the loss visibly: a loss taken after the update does not pass.
    state = _warm_state(optimizer, params, rng, count=int(rng.integers(30, 60)), mu_scale=0.02, nu_value=None)
    _run_step(train_step, params, state, tokens, labels)  # the stub, a crash or a wrong structure: stop here
    _, probe, _ = reference(params, state, tokens, labels)
    downhill = jax.tree.map(lambda g: g / np.sqrt(np.mean(g**2) + 1e-30), _read_grads(probe, state))
    mu = jax.tree.map(lambda m, g: jnp.asarray(_as64(m) + 0.02 * g, jnp.float32), state[0].mu, downhill)
    state = (state[0]._replace(mu=mu), *state[1:])
    new_params, new_state, loss = _run_step(train_step, params, state, tokens, labels)
    ref_params, ref_state, ref_loss = reference(params, state, tokens, labels)
    if not np.isclose(float(loss), float(ref_loss), rtol=2e-3, atol=1e-4):
        raise Wrong(_loss_mistake(float(loss), float(ref_loss), params, new_params, tokens, labels))
    if int(new_state[0].count) != int(ref_state[0].count):
        raise Wrong("the optimizer state's step count did not advance: return the state optimizer.update gives")
    grads, ref_grads = _read_grads(new_state, state), _read_grads(ref_state, state)
    # leaf by leaf, each relative to its own size: a small leaf's error is not hidden by a large leaf
    for (path, g), r in zip(jax.tree_util.tree_leaves_with_path(grads), jax.tree.leaves(ref_grads), strict=True):
        name = jax.tree_util.keystr(path)
        if np.linalg.norm(g - r) > 0.05 * np.linalg.norm(r) + 1e-6:
            raise Wrong(f"the gradient the optimizer received for params{name} is wrong: the mean loss's, and b1={_B1}")
    g_all = np.concatenate([g.ravel() for g in jax.tree.leaves(grads)])
    r_all = np.concatenate([g.ravel() for g in jax.tree.leaves(ref_grads)])
    scale = _fitted_scale(g_all, r_all)
    if abs(scale - 1) > 5e-3:
        raise Wrong(f"the gradients are scaled by {scale:.4f}: the gradient of the mean (not the sum) of the losses")
    _expect_steps_close(new_params, ref_params, params, "after a warm state")

    # 2. mu = 0 and a huge nu: Adam's part of the update vanishes and only the weight decay is left.
    state = _warm_state(optimizer, params, rng, count=int(rng.integers(30, 60)), mu_scale=0.0, nu_value=1e6)
    new_params, _, _ = _run_step(train_step, params, state, tokens, labels)
    ref_params, _, _ = reference(params, state, tokens, labels)
    for (path, a), b, o, decayed in zip(
        jax.tree_util.tree_leaves_with_path(new_params),
        jax.tree.leaves(ref_params),
        jax.tree.leaves(params),
        jax.tree.leaves(_decay_mask(params)),
        strict=True,
    ):
        step, ref = _as64(a) - _as64(o), _as64(b) - _as64(o)
        if np.abs(step - ref).max() > 0.03 * np.abs(ref).max() + 1e-8:
            name = jax.tree_util.keystr(path)
            if decayed:
                raise Wrong(f"params{name} is not decayed as expected: adamw with the chapter's weight decay")
            raise Wrong(f"params{name} is decayed but should not be: pass the chapter's mask to adamw")
    _expect_steps_close(
        new_params,
        ref_params,
        params,
        "the weight decay",
        max_scale=2e-3,
        hint="the weight decay or the learning rate?",
    )


def check_train_step(train_step):
    report("train_step", _check_train_step, train_step)


def _check_bce(bce):
    rng = np.random.default_rng()
    n = int(rng.integers(40, 60))
    logits64 = rng.uniform(-60, 60, size=n)
    # far out: where float32 sigmoid rounds to exactly 1 or nearly 0, and (beyond about 88) exp overflows
    logits64[:8] = [30.0, -30.0, 45.0, -45.0, 100.0, -100.0, 1000.0, -1000.0]
    logits64[8:12] = rng.uniform(-200, 200, size=4)
    labels64 = (rng.random(n) < 0.5).astype(np.float64)
    labels64[:8] = [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0]
    logits, labels = jnp.asarray(logits64, jnp.float32), jnp.asarray(labels64, jnp.float32)
    z = _as64(logits)
    exact = np.maximum(z, 0) - z * labels64 + np.log1p(np.exp(-np.abs(z)))
    out = call_jitted(bce, logits, labels)
    expect_array(out, (n,), jnp.float32, what="bce(logits, labels)")
    bad = np.abs(_as64(out) - exact) > 1e-5 * np.abs(exact) + 1e-5
    if bad.any():
        i = int(np.argmax(bad))
        got = float(out[i])
        raise Wrong(f"wrong value at logit {z[i]:.1f}, label {labels64[i]:.0f}: {got:.4f}, expected {exact[i]:.4f}")

    def total(logits):
        return jnp.sum(bce(logits, labels))

    try:
        grads = jax.jit(jax.grad(total))(logits)
    except Exception as exc:
        raise Wrong(f"its gradient fails ({first_line(exc)})") from None
    expect_array(grads, (n,), jnp.float32, what="the gradient with respect to the logits")
    sigmoid = 0.5 * (1 + np.tanh(z / 2))  # 1 / (1 + exp(-z)), without overflow
    if not np.allclose(_as64(grads), sigmoid - labels64, rtol=1e-4, atol=1e-5):
        raise Wrong("the values are right but the gradient is not sigmoid(logit) - label")


def check_bce(bce):
    report("bce", _check_bce, bce)
