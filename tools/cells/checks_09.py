# --- Chapter 9: JAX in practice ---
import logging as _logging  # noqa: E402

from jax.experimental import checkify as _checkify  # noqa: E402
from jax.sharding import NamedSharding as _NS  # noqa: E402
from jax.sharding import PartitionSpec as _P  # noqa: E402


def _host_rank(x):
    return np.argsort(np.argsort(x, axis=-1), axis=-1).astype(np.int32)


class _CountingHost:
    """The host function the checker hands to on_host: the chapter's host_rank, counting its calls."""

    def __init__(self):
        self.shapes = []

    def __call__(self, x):
        self.shapes.append(np.shape(x))
        return _host_rank(np.asarray(x))


def _callback_error(exc):
    """The host-side reason inside a callback's runtime error (its last line), or the error's first line."""
    last = str(exc).strip().splitlines()[-1] if str(exc).strip() else ""
    if "Incorrect output dtype" in last:
        return Wrong("result_shape_dtypes has the wrong dtype: the host function returns int32")
    if "Incorrect output shape" in last:
        return Wrong("result_shape_dtypes has the wrong shape: the result has the shape of x")
    return Wrong(f"your function raised {first_line(exc)}")


def _run(fn, *args):
    # A failing callback also logs the host traceback (with file paths); the one line below says what matters.
    callback_log = _logging.getLogger("jax._src.callback")
    callback_log.disabled = True
    try:
        return _run_quietly(fn, *args)
    finally:
        callback_log.disabled = False


def _run_quietly(fn, *args):
    try:
        return jax.block_until_ready(fn(*args))
    except NotImplementedError as exc:
        if "vmap_method" in str(exc):
            raise Wrong("vmap of a pure_callback needs vmap_method=...") from None
        raise NotYet() from None
    except jax.errors.TracerArrayConversionError:
        raise Wrong("it calls host_fn on a traced array: call it through jax.pure_callback") from None
    except Wrong:
        raise
    except Exception as exc:
        raise _callback_error(exc) from None


def _distinct(rng, shape):
    """float32 values with no ties, so the ranks are unique."""
    return rng.permutation(np.prod(shape)).reshape(shape).astype(np.float32) - rng.integers(0, 50)


def _check_on_host(on_host):
    host = _CountingHost()
    rank = call_answer(on_host, host)
    if not callable(rank):
        raise Wrong(f"on_host(host_fn) should return a function, got {type(rank).__name__}")
    rng = np.random.default_rng()
    n, batch = int(rng.integers(5, 12)), int(rng.integers(3, 7))
    x = _distinct(rng, (n,))
    out = _run(jax.jit(rank), x)
    if not host.shapes:
        raise Wrong("host_fn was never called: compute the ranks with host_fn, through jax.pure_callback")
    expect_array(out, (n,), jnp.int32)
    ref = _host_rank(x)
    if np.array_equal(np.asarray(out), ref + 1):
        raise Wrong("the ranks are off by one: the smallest entry has rank 0")
    if not np.array_equal(np.asarray(out), ref):
        raise Wrong("under jax.jit the result is not host_fn(x)")
    xs = _distinct(rng, (batch, n))
    host.shapes.clear()
    out = _run(jax.jit(jax.vmap(rank)), xs)
    expect_array(out, (batch, n), jnp.int32, what="the vmapped result")
    if not np.array_equal(np.asarray(out), _host_rank(xs)):
        raise Wrong("under jax.vmap the result is not host_fn of each example")
    if len(host.shapes) != 1:
        raise Wrong(f"under vmap host_fn was called {len(host.shapes)} times for a batch of {batch}, not once")
    host.shapes.clear()
    out = _run(jax.vmap(rank, in_axes=1, out_axes=1), xs.T.copy())
    if not np.array_equal(np.asarray(out), _host_rank(xs).T) or len(host.shapes) != 1:
        raise Wrong("jax.vmap(rank, in_axes=1, out_axes=1) gives a wrong result")


def check_on_host(on_host):
    report("on_host", _check_on_host, on_host)


def _sqrt_error(checked, x):
    try:
        err, out = checked(jnp.asarray(x, jnp.float32))
        return err.get(), out
    except NotImplementedError:
        raise NotYet() from None
    except Exception as exc:
        text = str(exc)
        if isinstance(exc, jax.errors.ConcretizationTypeError) or "TracerBool" in type(exc).__name__:
            raise Wrong("a Python `if` on a traced value fails under jit: use checkify.check(condition, ...)") from None
        if "not functionalized" in text:
            raise Wrong("call checkify.check inside checked_sqrt, and nothing else of checkify") from None
        raise Wrong(f"your function raised {first_line(exc)}") from None


def _check_checked_sqrt(checked_sqrt):
    rng = np.random.default_rng()
    checked = jax.jit(_checkify.checkify(checked_sqrt))
    n = int(rng.integers(6, 12))
    good = rng.uniform(0.5, 9.0, size=n).astype(np.float32)
    good[rng.integers(0, n)] = 0.0  # the boundary is allowed
    message, out = _sqrt_error(checked, good)
    if message is not None:
        raise Wrong(f"it fails on a good input with zeros in it: 0 is allowed ({message.splitlines()[0][:60]})")
    expect_array(out, (n,), jnp.float32)
    if not np.allclose(np.asarray(out), np.sqrt(good.astype(np.float64)), rtol=1e-6, atol=0):
        raise Wrong("the result is not the square root of x")
    zeros_message, _ = _sqrt_error(checked, np.zeros(n, np.float32))
    if zeros_message is not None:
        raise Wrong("it fails on an input of zeros: 0 is allowed")
    for bad_value, where in ((-(2.0**-20), "slightly below 0"), (-1e-30, "a tiny negative number")):
        bad = good.copy()
        bad[rng.integers(1, n)] = bad_value
        got, _ = _sqrt_error(checked, bad)
        if got is None:
            raise Wrong(f"no error for an input with one entry {where} ({bad_value:.3g})")
    smallest, other = -float(rng.integers(2, 9)) - 0.75, -0.25
    bad = good.copy()
    spots = rng.choice(np.arange(1, n), size=2, replace=False)
    bad[spots[0]], bad[spots[1]] = other, smallest
    got, _ = _sqrt_error(checked, bad)
    if got is None:
        raise Wrong("no error for an input with two negative entries")
    if repr(smallest) not in got:
        raise Wrong(f"the message should contain the smallest entry ({smallest}); it says: {got.splitlines()[0][:60]}")


def check_checked_sqrt(checked_sqrt):
    report("checked_sqrt", _check_checked_sqrt, checked_sqrt)


_DTYPES = (jnp.float32, jnp.int8, jnp.float16, jnp.int32, jnp.bfloat16)


def _bytes_reference(arrays, device):
    return sum(
        shard.data.nbytes
        for arr in arrays
        if not arr.is_deleted()
        for shard in arr.addressable_shards
        if shard.device == device
    )


def _whole_arrays(arrays, device):
    return sum(arr.nbytes for arr in arrays if not arr.is_deleted() and device in arr.devices())


def _check_bytes_on(bytes_on):
    rng = np.random.default_rng()
    cpu = jax.devices("cpu")[:8]
    mesh8 = jax.make_mesh((8,), ("i",), devices=cpu)
    mesh42 = jax.make_mesh((4, 2), ("a", "b"), devices=cpu)
    mesh_half = jax.make_mesh((4,), ("i",), devices=cpu[4:])

    def make(rows, cols, sharding):
        dtype = _DTYPES[int(rng.integers(len(_DTYPES)))]
        return jax.device_put(jnp.ones((rows, cols), dtype), sharding)

    k, m = int(rng.integers(1, 5)), int(rng.integers(3, 9))
    split = make(8 * k, m, _NS(mesh8, _P("i")))
    replicated = make(k + 2, m, _NS(mesh8, _P()))
    two_d = make(4 * k, 2 * m, _NS(mesh42, _P("a", None)))
    half = make(4 * k, m, _NS(mesh_half, _P("i")))
    single = make(k + 1, m, cpu[3])
    gone = make(k + 3, m, cpu[3])
    gone.delete()
    arrays = [split, replicated, two_d, half, single, gone]
    for device in (cpu[0], cpu[3], cpu[5]):
        want = _bytes_reference(arrays, device)
        got = call_answer(bytes_on, list(arrays), device)
        if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
            raise Wrong(f"return an exact integer number of bytes, got {type(got).__name__} {got!r}")
        if got == want:
            continue
        where = f"on CPU device {device.id}"
        if got == _whole_arrays(arrays, device):
            raise Wrong(f"{where}: {got:,} counts whole arrays; an array split over n devices holds 1/n on each")
        if got == want + gone.nbytes * (device == cpu[3]):
            raise Wrong(f"{where}: a deleted array holds no memory")
        raise Wrong(f"{where}: got {got:,} bytes, expected {want:,}")
    got = call_answer(bytes_on, [], cpu[0])
    if got != 0:
        raise Wrong(f"an empty list holds 0 bytes, got {got!r}")


def check_bytes_on(bytes_on):
    report("bytes_on", _check_bytes_on, bytes_on)
