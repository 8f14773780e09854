"""Chapter 7's exercise checkers, fed the reference answer, the unfinished stub and at least five wrong answers each.

A checker must print exactly one line, must never raise, must accept a correct answer (also with bfloat16-rounded
matrix products, as on a TPU) and must reject every wrong one, including slightly-off answers: a learning rate or a
weight decay 1% off, logits scaled by 1.01 or shifted by 0.01, a clipped cross-entropy.

Known blind spots, inside the bfloat16 tolerance the forward-pass and step checkers must allow (a TPU rounds
matmul operands): an attention scale of sqrt(dh) * 1.01, a layer-norm eps of 1e-3, an Adam eps of 1e-4.
"""

import jax
import jax.numpy as jnp
import optax
import pytest
from checker_harness import assert_rejects, bfloat16_matmuls, fresh, load_checkers, stub, verdict

CH07 = load_checkers("07_capstone.ipynb")
HEADS = 8
forward = CH07["_jax_forward"]  # the chapter's one-example model


def layer_norm(x, p, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + eps) * p["scale"] + p["bias"]


# --- train_step ----------------------------------------------------------------------------------------------------


def make_optimizer(peak=1e-2, weight_decay=1e-2, mask=CH07["_decay_mask"], b1=0.9, schedule=None):
    schedule = schedule or optax.warmup_cosine_decay_schedule(0.0, peak, 20, 200, 1e-3)
    return optax.adamw(schedule, b1=b1, b2=0.99, weight_decay=weight_decay, mask=mask)


def example_loss(params, tokens, label):
    return optax.sigmoid_binary_cross_entropy(forward(params, tokens), label)


def make_train_step(
    optimizer=None, reduce=jnp.mean, update_scale=1.0, apply=True, donate=(0, 1), jit=True, grad_fix=lambda g: g
):
    optimizer = optimizer or make_optimizer()

    def train_step(params, opt_state, x, y):
        def batch_loss(params):
            return reduce(jax.vmap(example_loss, in_axes=(None, 0, 0))(params, x, y))

        loss, grads = jax.value_and_grad(batch_loss)(params)
        grads = grad_fix(grads)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        updates = jax.tree.map(lambda u: u * update_scale, updates)
        return (optax.apply_updates(params, updates) if apply else params), opt_state, loss

    return jax.jit(train_step, donate_argnums=donate) if jit else train_step


def scale_ln2_grad(grads):
    """One small leaf's gradient 10% too large: the optimizer's view of it is wrong, the rest right."""
    block = {**grads["block"], "ln2": jax.tree.map(lambda g: g * 1.1, grads["block"]["ln2"])}
    return {**grads, "block": block}


def test_train_step_accepts_correct_answers(capsys):
    assert verdict(capsys, CH07["check_train_step"], make_train_step()).startswith("✓")
    with bfloat16_matmuls():
        assert verdict(capsys, CH07["check_train_step"], make_train_step()).startswith("✓")
    assert verdict(capsys, CH07["check_train_step"], stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda: make_train_step(update_scale=1.01), ["scaled"]),  # a learning rate 1% too large
        (lambda: make_train_step(make_optimizer(peak=1.01e-2)), ["scaled"]),
        (lambda: make_train_step(make_optimizer(schedule=lambda count: 1e-2)), ["warm state"]),  # no schedule
        (lambda: make_train_step(make_optimizer(weight_decay=0.0)), ["decayed"]),
        (lambda: make_train_step(make_optimizer(weight_decay=1.01e-2)), ["weight decay"]),
        (lambda: make_train_step(make_optimizer(mask=None)), ["params["]),  # decays every leaf (no crash)
        (lambda: make_train_step(grad_fix=scale_ln2_grad), ["['ln2']", "gradient"]),  # one small leaf's gradient
        (lambda: make_train_step(make_optimizer(mask=lambda p: jax.tree.map(lambda v: True, p))), ["params["]),
        (lambda: make_train_step(reduce=jnp.sum), ["loss"]),
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
    assert_rejects(capsys, CH07["check_train_step"], answer(), *words)


# --- batched_forward -----------------------------------------------------------------------------------------------


def attention(q, k, v):
    return jax.nn.softmax(q @ k.T / jnp.sqrt(q.shape[-1]), axis=-1) @ v


def multi_head(Q, K, V, num_heads):
    batch, n, d = Q.shape

    def split(X):
        return X.reshape(batch, n, num_heads, d // num_heads)

    out = jax.vmap(jax.vmap(attention, in_axes=1, out_axes=1))(split(Q), split(K), split(V))
    return out.reshape(batch, n, d)


def batched_forward(
    params,
    tokens,
    heads=HEADS,
    pos=True,
    residual=True,
    ln2=True,
    readout="first",
    scale=1.0,
    shift=0.0,
    b2=True,
    bias=True,
):
    p = params["block"]
    h = params["embed"][tokens] + (params["pos"] if pos else 0.0)
    x = layer_norm(h, p["ln1"])
    att = multi_head(x @ p["wq"], x @ p["wk"], x @ p["wv"], heads) @ p["wo"]
    h = h + att if residual else att
    x = layer_norm(h, p["ln2"]) if ln2 else h
    h = h + jax.nn.relu(x @ p["w1"] + p["b1"]) @ p["w2"] + (p["b2"] if b2 else 0.0)
    pooled = {"first": h[:, 0], "last": h[:, -1], "mean": h.mean(1)}[readout]
    return (pooled @ params["readout"]["w"] + (params["readout"]["b"] if bias else 0.0)) * scale + shift


def forward_with(**kwargs):
    return lambda params, tokens: batched_forward(params, tokens, **kwargs)


def test_batched_forward_accepts_correct_answers(capsys):
    for _ in range(3):
        assert verdict(capsys, CH07["check_batched_forward"], batched_forward).startswith("✓")
    vmapped = jax.vmap(forward, in_axes=(None, 0))
    assert verdict(capsys, CH07["check_batched_forward"], vmapped).startswith("✓")
    with bfloat16_matmuls():
        for _ in range(5):
            assert verdict(capsys, CH07["check_batched_forward"], fresh(batched_forward)).startswith("✓")
    assert verdict(capsys, CH07["check_batched_forward"], stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (forward_with(scale=1.01), ["scaled"]),
        (forward_with(shift=0.01), ["shifted"]),
        (forward_with(heads=4), ["wrong values"]),
        (forward_with(heads=1), ["wrong values"]),
        (forward_with(pos=False), ["wrong values"]),
        (forward_with(residual=False), ["wrong values"]),
        (forward_with(ln2=False), ["wrong values"]),
        (forward_with(readout="last"), ["wrong values"]),
        (forward_with(readout="mean"), ["wrong values"]),
        *[(forward_with(bias=False), ["logits"])] * 3,  # no readout bias: shifted (or wrong values if large)
        *[(forward_with(b2=False), ["logits"])] * 3,  # no b2: every logit moves by readout.w · b2
        (lambda params, tokens: batched_forward(params, tokens)[:, None], ["shape"]),
        (lambda params, tokens: batched_forward(params, tokens).astype(jnp.bfloat16), ["dtype"]),
    ],
)
def test_batched_forward_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH07["check_batched_forward"], answer, *words)


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
    assert verdict(capsys, CH07["check_bce"], bce).startswith("✓")
    assert verdict(capsys, CH07["check_bce"], optax.sigmoid_binary_cross_entropy).startswith("✓")
    assert verdict(capsys, CH07["check_bce"], stub).startswith("○")


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
    assert_rejects(capsys, CH07["check_bce"], answer, *words)
