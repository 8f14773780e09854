# --- Chapter 6: sharded jit ---
# pieces: fit, learning_rate, mesh, reference64
import re as _re  # noqa: E402
import warnings as _warnings  # noqa: E402

from jax.sharding import NamedSharding as _NS  # noqa: E402
from jax.sharding import PartitionSpec as _P  # noqa: E402

_KINDS = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all", "collective-permute")
_OP = _re.compile(r"^\s*(?:ROOT\s+)?%?[\w.\-]+\s*=\s*(.*?)\s(" + "|".join(_KINDS) + r")(-start|-done)?\(")
_SHAPE = _re.compile(r"(bf16|f16|f32|f64|s32|u32|s8|u8|pred)\[([\d,]*)\]")
_ITEMSIZE = {"bf16": 2, "f16": 2, "f32": 4, "f64": 8, "s32": 4, "u32": 4, "s8": 1, "u8": 1, "pred": 1}


def _collectives(compiled):
    """{kind: (count, result bytes per device)} in the optimized HLO, as the chapter's `collectives` counts them.

    An asynchronous collective is a -start/-done pair; it counts once, with the -done's result (the -start's holds
    the operands too)."""
    found = {}
    for line in compiled.as_text().splitlines():
        match = _OP.match(line)
        if match and match.group(3) != "-start":
            nbytes = sum(
                _ITEMSIZE[t] * int(np.prod([int(n) for n in dims.split(",") if n], dtype=np.int64))
                for t, dims in _SHAPE.findall(match.group(1))
            )
            count, total = found.get(match.group(2), (0, 0))
            found[match.group(2)] = (count + 1, total + nbytes)
    return found


def _place(value, mesh, spec, what):
    try:
        return jax.device_put(value, _NS(mesh, spec))
    except Exception as exc:
        raise Wrong(f"{what} cannot be placed with {spec} ({first_line(exc)})") from None


def _check_tp_specs(tp_specs):
    specs = call_answer(tp_specs)
    if not isinstance(specs, (tuple, list)) or len(specs) != 3:
        raise Wrong("return a tuple of three PartitionSpecs: (spec_x, spec_w1, spec_w2)")
    if not all(isinstance(s, _P) for s in specs):
        raise Wrong("each of the three must be a PartitionSpec, e.g. P('data', None)")
    rng = np.random.default_rng()
    batch, d, f = 8 * int(rng.integers(2, 5)), 16 * int(rng.integers(2, 4)), 32 * int(rng.integers(2, 4))
    x64, w1_64, w2_64 = rng.normal(size=(batch, d)), rng.normal(size=(d, f)) / np.sqrt(d), rng.normal(size=(f, d))
    mesh = _mesh()
    x = _place(x64.astype(np.float32), mesh, specs[0], "x")
    w1 = _place(w1_64.astype(np.float32), mesh, specs[1], "W1")
    w2 = _place(w2_64.astype(np.float32), mesh, specs[2], "W2")
    if x.sharding.shard_shape(x.shape) != (batch // 4, d):
        raise Wrong("split the batch (the rows of x) over 'data' and nothing else")
    try:
        compiled = jax.jit(lambda x, w1, w2: jnp.tanh(x @ w1) @ w2).lower(x, w1, w2).compile()
        out = compiled(x, w1, w2)
    except Exception as exc:
        raise Wrong(f"the MLP does not compile with these specs ({first_line(exc)})") from None
    ref = np.tanh(x64 @ w1_64) @ w2_64
    if _relative_error(out, ref) > 0.03:
        raise Wrong("the MLP's result is wrong with these specs")
    found = _collectives(compiled)
    if not found:
        raise Wrong("no collective at all: the weights are not split over 'model' (that is data parallelism)")
    # The portability hooks (and other backends) may add gathers around an elementwise op; what identifies tensor
    # parallelism is the all-reduce, and its size says whether it sums the output or the (larger) hidden layer.
    if "all-reduce" not in found:
        raise Wrong(f"the compiler inserted {', '.join(sorted(found))}, no all-reduce: W1's split must meet W2's split")
    count, nbytes = found["all-reduce"]
    out_bytes, hidden_bytes = batch // 4 * d * 4, batch // 4 * f * 4
    if nbytes >= hidden_bytes:
        raise Wrong(
            f"the all-reduce moves {nbytes:,} bytes per device, not the output's {out_bytes:,}: it sums the hidden "
            "layer; split W1 by columns and W2 by rows"
        )
    if count != 1 or nbytes != out_bytes:
        raise Wrong(
            f"{count} all-reduce(s) of {nbytes:,} bytes per device; expected one, of the output ({out_bytes:,})"
        )
    if w1.sharding.shard_shape(w1.shape) != (d, f // 2) or w2.sharding.shard_shape(w2.shape) != (f // 2, d):
        raise Wrong("split W1's columns and W2's rows over 'model' (and nothing else)")


def check_tp_specs(tp_specs):
    report("tp_specs", _check_tp_specs, tp_specs)


def _dp_loss(params, x, y):
    """The loss the checker passes in: the chapter's (a tanh MLP: smooth, so bfloat16 products move it little)."""
    out = jnp.tanh(x @ params["w1"]) @ params["w2"]
    return jnp.mean(jnp.sum((out - y) ** 2, axis=1))


def _dp_reference(x, y, w1, w2):
    a = np.tanh(x @ w1)
    d_out = 2 * (a @ w2 - y) / len(x)
    d_h = (d_out @ w2.T) * (1 - a**2)
    return w1 - _LEARNING_RATE * x.T @ d_h, w2 - _LEARNING_RATE * a.T @ d_out


def _check_dp_step(make_dp_step):
    mesh = _mesh()
    step = call_answer(make_dp_step, mesh, _dp_loss)
    if not callable(step):
        raise Wrong(f"make_dp_step(mesh, loss) should return a function, got {type(step).__name__}")
    rng = np.random.default_rng()
    batch, d, f = 8 * int(rng.integers(3, 6)), 8 * int(rng.integers(2, 4)), 16 * int(rng.integers(2, 4))
    x64, y64 = rng.normal(size=(batch, d)), rng.normal(size=(batch, d)) + 3.0  # far off: big gradients
    w1_64, w2_64 = rng.normal(size=(d, f)) / np.sqrt(d), rng.normal(size=(f, d)) / np.sqrt(f)
    replicated, rows = _NS(mesh, _P()), _NS(mesh, _P("data", None))
    params = {
        "w1": jax.device_put(w1_64.astype(np.float32), replicated),
        "w2": jax.device_put(w2_64.astype(np.float32), replicated),
    }
    x, y = jax.device_put(x64.astype(np.float32), rows), jax.device_put(y64.astype(np.float32), rows)
    x64, y64, w1_64, w2_64 = _as64(x), _as64(y), _as64(params["w1"]), _as64(params["w2"])
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        # Not the kernel's own warnings (older Jupyter, as on Colab).
        _warnings.filterwarnings("ignore", module="jupyter_client")
        new = call_answer(step, params, x, y)
    if not isinstance(new, dict) or set(new) != {"w1", "w2"}:
        raise Wrong("the step should return the new params: a dict with the keys 'w1' and 'w2'")
    expect_array(new["w1"], (d, f), jnp.float32, what="new params['w1']")
    expect_array(new["w2"], (f, d), jnp.float32, what="new params['w2']")
    ref_w1, ref_w2 = _dp_reference(x64, y64, w1_64, w2_64)
    for name, got, ref, old in (("w1", new["w1"], ref_w1, w1_64), ("w2", new["w2"], ref_w2, w2_64)):
        update, ref_update = _as64(got) - old, ref - old
        if not np.any(update):
            raise Wrong(f"params['{name}'] did not change: subtract 0.1 times the gradient")
        if (update * ref_update).sum() < 0:
            raise Wrong("the parameters move uphill: subtract the gradient, do not add it")
        if _relative_error(update, ref_update) > 0.03:
            raise Wrong(f"the update of params['{name}'] has wrong values")
        scale = float((update * ref_update).sum() / (ref_update * ref_update).sum())
        # bfloat16 products move the scale by about 1e-3 at most; a learning rate 0.5% off moves it by 5e-3
        if abs(scale - 1) > 2.5e-3:
            raise Wrong(f"the update of params['{name}'] is scaled by {scale:.4f} compared with the exact one")
        # bfloat16 noise averages out over the entries (mean offset below 1e-3 of the update's size)
        offset = float((update - ref_update).mean() / np.sqrt((ref_update**2).mean()))
        if abs(offset) > 4e-3:
            raise Wrong(f"the update of params['{name}'] is shifted by {offset:+.4f} of its size on average")
    for name in ("w1", "w2"):
        if not new[name].sharding.is_equivalent_to(replicated, 2):
            raise Wrong(f"new params['{name}'] has sharding {new[name].sharding.spec}, not the inputs' P()")
    unusable = [str(w.message).splitlines()[0] for w in caught if "donated" in str(w.message)]
    if unusable:
        raise Wrong(f"the donation failed ({unusable[0]})")
    if not (params["w1"].is_deleted() and params["w2"].is_deleted()):
        raise Wrong("the old parameters were not donated: pass donate_argnums=0 to jax.jit")


def check_dp_step(make_dp_step):
    report("make_dp_step", _check_dp_step, make_dp_step)


_SPECS = {
    "data parallel": (_P(), _P()),
    "FSDP": (_P("data", None), _P("data", None)),
    "tensor parallel": (_P(None, "model"), _P("model", None)),
    "2-D": (_P(None, "model"), _P("model", None)),
}


def _check_param_bytes(param_bytes):
    rng = np.random.default_rng()
    d, f = 8 * int(rng.integers(3, 40)), 8 * int(rng.integers(3, 40))
    for shape in ((4, 2), (2, 4), (8, 1), (1, 8)):
        mesh = _mesh(shape)
        for strategy, (s1, s2) in _SPECS.items():
            want = sum(
                int(np.prod(_NS(mesh, spec).shard_shape(dims))) * 4 for spec, dims in ((s1, (d, f)), (s2, (f, d)))
            )
            got = call_answer(param_bytes, strategy, shape, d, f)
            if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
                raise Wrong(f"return an exact integer number of bytes, got {type(got).__name__} {got!r}")
            if got == want:
                continue
            where = f"{strategy} on a {shape[0]}x{shape[1]} mesh (d={d}, f={f})"
            if got == 2 * d * f * 4 and want != got:
                raise Wrong(f"{where}: {got:,} is both whole matrices; one device holds {want:,}")
            if got == 2 * d * f and want == 4 * got:
                raise Wrong(f"{where}: float32 has 4 bytes per entry")
            ratio = want / got if got else 0
            whole = ratio and (ratio == int(ratio) or 1 / ratio == int(1 / ratio))
            hint = f" (off by a factor of {ratio:g})" if whole else ""
            raise Wrong(f"{where}: got {got:,}, expected {want:,}{hint}")


def check_param_bytes(param_bytes):
    report("param_bytes", _check_param_bytes, param_bytes)
