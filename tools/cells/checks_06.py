# --- Chapter 6: jaxprs and ahead-of-time compilation ---
from collections import Counter as _Counter  # noqa: E402
from collections.abc import Mapping as _Mapping  # noqa: E402
from numbers import Real as _Real  # noqa: E402

from jax import lax as _lax  # noqa: E402


def _is_jaxpr(value):
    """A jaxpr (on older versions also a ClosedJaxpr): something with equations and input variables."""
    return hasattr(value, "eqns") and hasattr(value, "invars")


def _primitive_counts(jaxpr, seen=None):
    """Every equation of the jaxpr and, recursively, of every jaxpr among its equations' parameters. With a set
    `seen`, a jaxpr object used by several equations is visited only once: a wrong answer the checker recognizes."""
    counts = _Counter()
    for eqn in jaxpr.eqns:
        counts[eqn.primitive.name] += 1
        for param in eqn.params.values():
            for sub in param if isinstance(param, (tuple, list)) else (param,):
                if _is_jaxpr(sub) and (seen is None or id(sub) not in seen):
                    if seen is not None:
                        seen.add(id(sub))
                    counts.update(_primitive_counts(sub, seen))
    return counts


def _holder_names(jaxpr):
    """The primitives whose equations hold sub-jaxprs (cond, scan, jit, ...), at any depth."""
    names = set()
    for eqn in jaxpr.eqns:
        for param in eqn.params.values():
            for sub in param if isinstance(param, (tuple, list)) else (param,):
                if _is_jaxpr(sub):
                    names.add(eqn.primitive.name)
                    names |= _holder_names(sub)
    return names


def _count_programs(rng):
    """Fresh programs, from straight-line to nested three deep; the repetition counts change on every check."""
    a, b, c = (int(v) for v in rng.integers(1, 4, size=3))

    def straight(x):
        for _ in range(a):
            x = jnp.sin(x)
        for _ in range(b):
            x = x * 2.0
        return jnp.sum(x)

    def branches(x):
        def positive(v):
            for _ in range(a):
                v = jnp.cos(v)
            return v

        def negative(v):
            for _ in range(b + 1):
                v = jnp.sin(v)
            return -v

        return _lax.cond(x[0] > 0, positive, negative, x)

    def nested(x):
        @jax.jit
        def inner(v):
            for _ in range(c):
                v = jnp.tanh(v)
            return v

        def step(carry, v):
            carry = _lax.cond(v > 0, inner, jnp.negative, carry)
            return carry, jnp.exp(v)

        carry, ys = _lax.scan(step, x, x)
        return carry + ys

    def loops(x):
        x = _lax.while_loop(lambda v: jnp.sum(v) < 100.0, lambda v: v * 2.0 + 1.0, x)
        x = jax.nn.relu(x)
        return _lax.fori_loop(0, a + 1, lambda i, v: jnp.sin(v) + b, x)

    def shared(x):
        @jax.jit
        def layer(v):
            for _ in range(a):
                v = jnp.sin(v)
            return jnp.tanh(v)

        for _ in range(b + 1):  # one Jaxpr object in every jit equation: each use counts
            x = layer(x)
        return _lax.scan(lambda carry, v: (layer(carry) * v, v), x, x)[0]

    x = jnp.ones(3)
    programs = {"straight-line": straight, "cond": branches, "scan, cond and jit": nested}
    programs["while, relu and fori_loop"] = loops
    programs["shared jit"] = shared
    return {name: jax.make_jaxpr(fn)(x) for name, fn in programs.items()}


def _whole_number(value):
    """The value as an int if it is a whole number (a Python or NumPy number, or a 0-d array of one), else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (np.ndarray, jax.Array)):
        if value.shape != () or not np.issubdtype(value.dtype, np.number):
            return None
        value = value.item()
    if not isinstance(value, _Real):
        return None
    try:
        whole = int(value)
    except (ValueError, OverflowError):  # NaN, infinity
        return None
    return whole if whole == value else None


def _as_counts(answer):
    """The answer as {name: int}, without zero entries; Wrong if it is not a dict of names to counts."""
    if isinstance(answer, _Real) and not isinstance(answer, bool):
        raise Wrong("it returned one number; return a dict {primitive name: count}")
    if not isinstance(answer, _Mapping):
        raise Wrong(f"it should return a dict {{primitive name: count}}, got {type(answer).__name__}")
    counts = {}
    for key, value in answer.items():
        if not isinstance(key, str):
            raise Wrong(f"the keys should be primitive names (str, eqn.primitive.name), got {type(key).__name__}")
        whole = _whole_number(value)
        if whole is None:
            raise Wrong(f"the count for {key!r} should be a whole number, got {value!r}")
        if whole:
            counts[key] = whole
    return counts


def _check_count_primitives(count_primitives):
    rng = np.random.default_rng()
    for name, closed in _count_programs(rng).items():
        got = _as_counts(call_answer(count_primitives, closed))
        want = dict(_primitive_counts(closed.jaxpr))
        if got == want:
            continue
        if got == dict(_Counter(eqn.primitive.name for eqn in closed.jaxpr.eqns)):
            raise Wrong("it counts only the top level: also count the equations inside the sub-jaxprs in eqn.params")
        holders = _holder_names(closed.jaxpr)
        if got == {key: n for key, n in want.items() if key not in holders}:
            raise Wrong("the equations that hold sub-jaxprs (cond, scan, jit, ...) count once each too")
        if got == dict(_primitive_counts(closed.jaxpr, seen=set())):
            raise Wrong(
                f"in the {name} program it visits each sub-jaxpr once: a jaxpr used by several equations (a jitted"
                " function called twice) counts once per use"
            )
        for primitive in sorted(set(want) | set(got)):
            if got.get(primitive, 0) != want.get(primitive, 0):
                counted, expected = got.get(primitive, 0), want.get(primitive, 0)
                message = f"it counts {counted} equations of {primitive!r}, expected {expected}"
                raise Wrong(f"in the {name} program {message}")


def check_count_primitives(count_primitives):
    report("count_primitives", _check_count_primitives, count_primitives)


def _mlp(x, w1, b1, w2, b2):
    """The program of the FLOP exercise. precision='highest' keeps the float32 products exact on every backend; a
    product's FLOP count does not depend on its precision."""
    hidden = jnp.tanh(jnp.dot(x, w1, precision="highest") + b1)
    return jnp.dot(hidden, w2, precision="highest") + b2


def _mlp_flops(m, k, n, p):
    """Hand count: two products (2 FLOPs per multiply-add), two bias additions; tanh is a transcendental."""
    return 2 * m * k * n + m * n + 2 * m * n * p + m * p


def _compiler_flops(m, k, n, p):
    """cost_analysis()['flops'] of _mlp compiled for the host CPU, which every JAX installation has (other backends
    count in their own ways); None if the compiler gives no count. On the pinned version it equals _mlp_flops."""
    host = jax.sharding.SingleDeviceSharding(jax.devices("cpu")[0])
    shapes = ((m, k), (k, n), (n,), (n, p), (p,))
    specs = [jax.ShapeDtypeStruct(shape, jnp.float32, sharding=host) for shape in shapes]
    try:
        cost = jax.jit(_mlp).lower(*specs).compile().cost_analysis()
        return float(cost["flops"])
    except Exception:
        return None


def _check_predicted_flops(predicted_flops):
    rng = np.random.default_rng()
    for _ in range(3):
        # Four different sizes, so a formula with two dimensions swapped is visibly wrong; all below 60, so every
        # count stays far below 2**24, where the compiler's floating-point tally would start to round.
        m, k, n, p = (int(v) for v in rng.choice(np.arange(3, 60), size=4, replace=False))
        prediction = call_answer(predicted_flops, m, k, n, p)
        if prediction is None:
            raise Wrong("it returned None: did you forget to `return` the count?")
        if isinstance(prediction, bool) or not isinstance(prediction, (_Real, np.ndarray, jax.Array)):
            raise Wrong(f"it should return a number, got {type(prediction).__name__}")
        try:
            value = float(prediction)
        except (TypeError, ValueError):
            raise Wrong(f"it should return one number, got an array of shape {np.shape(prediction)}") from None
        except OverflowError:
            raise Wrong("it returned a number too large for a float: check the formula") from None
        if not np.isfinite(value):
            raise Wrong(f"it returned {value}: the count is a finite whole number")
        compiler = _compiler_flops(m, k, n, p)
        expected = _mlp_flops(m, k, n, p) if compiler is None else compiler
        if value == expected:
            continue
        sizes = f"for m, k, n, p = {m}, {k}, {n}, {p}"
        if value == expected + m * n:
            raise Wrong("tanh is not counted as FLOPs: cost_analysis() lists it under 'transcendentals'")
        if value == expected - m * n - m * p:
            raise Wrong("the two bias additions count too: one FLOP per element of each sum")
        if value == expected - (m * k * n + m * n * p):
            raise Wrong("a matrix product counts a multiplication and an addition per term: 2·m·k·n for the first")
        raise Wrong(f"{sizes} it predicts {value:.0f} FLOPs; the compiler counts {expected:.0f}")


def check_predicted_flops(predicted_flops):
    report("predicted_flops", _check_predicted_flops, predicted_flops)


def _export_programs(rng):
    """Two fresh functions (random constants) and the feature shapes their inputs have after the batch axis: one with
    one feature dimension, one with two, so an answer that uses only feature_shape[0], or a fixed shape, fails."""
    scale, shift = (float(v) for v in rng.uniform(0.5, 2.0, size=2))

    def rows(x):
        return jax.nn.softmax(x * scale, axis=-1) + shift

    def grids(x):
        return jnp.tanh(x * scale).sum(axis=-1) - shift

    return [(rows, (int(rng.integers(2, 7)),)), (grids, (int(rng.integers(2, 5)), int(rng.integers(2, 5))))]


def _check_one_export(export_batched, fn, features, rng):
    blob = call_answer(export_batched, fn, features)
    if isinstance(blob, jax.export.Exported):
        raise Wrong("it returned the Exported itself: return the bytes from its .serialize()")
    if not isinstance(blob, (bytes, bytearray)):
        raise Wrong(f"it should return the bytes from Exported.serialize(), got {type(blob).__name__}")
    try:
        restored = jax.export.deserialize(bytearray(blob))
    except Exception as exc:
        raise Wrong(f"jax.export.deserialize cannot read the bytes it returned ({first_line(exc)})") from None
    if len(restored.in_avals) != 1:
        raise Wrong(f"the export takes {len(restored.in_avals)} arguments; export fn for one input x")
    aval = restored.in_avals[0]
    if len(aval.shape) != 1 + len(features):
        raise Wrong(f"the input has shape {aval.shape}; expected (b, *feature_shape) with feature_shape={features}")
    if not jax.export.is_symbolic_dim(aval.shape[0]):
        raise Wrong(f"the batch dimension is fixed at {aval.shape[0]}: make it symbolic with jax.export.symbolic_shape")
    if tuple(aval.shape[1:]) != tuple(features):
        raise Wrong(f"the feature dimensions are {tuple(aval.shape[1:])}; expected {features}, fixed")
    if aval.dtype != jnp.float32:
        raise Wrong(f"the input dtype is {aval.dtype}, expected float32")
    # 1, an odd size and one above 32, so a batch size that must be even, at least 2 or at most 32 fails
    for batch in (1, int(rng.integers(2, 10)) * 2 + 1, int(rng.integers(33, 80))):
        x = jnp.asarray(rng.normal(size=(batch, *features)), jnp.float32)
        try:
            out = restored.call(x)
        except Exception as exc:
            raise Wrong(f"calling the deserialized export with a batch of {batch} failed ({first_line(exc)})") from None
        reference = jax.jit(fn)(x)  # compiled like the export, so the two agree to the last bits on any backend
        expect_array(out, reference.shape, jnp.float32, what=f"the result for a batch of {batch}")
        expect_close(out, reference, what=f"the result for a batch of {batch}", rtol=1e-5, atol=1e-5)


def _check_export_batched(export_batched):
    rng = np.random.default_rng()
    for fn, features in _export_programs(rng):
        _check_one_export(export_batched, fn, features, rng)


def check_export_batched(export_batched):
    report("export_batched", _check_export_batched, export_batched)
