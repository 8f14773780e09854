# --- Chapter 5: pmap, collectives, shard_map ---
# pieces: gradients, jaxprs, learning_rate, mesh, mlp, reference64
from jax.sharding import PartitionSpec as _P  # noqa: E402

# The collectives ring_allreduce must not use: the primitive names a jaxpr holds (by prefix: lax.psum appears as
# `psum_invariant` on the pinned version), each with the function the reader called to get it.
_FORBIDDEN = {
    "psum": "lax.psum or lax.pmean",
    "pmax": "lax.pmax",
    "pmin": "lax.pmin",
    "all_gather": "lax.all_gather",
    "all_to_all": "lax.all_to_all",
    "reduce_scatter": "lax.psum_scatter",
    "pbroadcast": "lax.pbroadcast",
}


def _on_mesh(body, out_specs):
    return jax.jit(jax.shard_map(body, mesh=_mesh((8,), ("i",)), in_specs=_P("i"), out_specs=out_specs))


_COLLECTIVES = ("ppermute", "psum", "pmax", "pmin", "all_gather", "all_to_all", "reduce_scatter")


def _varying(var):
    """Whether a jaxpr variable may differ per device (unknown counts as yes)."""
    axis_type = getattr(var.aval, "manual_axis_type", None)
    varying = getattr(axis_type, "varying", getattr(var.aval, "vma", None))
    return varying is None or bool(varying)


def _collective_in_varying_cond(jaxpr):
    """A lax.cond whose predicate differs per device and whose branches hold a collective (sub-jaxprs included).

    Only the devices that take that branch would reach the collective; the others never join it, so the run hangs
    until XLA aborts the whole process. The checker refuses it from the jaxpr, without running it.
    """
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "cond" and eqn.invars and _varying(eqn.invars[0]):
            inside = set()
            for branch in eqn.params.get("branches", ()):
                inside |= _primitives(getattr(branch, "jaxpr", branch))
            if any(name.startswith(_COLLECTIVES) for name in inside):
                return True
        if any(_collective_in_varying_cond(inner) for inner in _sub_jaxprs(eqn)):
            return True
    return False


def _run_on_mesh(body, x, out_specs, returns="one array"):
    """Run the reader's per-device function inside shard_map over the 8 devices (axis 'i')."""
    if not callable(body):
        raise Wrong(f"expected a function, got {type(body).__name__}")
    try:
        run = _on_mesh(body, out_specs)
        if _collective_in_varying_cond(jax.make_jaxpr(run)(x).jaxpr):
            raise Wrong(
                "a collective inside lax.cond runs only on the devices that take that branch; the others wait "
                "forever: call the collective on every device, outside the cond"
            )
        return run(x)
    except NotImplementedError:
        raise NotYet() from None
    except Wrong:
        raise
    except Exception as exc:
        text = str(exc)
        if "pytree structure" in text:
            raise Wrong(f"return {returns}") from None
        if "cond branches" in text:  # JAX words this error like the loop one: check it first
            raise Wrong(
                "the two branches of lax.cond must agree: one returns a value that differs per device (varying), "
                "the other one the same on every device: lax.pcast the invariant one ('i', to='varying')"
            ) from None
        if "manual axis types do not match" in text:  # the scan/fori_loop carry error, in the reader's terms
            raise Wrong(
                "a loop carry starts the same on every device (jnp.zeros, say) but the loop makes it differ per "
                "device: build it from the block (jnp.zeros_like(block[0]), as the chapter does, or "
                "zeros_like(block) for a block-shaped carry) or use lax.pcast(..., 'i', to='varying')"
            ) from None
        raise Wrong(f"it fails inside jax.shard_map over axis 'i' ({first_line(exc)})") from None


def _check_ring_allreduce(ring_allreduce):
    rng = np.random.default_rng()
    width = int(rng.integers(3, 7))
    x64 = rng.integers(-50, 50, size=(8, width)).astype(np.float64)  # small integers: every sum is exact
    x = jnp.asarray(x64, jnp.float32)
    out = _run_on_mesh(ring_allreduce, x, _P("i"))
    expect_array(out, (8, width), jnp.float32, what="the result (all 8 blocks stacked)")
    got, want = _as64(out), np.tile(x64.sum(axis=0), (8, 1))
    if not np.array_equal(got, want):
        bad = int(np.argmax(np.any(got != want, axis=1)))
        if np.array_equal(got, want - x64):
            raise Wrong("each device is missing its own block: start the running sum from the block itself")
        if np.array_equal(got, want + x64):
            raise Wrong("each device counts its own block twice: the ring needs 7 shifts, not 8")
        raise Wrong(f"device {bad} holds {got[bad].tolist()}, expected the sum over devices {want[bad].tolist()}")
    try:
        used = _primitives(jax.make_jaxpr(_on_mesh(ring_allreduce, _P("i")))(x).jaxpr)
    except Exception:
        used = set()
    called = sorted({reader for name in used for prefix, reader in _FORBIDDEN.items() if name.startswith(prefix)})
    if called:
        raise Wrong(
            f"the values are right, but it calls {' and '.join(called)}: the exercise builds the all-reduce itself, "
            "from lax.ppermute and additions only"
        )
    if "ppermute" not in used:
        raise Wrong("the values are right, but no lax.ppermute was found: pass the blocks around the ring")


def check_ring_allreduce(ring_allreduce):
    report("ring_allreduce", _check_ring_allreduce, ring_allreduce)


def _check_batch_stats(batch_stats):
    rng = np.random.default_rng()
    rows, features = 8 * int(rng.integers(3, 6)), int(rng.integers(3, 6))
    # an offset (a small bias relative to it is visible) and a trend down the batch (so the devices' means differ)
    trend = np.linspace(-3.0, 3.0, rows)[:, None]
    x64 = 5.0 + trend + rng.normal(size=(rows, features)) * rng.uniform(0.5, 2.0, size=features)
    x = jnp.asarray(x64, jnp.float32)
    x64 = _as64(x)

    # Every device's own result, stacked (out_specs P("i") on a leading axis of 1): the prompt asks that every device
    # hold the global statistics, whatever collective got them there (pmean, psum of sums, all_gather and then the
    # statistics of the whole batch, whose result shard_map cannot prove replicated, so out_specs=P() would refuse it).
    def on_every_device(block):
        result = batch_stats(block)
        if isinstance(result, list):
            result = tuple(result)
        return jax.tree.map(lambda leaf: jnp.expand_dims(leaf, 0), result)

    result = _run_on_mesh(on_every_device, x, (_P("i"), _P("i")), returns="the pair (mean, var)")
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise Wrong("return the pair (mean, var)")
    means, variances = result
    # Every device's row, each checked: shape and dtype, then no NaN on any device, then agreement, then the values.
    stacked = {}
    for name, every in (("mean", means), ("variance", variances)):
        if not hasattr(every, "shape") or not hasattr(every, "dtype"):
            raise Wrong(f"the {name} should be an array, got {type(every).__name__}")
        if tuple(every.shape[1:]) != (features,):
            raise Wrong(f"the {name} has shape {tuple(every.shape[1:])}, expected {(features,)}")
        if every.dtype != jnp.float32:
            raise Wrong(f"the {name} has dtype {every.dtype}, expected float32")
        every = _as64(every)
        for device in range(8):
            if not np.all(np.isfinite(every[device])):
                kind = "NaN" if np.any(np.isnan(every[device])) else "infinity"
                raise Wrong(
                    f"device {device} returns {kind} in its {name}: "
                    "every device must return the statistics of the whole batch"
                )
        stacked[name] = every
    local = x64.reshape(8, -1, features)
    owns = {"mean": local.mean(axis=1), "variance": local.var(axis=1)}
    for name, every in stacked.items():
        differ = np.any(~np.isclose(every, every[0], rtol=1e-5, atol=1e-5), axis=1)
        if np.any(differ):
            device = int(np.argmax(differ))
            if np.allclose(every, owns[name], rtol=1e-4, atol=1e-4):
                raise Wrong(
                    f"the devices return different {name}s, as if each used only its own rows: combine the "
                    "devices' rows with a collective (pmean, psum or all_gather)"
                )
            raise Wrong(
                f"the devices return different {name}s (device 0 and device {device} differ): every device must "
                "hold the statistics of the whole batch (combine the rows with pmean, psum or all_gather)"
            )
    want_mean, want_var = x64.mean(axis=0), x64.var(axis=0)
    every_mean, every_var = stacked["mean"], stacked["variance"]
    bad = np.any(~np.isclose(every_mean, want_mean, rtol=1e-5, atol=1e-5), axis=1)
    if np.any(bad):
        device = int(np.argmax(bad))
        got_mean, where = every_mean[device], f" (device {device})" if device else ""
        if np.allclose(got_mean, 8 * want_mean, rtol=1e-4):
            raise Wrong("the mean is 8 times too large: average over devices (pmean), do not just add (psum)")
        raise Wrong(f"the mean is {got_mean.round(4).tolist()}{where}, expected {want_mean.round(4).tolist()}")
    bad = np.any(~np.isclose(every_var, want_var, rtol=1e-4, atol=1e-4), axis=1)
    if np.any(bad):
        device = int(np.argmax(bad))
        got_var, where = every_var[device], f" (device {device})" if device else ""
        if np.allclose(got_var, owns["variance"].mean(axis=0), rtol=1e-3):
            raise Wrong("the variance is the mean of the devices' own variances: measure around the global mean")
        if np.allclose(got_var, x64.var(axis=0, ddof=1), rtol=1e-5):
            raise Wrong("the variance divides by n - 1: batch-norm statistics divide by n, the global batch size")
        raise Wrong(f"the variance is {got_var.round(4).tolist()}{where}, expected {want_var.round(4).tolist()}")


def check_batch_stats(batch_stats):
    report("batch_stats", _check_batch_stats, batch_stats)


def _summed_over_devices(out, ref, name):
    """The gradients were added up over the 8 devices instead of averaged (psum where pmean belongs)."""
    if abs(_fitted_scale(out, ref) - 8) < 0.1:
        raise Wrong(f"{name} is 8 times too large: the gradients were summed over devices, not averaged")


def _check_train_step(train_step):
    rng = np.random.default_rng()
    params, x, y = _random_mlp(rng, batch=8 * int(rng.integers(4, 7)))  # split evenly over the 8 devices
    if not callable(train_step):
        raise Wrong(f"expected a function, got {type(train_step).__name__}")
    try:
        result = jax.jit(train_step)(params, x, y)
    except NotImplementedError:
        raise NotYet() from None
    except Exception as exc:
        raise Wrong(f"it fails under jax.jit ({first_line(exc)})") from None
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
        raise Wrong("the parameters did not change: subtract LEARNING_RATE times the averaged gradient")
    ref_steps = [-_LEARNING_RATE * grads[name] for name in names]
    out_all = np.concatenate([step.ravel() for step in steps])
    ref_all = np.concatenate([step.ravel() for step in ref_steps])
    if (out_all * ref_all).sum() < 0:
        raise Wrong("the parameters move uphill: subtract the gradient (gradient descent), do not add it")
    labels = [f"the update of {name!r}" for name in names]
    # chapter 4's limits (the gradients piece explains how they were measured), with this chapter's known bug
    limits = {"max_relative": 0.03, "max_scale": 4e-3, "max_each_scale": 6e-3}
    _expect_gradients_close(steps, ref_steps, labels, **limits, diagnose=_summed_over_devices)
    ratio = float(loss) / ref_loss
    if abs(ratio - 8) < 0.05:
        raise Wrong("the loss is 8 times too large: average it over devices (pmean), do not add (psum)")
    if abs(ratio - 1) > 5e-3:
        after, _ = _mlp_reference(new_params, x, y)
        if abs(float(loss) / after - 1) < 5e-3:
            raise Wrong(
                "the loss is the one at the updated parameters: it must be the one at the parameters "
                "before the update (the loss that gave the gradients)"
            )
        raise Wrong(f"the loss is {float(loss):.4f}, expected {ref_loss:.4f}: the whole batch's MSE")
    try:
        used = _primitives(jax.make_jaxpr(train_step)(params, x, y).jaxpr)
    except Exception:
        used = set()
    if "shard_map" not in used:
        raise Wrong("the values are right, but the step runs on one device: split the batch with shard_map or pmap")


def check_train_step(train_step):
    report("train_step", _check_train_step, train_step)
