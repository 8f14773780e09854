"""Chapter 8's exercise checkers, fed the reference answer, the unfinished stub and at least five wrong answers each.

A checker must print exactly one line, must never raise, must accept a correct answer (also with bfloat16-rounded
matrix products, as on a TPU) and must reject every wrong one, including slightly-off answers: a learning rate or a
weight decay 1% off, logits scaled by 1.01 or shifted by 0.01, a clipped cross-entropy.

Known blind spots, inside the bfloat16 tolerance the forward-pass and step checkers must allow (a TPU rounds
matmul operands): an attention scale of sqrt(dh) * 1.01, a layer-norm eps of 1e-3, an Adam eps of 1e-4. And the
batched_forward checker sees a vmap (or loop) over the examples through the embedding lookup `params["embed"][tokens]`
only: a per-example model that looks its tokens up another way (jnp.take, one_hot @ embed) and is then mapped over
the examples passes.
"""

from functools import partial

import jax
import jax.numpy as jnp
import optax
import pytest
from checker_harness import assert_rejects, bfloat16_matmuls, fresh, load_checkers, stub, verdict

CH08 = load_checkers("08_capstone.ipynb")
HEADS = 8
forward = CH08["_jax_forward"]  # the chapter's one-example model


def layer_norm(x, p, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + eps) * p["scale"] + p["bias"]


# --- train_step ----------------------------------------------------------------------------------------------------


def make_optimizer(peak=1e-2, weight_decay=1e-2, mask=CH08["_decay_mask"], b1=0.9, schedule=None):
    schedule = schedule or optax.warmup_cosine_decay_schedule(0.0, peak, 20, 200, 1e-3)
    return optax.adamw(schedule, b1=b1, b2=0.99, weight_decay=weight_decay, mask=mask)


def example_loss(params, tokens, label):
    return optax.sigmoid_binary_cross_entropy(forward(params, tokens), label)


def make_train_step(
    optimizer=None,
    reduce=jnp.mean,
    update_scale=1.0,
    apply=True,
    donate=(0, 1),
    jit=True,
    grad_fix=lambda g: g,
    loss_after=False,
):
    optimizer = optimizer or make_optimizer()

    def train_step(params, opt_state, x, y):
        def batch_loss(params):
            return reduce(jax.vmap(example_loss, in_axes=(None, 0, 0))(params, x, y))

        loss, grads = jax.value_and_grad(batch_loss)(params)
        grads = grad_fix(grads)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        updates = jax.tree.map(lambda u: u * update_scale, updates)
        new_params = optax.apply_updates(params, updates) if apply else params
        return new_params, opt_state, batch_loss(new_params) if loss_after else loss

    return jax.jit(train_step, donate_argnums=donate) if jit else train_step


def make_batch_first_step(labels_shape=lambda y: y):
    """A step written batch-first (the model vmapped, the loss on all logits at once), jitted with donate_argnames.

    `labels_shape=lambda y: y[:, None]` is the broadcasting bug: (batch,) logits against (batch, 1) labels make a
    (batch, batch) loss whose mean pairs every logit with every label.
    """

    def train_step(params, opt_state, x, y):
        def batch_loss(params):
            logits = jax.vmap(forward, in_axes=(None, 0))(params, x)
            return optax.sigmoid_binary_cross_entropy(logits, labels_shape(y)).mean()

        loss, grads = jax.value_and_grad(batch_loss)(params)
        updates, opt_state = make_optimizer().update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return jax.jit(train_step, donate_argnames=("params", "opt_state"))


def scale_ln2_grad(grads):
    """One small leaf's gradient 10% too large: the optimizer's view of it is wrong, the rest right."""
    block = {**grads["block"], "ln2": jax.tree.map(lambda g: g * 1.1, grads["block"]["ln2"])}
    return {**grads, "block": block}


def test_train_step_accepts_correct_answers(capsys):
    assert verdict(capsys, CH08["check_train_step"], make_train_step()).startswith("✓")
    assert verdict(capsys, CH08["check_train_step"], make_batch_first_step()).startswith("✓")
    with bfloat16_matmuls():
        assert verdict(capsys, CH08["check_train_step"], make_train_step()).startswith("✓")
    assert verdict(capsys, CH08["check_train_step"], stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda: make_train_step(update_scale=1.01), ["scaled"]),  # a learning rate 1% too large
        (lambda: make_train_step(make_optimizer(peak=1.01e-2)), ["scaled"]),
        (lambda: make_train_step(make_optimizer(schedule=lambda count: 1e-2)), ["warm state"]),  # no schedule
        (lambda: make_train_step(make_optimizer(weight_decay=0.0)), ["decayed"]),
        *[(lambda: make_train_step(make_optimizer(weight_decay=1.01e-2)), ["(the weight decay or the learning rate?)"])]
        * 2,
        (lambda: make_train_step(optax.adam(1e-2)), ["use the chapter's `optimizer`", "its own state"]),
        (lambda: make_train_step(optax.sgd(1e-2)), ["use the chapter's `optimizer`"]),
        (lambda: make_train_step(make_optimizer(mask=None)), ["params["]),  # decays every leaf (no crash)
        (lambda: make_train_step(grad_fix=scale_ln2_grad), ["['ln2']", "gradient"]),  # one small leaf's gradient
        (lambda: make_train_step(make_optimizer(mask=lambda p: jax.tree.map(lambda v: True, p))), ["params["]),
        (lambda: make_train_step(reduce=jnp.sum), ["the sum over the batch"]),
        *[(lambda: make_train_step(loss_after=True), ["updated parameters"])] * 3,  # the loss after the update
        (lambda: make_batch_first_step(labels_shape=lambda y: y[:, None]), ["every logit with every label"]),
        (lambda: make_train_step(apply=False), ["did not change"]),
        (lambda: make_train_step(update_scale=-1.0), ["update"]),
        (lambda: make_train_step(make_optimizer(b1=0.95)), ["gradient"]),
        (lambda: make_train_step(donate=()), ["donated"]),
        (lambda: make_train_step(donate=(0, 1, 2, 3)), ["donate only"]),
        (lambda: make_train_step(jit=False), ["donated"]),
        (lambda: lambda p, s, x, y: (p, s), ["triple"]),
    ],
)
def test_train_step_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH08["check_train_step"], answer(), *words)


# --- batched_forward -----------------------------------------------------------------------------------------------


def attention(q, k, v, att_scale="sqrt", softmax_axis=-1):
    d = q.shape[-1]
    scores = q @ k.T / {"sqrt": jnp.sqrt(d), "none": 1.0, "twice": d}[att_scale]
    return jax.nn.softmax(scores, axis=softmax_axis) @ v


def multi_head(Q, K, V, num_heads, merge="right", **attention_options):
    batch, n, d = Q.shape

    def split(X):
        return X.reshape(batch, n, num_heads, d // num_heads)

    one_head = partial(attention, **attention_options)
    out_axes = 1 if merge == "right" else 0  # 0: (heads, n, dh) per example, reshaped without moving heads back
    out = jax.vmap(jax.vmap(one_head, in_axes=1, out_axes=out_axes))(split(Q), split(K), split(V))
    return out.reshape(batch, n, d)


def batched_forward(
    params,
    tokens,
    heads=HEADS,
    pos=True,
    residual=True,
    ln1=True,
    ln2=True,
    readout="first",
    scale=1.0,
    shift=0.0,
    b1=True,
    b2=True,
    bias=True,
    wo=True,
    relu=True,
    gelu=False,
    take=False,
    flat=False,
    per_position=False,
    **attention_options,
):
    p = params["block"]
    if per_position:  # one lookup per position, each across the whole batch
        embedded = jnp.stack([params["embed"][tokens[:, i]] for i in range(tokens.shape[1])], 1)
    elif flat:  # one lookup of all the ids, flattened, then the batch shape back
        embedded = params["embed"][tokens.reshape(-1), :].reshape(*tokens.shape, -1)
    else:
        embedded = jnp.take(params["embed"], tokens, axis=0) if take else params["embed"][tokens]
    h = embedded + (params["pos"] if pos else 0.0)
    x = layer_norm(h, p["ln1"]) if ln1 else h
    att = multi_head(x @ p["wq"], x @ p["wk"], x @ p["wv"], heads, **attention_options)
    att = att @ p["wo"] if wo else att
    h = h + att if residual else att
    x = layer_norm(h, p["ln2"]) if ln2 else h
    hidden = x @ p["w1"] + (p["b1"] if b1 else 0.0)
    hidden = jax.nn.gelu(hidden) if gelu else jax.nn.relu(hidden) if relu else hidden
    h = h + hidden @ p["w2"] + (p["b2"] if b2 else 0.0)
    pooled = {"first": h[:, 0], "last": h[:, -1], "mean": h.mean(1)}[readout]
    return (pooled @ params["readout"]["w"] + (params["readout"]["b"] if bias else 0.0)) * scale + shift


def forward_with(**kwargs):
    return lambda params, tokens: batched_forward(params, tokens, **kwargs)


def take_lookup(params, tokens):
    """The batch written by hand, with the embedding looked up by jnp.take rather than by indexing."""
    return batched_forward(params, tokens, take=True)


def one_row_at_a_time(params, tokens):
    """A Python loop over the examples: right logits, but not the batch written by hand."""
    return jnp.stack([forward(params, row) for row in tokens])


def extra_lookup(params, tokens):
    """Batch-first, plus a lookup of the first position alone (unused in the result)."""
    first = params["embed"][tokens[:, 0]]
    return batched_forward(params, tokens) + 0.0 * first.sum()


def test_batched_forward_accepts_correct_answers(capsys):
    for _ in range(3):
        assert verdict(capsys, CH08["check_batched_forward"], batched_forward).startswith("✓")
    assert verdict(capsys, CH08["check_batched_forward"], jax.jit(batched_forward)).startswith("✓")
    assert verdict(capsys, CH08["check_batched_forward"], take_lookup).startswith("✓")  # the probe cannot tell: allowed
    assert verdict(capsys, CH08["check_batched_forward"], forward_with(flat=True)).startswith("✓")  # still by hand
    for _ in range(2):  # lookups of fewer ids than the whole batch, but each of a whole column: still by hand
        assert verdict(capsys, CH08["check_batched_forward"], forward_with(per_position=True)).startswith("✓")
        assert verdict(capsys, CH08["check_batched_forward"], extra_lookup).startswith("✓")
    with bfloat16_matmuls():
        for _ in range(5):
            assert verdict(capsys, CH08["check_batched_forward"], fresh(batched_forward)).startswith("✓")
    assert verdict(capsys, CH08["check_batched_forward"], stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (forward_with(scale=1.01), ["scale of 1.01"]),
        *[(forward_with(shift=0.01), ["shift of +0.01", "bias"])] * 2,
        *[(forward_with(gelu=True), ["gelu"])] * 3,  # not a shift
        (forward_with(heads=4), ["number of heads is 4"]),
        (forward_with(heads=1), ["number of heads is 1"]),
        (forward_with(pos=False), ["positional embedding"]),
        (forward_with(residual=False), ["residual around the attention"]),
        (forward_with(ln1=False), ["ln1"]),
        (forward_with(ln2=False), ["ln2"]),
        (forward_with(readout="last"), ["last position"]),
        (forward_with(readout="mean"), ["averages"]),
        *[(forward_with(bias=False), ["readout bias"])] * 3,  # a shift of 0.025 to 0.05
        *[(forward_with(b2=False), ["b2"])] * 3,  # every logit moves by readout.w · b2
        (forward_with(b1=False), ["b1"]),
        (forward_with(wo=False), ["wo"]),
        (forward_with(relu=False), ["relu"]),
        (forward_with(att_scale="twice"), ["twice"]),  # divides again after multi_head_batched did
        (forward_with(att_scale="none"), ["not divided"]),  # an attention of one's own without the scale
        (forward_with(softmax_axis=-2), ["softmax", "keys"]),
        (forward_with(merge="transposed"), ["wrong order"]),  # heads joined without moving them back
        (lambda params, tokens: batched_forward(params, tokens) + 0.3 * jnp.tanh(tokens[:, 1]), ["wrong values"]),
        (jax.vmap(forward, in_axes=(None, 0)), ["one example at a time"]),  # the prompt: no vmap over examples
        (jax.jit(jax.vmap(forward, in_axes=(None, 0))), ["one example at a time"]),
        (lambda params, tokens: jax.lax.map(lambda row: forward(params, row), tokens), ["one example at a time"]),
        (one_row_at_a_time, ["one example at a time"]),
        (lambda params, tokens: batched_forward(params, tokens)[:, None], ["shape"]),
        (lambda params, tokens: batched_forward(params, tokens).astype(jnp.bfloat16), ["dtype"]),
    ],
)
def test_batched_forward_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH08["check_batched_forward"], answer, *words)


# --- bce -----------------------------------------------------------------------------------------------------------


def bce(logits, labels):
    return -(labels * jax.nn.log_sigmoid(logits) + (1 - labels) * jax.nn.log_sigmoid(-logits))


def buggy(logits, labels):
    p = jax.nn.sigmoid(logits)
    return -(labels * jnp.log(p) + (1 - labels) * jnp.log(1 - p))


def clipped(logits, labels, eps=1e-7):
    p = jnp.clip(jax.nn.sigmoid(logits), eps, 1 - eps)
    return -(labels * jnp.log(p) + (1 - labels) * jnp.log(1 - p))


def branchy(logits, labels):
    p = jax.nn.sigmoid(logits)
    return jnp.where(labels > 0.5, -jnp.log(p), -jnp.log(1 - p))


def test_bce_accepts_correct_answers(capsys):
    assert verdict(capsys, CH08["check_bce"], bce).startswith("✓")
    assert verdict(capsys, CH08["check_bce"], optax.sigmoid_binary_cross_entropy).startswith("✓")
    assert verdict(capsys, CH08["check_bce"], stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (buggy, ["NaN"]),
        (clipped, ["wrong value"]),
        (lambda z, y: clipped(z, y, eps=1e-6), ["wrong value"]),
        (branchy, ["NaN"]),
        (lambda z, y: jnp.log1p(jnp.exp(z)) - z * y, ["infin"]),  # exp overflows above about 88
        (lambda z, y: bce(z, 1 - y), ["wrong value"]),
        (lambda z, y: bce(z, y) * 1.01, ["wrong value"]),
        (lambda z, y: bce(z, y) + 0.01, ["wrong value"]),
        (lambda z, y: jnp.mean(bce(z, y)), ["shape"]),
        (lambda z, y: jax.lax.stop_gradient(bce(z, y)), ["gradient"]),
    ],
)
def test_bce_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH08["check_bce"], answer, *words)
