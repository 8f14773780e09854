"""Chapter 5's exercise checkers, fed the reference answer, the unfinished stub and at least five wrong answers each.

A checker must print exactly one line, must never raise, must accept a correct answer (the train_step also with
bfloat16-rounded matrix products, as on a TPU) and must reject every wrong one, including slightly-off answers.
The chapter runs on 8 devices; here they are 8 virtual CPU devices, which tests/conftest.py asks for.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from checker_harness import assert_rejects, bfloat16_matmuls, fresh, load_checkers, stub, verdict
from jax import lax
from jax.sharding import PartitionSpec as P

CH05 = load_checkers("05_parallel.ipynb")
LEARNING_RATE = 0.1
RING = [(j, (j + 1) % 8) for j in range(8)]


def test_eight_devices():
    assert len(jax.devices("cpu")) == 8


# --- ring_allreduce ----------------------------------------------------------------------------------------------


def ring_allreduce(block, shifts=7, start_with_own=True, scale=1.0, shift=0.0, perm=RING):
    total, moving = (block if start_with_own else jnp.zeros_like(block)), block
    for _ in range(shifts):
        moving = lax.ppermute(moving, "i", perm)
        total = total + moving
    return total * scale + shift


def ring(**kwargs):
    return lambda block: ring_allreduce(block, **kwargs)


def test_ring_allreduce_accepts_correct_answers(capsys):
    for _ in range(3):
        assert verdict(capsys, CH05["check_ring_allreduce"], ring_allreduce).startswith("✓")

    def with_fori_loop(block):
        def step(_, carry):
            total, moving = carry
            moving = lax.ppermute(moving, "i", RING)
            return total + moving, moving

        return lax.fori_loop(0, 7, step, (block, block))[0]

    assert verdict(capsys, CH05["check_ring_allreduce"], with_fori_loop).startswith("✓")
    backwards = [(j, (j - 1) % 8) for j in range(8)]
    assert verdict(capsys, CH05["check_ring_allreduce"], ring(perm=backwards)).startswith("✓")

    def with_invariant_cond(block):  # a cond whose predicate is the same on every device: all take the same branch
        return lax.cond(jnp.ones(3).sum() > 0, ring_allreduce, lambda b: b * 0, block)

    assert verdict(capsys, CH05["check_ring_allreduce"], with_invariant_cond).startswith("✓")
    assert verdict(capsys, CH05["check_ring_allreduce"], stub).startswith("○")


def collective_in_cond(block):
    """A ppermute only device 0 reaches: run, it hangs until XLA aborts the process; the checker refuses it first."""
    return lax.cond(lax.axis_index("i") == 0, lambda b: ring_allreduce(b), lambda b: b, block)


def collective_in_nested_cond(block):
    def step(_, total):
        return lax.cond(
            total.sum() > 0, lambda t: lax.pcast(lax.psum(t, "i"), "i", to="varying"), lambda t: t + 1, total
        )

    return lax.fori_loop(0, 2, step, block)


def invariant_carry(block):
    """A fori_loop whose running sum starts as jnp.zeros: invariant, while the loop makes it varying."""

    def step(_, carry):
        total, moving = carry
        moving = lax.ppermute(moving, "i", RING)
        return total + moving, moving

    return lax.fori_loop(0, 8, step, (jnp.zeros(block.shape), block))[0]


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda block: lax.psum(block, "i"), ["calls lax.psum or lax.pmean", "lax.ppermute and additions only"]),
        (lambda block: lax.pmean(block, "i") * 8, ["calls lax.psum or lax.pmean"]),
        (lambda block: jnp.sum(lax.all_gather(block, "i"), axis=0), ["calls lax.all_gather"]),
        (lambda block: jnp.tile(jnp.sum(lax.all_gather(block, "i", tiled=True), axis=0), (1, 1)), ["all_gather"]),
        (ring(shifts=6), ["device"]),  # one shift too few
        (ring(shifts=8), ["twice"]),  # one shift too many
        (ring(start_with_own=False), ["own block"]),
        (ring(scale=1.01), ["device"]),
        (ring(shift=0.01), ["device"]),
        (ring(perm=[(0, 1)]), ["device"]),
        (lambda block: block, ["device"]),
        (lambda block: ring_allreduce(block) / 8, ["device"]),
        (lambda block: ring_allreduce(block).astype(jnp.int32), ["dtype"]),
        (lambda block: ring_allreduce(block)[:, :1], ["shape"]),
        (lambda block: block.ravel(), ["shape"]),
        (lambda block: jnp.dot(block, "i"), ["fails inside"]),
        (lambda block: invariant_carry(block), ["loop carry", "zeros_like(block[0])", "zeros_like(block)", "pcast"]),
        (collective_in_cond, ["inside lax.cond", "wait forever"]),
        (collective_in_nested_cond, ["inside lax.cond", "wait forever"]),
        (
            lambda block: lax.cond(block.sum() > 0, ring_allreduce, lambda b: jnp.zeros(b.shape), block),
            ["two branches of lax.cond", "pcast"],
        ),
        (lambda block: jnp.tile(jnp.sum(jnp.arange(8.0)), block.shape), ["device"]),
    ],
)
def test_ring_allreduce_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH05["check_ring_allreduce"], answer, *words)


# --- batch_stats -------------------------------------------------------------------------------------------------


def batch_stats(block, reduce_mean=lambda v: lax.pmean(v, "i"), ddof_n=None):
    mean = reduce_mean(jnp.mean(block, axis=0))
    squares = reduce_mean(jnp.mean((block - mean) ** 2, axis=0))
    if ddof_n is not None:
        squares = squares * ddof_n(block) / (ddof_n(block) - 1)
    return mean, squares


def test_batch_stats_accepts_correct_answers(capsys):
    def via_sums(block):
        n = lax.psum(block.shape[0], "i")
        mean = lax.psum(block.sum(0), "i") / n
        return mean, lax.psum(((block - mean) ** 2).sum(0), "i") / n

    def via_gather(block):  # the refused answer: gather the whole batch, then its statistics
        whole = lax.all_gather(block, "i", tiled=True)
        return whole.mean(axis=0), whole.var(axis=0)

    def via_stacked_gather(block):
        whole = lax.all_gather(block, "i").reshape(-1, block.shape[1])
        mean = jnp.mean(whole, axis=0)
        return mean, jnp.mean((whole - mean) ** 2, axis=0)

    def via_squares(block):  # E[x^2] - E[x]^2, both pmean-ed
        mean = lax.pmean(block.mean(axis=0), "i")
        return mean, lax.pmean((block**2).mean(axis=0), "i") - mean**2

    def as_list(block):
        return list(batch_stats(block))

    def via_scan(block):  # the chapter's carry: built from the block, so varying like it
        total, _ = lax.scan(lambda t, row: (t + row, None), jnp.zeros_like(block[0]), block)
        mean = lax.psum(total, "i") / lax.psum(block.shape[0], "i")
        return mean, lax.pmean(jnp.mean((block - mean) ** 2, axis=0), "i")

    for answer in (batch_stats, batch_stats, via_sums, via_gather, via_stacked_gather, via_squares, as_list, via_scan):
        assert verdict(capsys, CH05["check_batch_stats"], answer).startswith("✓")
    assert verdict(capsys, CH05["check_batch_stats"], stub).startswith("○")


def only_device_0():
    return lax.axis_index("i") == 0


def zeros_carry_scan(block):  # the carry starts invariant (jnp.zeros) and the scan makes it varying
    total, _ = lax.scan(lambda t, row: (t + row, None), jnp.zeros(block.shape[1]), block)
    mean = lax.psum(total, "i") / lax.psum(block.shape[0], "i")
    return mean, lax.pmean(jnp.mean((block - mean) ** 2, axis=0), "i")


def cond_branches_differ(block):  # one branch varying (the block's sum), the other invariant (jnp.zeros)
    total = lax.cond(block.sum() > 0, lambda b: b.sum(axis=0), lambda b: jnp.zeros(b.shape[1]), block)
    mean = lax.psum(total, "i") / lax.psum(block.shape[0], "i")
    return mean, lax.pmean(jnp.mean((block - mean) ** 2, axis=0), "i")


def device_0_scale(block):
    return only_device_0().astype(block.dtype)  # 1 on device 0, 0 elsewhere


def local_variances(block):
    mean = lax.pmean(jnp.mean(block, axis=0), "i")
    return mean, lax.pmean(jnp.var(block, axis=0), "i")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda block: batch_stats(block, reduce_mean=lambda v: lax.psum(v, "i")), ["8 times", "pmean"]),
        (local_variances, ["own variances"]),
        (lambda block: batch_stats(block, ddof_n=lambda b: 8 * b.shape[0]), ["n - 1"]),
        (lambda block: (lambda m, v: (m * 1.01, v))(*batch_stats(block)), ["mean is"]),
        (lambda block: (lambda m, v: (m + 0.01, v))(*batch_stats(block)), ["mean is"]),
        (lambda block: (lambda m, v: (m, v * 1.01))(*batch_stats(block)), ["variance is"]),
        (lambda block: (lambda m, v: (m, jnp.sqrt(v)))(*batch_stats(block)), ["variance is"]),
        (lambda block: (jnp.mean(block, axis=0), jnp.var(block, axis=0)), ["different means", "collective"]),
        (lambda block: (lax.pmean(block.mean(axis=0), "i"), block.var(axis=0)), ["different variances"]),
        (
            lambda block: (lambda w: (w.mean(0), w.var(0) * 1.01))(lax.all_gather(block, "i", tiled=True)),
            ["variance is"],
        ),
        (lambda block: (lambda w: (w.mean(0), w.var(0, ddof=1)))(lax.all_gather(block, "i", tiled=True)), ["n - 1"]),
        (lambda block: (lambda w: (w.mean(1), w.var(1)))(lax.all_gather(block, "i", tiled=True)), ["shape"]),
        (lambda block: batch_stats(block)[0], ["pair"]),
        (lambda block: (lambda m, v: (m[None], v))(*batch_stats(block)), ["shape"]),
        (lambda block: (lambda m, v: (m, v * jnp.nan))(*batch_stats(block)), ["NaN"]),
        # right on device 0 only: every device's row is checked, not device 0's
        (
            lambda block: (lambda m, v: (jnp.where(only_device_0(), m, jnp.nan), v))(*batch_stats(block)),
            ["device 1 returns NaN in its mean"],
        ),
        (
            lambda block: (lambda m, v: (m, jnp.where(only_device_0(), v, jnp.nan)))(*batch_stats(block)),
            ["device 1 returns NaN in its variance"],
        ),
        (
            lambda block: (lambda m, v: (m * device_0_scale(block) / device_0_scale(block), v))(*batch_stats(block)),
            ["device 1 returns NaN in its mean"],
        ),
        (
            lambda block: (lambda m, v: (m, v / device_0_scale(block)))(*batch_stats(block)),
            ["device 1 returns infinity in its variance"],
        ),
        (
            lambda block: (lambda m, v: (jnp.where(only_device_0(), m, m * 1.01), v))(*batch_stats(block)),
            ["device 0 and device 1 differ", "whole batch"],
        ),
        (zeros_carry_scan, ["loop carry", "zeros_like(block[0])"]),
        (cond_branches_differ, ["two branches of lax.cond", "pcast"]),
    ],
)
def test_batch_stats_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH05["check_batch_stats"], answer, *words)


# --- train_step --------------------------------------------------------------------------------------------------


def mse(params, x, y):
    pred = jnp.tanh(x @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]
    return jnp.mean((pred - y) ** 2)


def loss_after_update(params, x, y):
    """Right parameters, but the loss measured at them, after the step: not the loss that gave the gradients."""
    new, _ = make_train_step()(params, x, y)
    return new, mse(new, x, y)


def make_train_step(lr=LEARNING_RATE, average="loss", loss_reduce="pmean", parallel=True, lr_w1=None):
    """average='loss': differentiate the pmean-ed loss (correct); 'grads_after': the naive pmap port (8x)."""

    def body(params, x, y):
        if average == "loss":
            loss, grads = jax.value_and_grad(lambda p: lax.pmean(mse(p, x, y), "i"))(params)
        else:
            local, grads = jax.value_and_grad(mse)(params, x, y)
            grads = jax.tree.map(lambda g: lax.pmean(g, "i"), grads)  # already summed: a no-op
            loss = getattr(lax, loss_reduce)(local, "i")
        rates = {name: (lr_w1 if name == "w1" and lr_w1 is not None else lr) for name in params}
        return {name: p - rates[name] * grads[name] for name, p in params.items()}, loss

    def train_step(params, x, y):
        if not parallel:
            return body_single(params, x, y)
        mesh = jax.sharding.Mesh(np.array(jax.devices("cpu")[:8]), ("i",))
        step = jax.shard_map(body, mesh=mesh, in_specs=(P(), P("i"), P("i")), out_specs=(P(), P()))
        return step(params, x, y)

    def body_single(params, x, y):
        loss, grads = jax.value_and_grad(mse)(params, x, y)
        return jax.tree.map(lambda p, g: p - lr * g, params, grads), loss

    return train_step


def pcast_train_step(params, x, y):
    """The chapter's other fix: pcast the parameters to varying, then pmean the per-device gradients."""

    def body(params, x, y):
        params = lax.pcast(params, "i", to="varying")
        loss, grads = jax.value_and_grad(mse)(params, x, y)
        grads = lax.pmean(grads, "i")
        new = jax.tree.map(lambda p, g: p - LEARNING_RATE * g, params, grads)
        return lax.pmean(new, "i"), lax.pmean(loss, "i")

    mesh = jax.sharding.Mesh(np.array(jax.devices("cpu")[:8]), ("i",))
    return jax.shard_map(body, mesh=mesh, in_specs=(P(), P("i"), P("i")), out_specs=(P(), P()))(params, x, y)


def pmap_train_step(params, x, y):
    """The prompt allows pmap: replicated copies, the batch reshaped to (8, rows, ...)."""

    def body(params, x, y):
        loss, grads = jax.value_and_grad(mse)(params, x, y)
        grads = lax.pmean(grads, "i")
        return jax.tree.map(lambda p, g: p - LEARNING_RATE * g, params, grads), lax.pmean(loss, "i")

    rows = x.shape[0] // 8
    copies = jax.tree.map(lambda a: jnp.broadcast_to(a, (8, *a.shape)), params)
    new, loss = jax.pmap(body, axis_name="i")(copies, x.reshape(8, rows, -1), y.reshape(8, rows, -1))
    return jax.tree.map(lambda a: a[0], new), loss[0]


def test_train_step_accepts_correct_answers(capsys):
    check = CH05["check_train_step"]
    for _ in range(3):
        assert verdict(capsys, check, make_train_step()).startswith("✓")
    for answer in (pcast_train_step, pmap_train_step):
        assert verdict(capsys, check, answer).startswith("✓")
    with bfloat16_matmuls():
        for _ in range(10):
            assert verdict(capsys, check, fresh(make_train_step())).startswith("✓")
    assert verdict(capsys, check, stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (make_train_step(average="grads_after"), ["8 times", "summed"]),  # the summed-gradient bug
        (make_train_step(average="grads_after", loss_reduce="psum"), ["8 times"]),
        (make_train_step(lr=LEARNING_RATE * 1.01), ["scaled"]),
        (make_train_step(lr_w1=LEARNING_RATE * 1.01), ["'w1' is scaled"]),
        (make_train_step(lr=-LEARNING_RATE), ["uphill"]),
        (make_train_step(lr=0.0), ["did not change"]),
        (make_train_step(parallel=False), ["one device"]),
        (lambda p, x, y: make_train_step()(p, x, y)[0], ["pair"]),
        (lambda p, x, y: (lambda n, loss: (n, loss * 1.01))(*make_train_step()(p, x, y)), ["the loss is"]),
        (
            lambda p, x, y: (lambda n, loss: ({k: n[k] for k in ("w1", "b1")}, loss))(*make_train_step()(p, x, y)),
            ["keys"],
        ),
        (lambda p, x, y: make_train_step()(p, x[:-1], y[:-1]), ["fails under jax.jit"]),
        (loss_after_update, ["the parameters before the update"]),
    ],
)
def test_train_step_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH05["check_train_step"], answer, *words)
