# --- Chapter 7: jaxprs and ahead-of-time compilation ---
import ast as _ast  # noqa: E402
import itertools as _itertools  # noqa: E402
import re as _re  # noqa: E402
from collections import Counter as _Counter  # noqa: E402
from collections.abc import Mapping as _Mapping  # noqa: E402
from numbers import Real as _Real  # noqa: E402

from jax import lax as _lax  # noqa: E402


def _is_jaxpr(value):
    """A jaxpr (on older versions also a ClosedJaxpr): something with equations and input variables."""
    return hasattr(value, "eqns") and hasattr(value, "invars")


def _primitive_counts(jaxpr, seen=None, skip=frozenset(), depth=None, first=False):
    """Every equation of the jaxpr and, recursively, of every jaxpr among its equations' parameters. The options model
    wrong answers the checker recognizes: with a set `seen`, a jaxpr object used by several equations is visited only
    once; `skip` holds (primitive, parameter) pairs whose jaxprs are never visited; `depth` limits the recursion;
    `first` visits only the first sub-jaxpr of each equation."""
    counts = _Counter()
    for eqn in jaxpr.eqns:
        counts[eqn.primitive.name] += 1
        if depth == 0:
            continue
        visited = 0
        for key, param in eqn.params.items():
            if (eqn.primitive.name, key) in skip:
                continue
            for sub in param if isinstance(param, (tuple, list)) else (param,):
                if _is_jaxpr(sub) and (seen is None or id(sub) not in seen) and not (first and visited):
                    if seen is not None:
                        seen.add(id(sub))
                    visited += 1
                    counts.update(_primitive_counts(sub, seen, skip, None if depth is None else depth - 1, first))
    return counts


def _holder_params(jaxpr):
    """The (primitive, parameter) pairs that hold sub-jaxprs, at any depth: ('cond', 'branches'), ('scan', 'jaxpr')."""
    pairs = set()
    for eqn in jaxpr.eqns:
        for key, param in eqn.params.items():
            for sub in param if isinstance(param, (tuple, list)) else (param,):
                if _is_jaxpr(sub):
                    pairs.add((eqn.primitive.name, key))
                    pairs |= _holder_params(sub)
    return pairs


def _holder_names(jaxpr):
    """The primitives whose equations hold sub-jaxprs (cond, scan, jit, ...), at any depth."""
    return {name for name, _ in _holder_params(jaxpr)}


# What a reader's walk misses when it never looks inside one parameter, said the way the bug is usually made.
_PARAM_HINTS = {
    ("cond", "branches"): "the branches of a cond (its `branches` parameter is a tuple of jaxprs: look inside tuples)",
    ("while", "cond_jaxpr"): "the condition of a while loop (its `cond_jaxpr` parameter)",
    ("while", "body_jaxpr"): "the body of a while loop (its `body_jaxpr` parameter)",
    ("scan", "jaxpr"): "the body of a scan (its `jaxpr` parameter)",
    ("jit", "jaxpr"): "the jaxpr of an inner jit (its `jaxpr` parameter)",
    ("custom_jvp_call", "call_jaxpr"): "the `call_jaxpr` of a custom_jvp_call (jax.nn.relu makes one)",
    ("custom_vjp_call", "call_jaxpr"): "the `call_jaxpr` of a custom_vjp_call",
}


def _skipped_params(answers):
    """The smallest set of (primitive, parameter) pairs whose jaxprs the answer never visits, the same set on every
    program (answers: [(closed, counts)]); None if no such set explains the counts."""
    pairs = sorted(set().union(*(_holder_params(closed.jaxpr) for closed, _ in answers)))
    for size in range(1, len(pairs) + 1):
        for skip in _itertools.combinations(pairs, size):
            if all(got == dict(_primitive_counts(closed.jaxpr, skip=frozenset(skip))) for closed, got in answers):
                return skip
    return None


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
    programs = _count_programs(rng)
    # Every program first, then the diagnosis: one program alone cannot tell "only the top level" from "skips the
    # branches of a cond" (on a program whose only sub-jaxprs are a cond's branches, both count the same).
    answers = {name: (closed, _as_counts(call_answer(count_primitives, closed))) for name, closed in programs.items()}
    wrong = [
        (name, closed, got) for name, (closed, got) in answers.items() if got != dict(_primitive_counts(closed.jaxpr))
    ]
    if not wrong:
        return
    results = list(answers.values())
    if all(got == dict(_primitive_counts(closed.jaxpr, depth=0)) for closed, got in results):
        raise Wrong("it counts only the top level: also count the equations inside the sub-jaxprs in eqn.params")
    for depth in (1, 2):
        if all(got == dict(_primitive_counts(closed.jaxpr, depth=depth)) for closed, got in results):
            levels = "one level" if depth == 1 else f"{depth} levels"
            raise Wrong(
                f"it goes only {levels} down: call the same function on every sub-jaxpr it finds (recursion), so"
                " jaxprs nested in sub-jaxprs count too"
            )
    skipped = _skipped_params(results)
    if skipped is not None:
        hints = [_PARAM_HINTS.get(pair, f"the `{pair[1]}` parameter of {pair[0]} equations") for pair in skipped]
        raise Wrong(f"it never looks inside {' or '.join(hints)}")
    if all(got == dict(_primitive_counts(closed.jaxpr, first=True)) for closed, got in results):
        raise Wrong(
            "it visits only the first sub-jaxpr of each equation: a cond holds one per branch and a while loop a"
            " condition and a body; visit them all"
        )
    name, closed, got = wrong[0]
    want = dict(_primitive_counts(closed.jaxpr))
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
            raise Wrong(f"in the {name} program it counts {counted} equations of {primitive!r}, expected {expected}")


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
    count in their own ways); None if the compiler gives no count. On the pinned version it equals _mlp_flops, the
    checker's reference (a test compares them)."""
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
        # The hand count is the reference: on the pinned version it is what cost_analysis() reports for _mlp on the
        # host CPU (tests/test_checkers_07.py checks the two agree), and it does not change when a test harness
        # rewrites how tanh is lowered.
        expected = _mlp_flops(m, k, n, p)
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


def _shape_constraints(exported):
    """The constraints given to symbolic_shape (\"b <= 16\"), read from the shape assertions in the export's module: a
    deserialized export no longer has them in its dimensions' scope, and breaking one there is only an "Error refining
    shapes"."""
    try:
        module = exported.mlir_module()
    except Exception:
        return []
    return sorted(set(_re.findall(r"symbolic shape constraint ([^.\"]+)\.", module)))


_CONSTRAINT_FUNCTIONS = {
    "mod": lambda a, b: a % b,
    "floordiv": lambda a, b: a // b,
    "max": max,
    "min": min,
    "non_negative": lambda a: max(a, 0),
}
_CONSTRAINT_OPS = {
    _ast.Add: lambda a, b: a + b,
    _ast.Sub: lambda a, b: a - b,
    _ast.Mult: lambda a, b: a * b,
    _ast.Eq: lambda a, b: a == b,
    _ast.GtE: lambda a, b: a >= b,
    _ast.LtE: lambda a, b: a <= b,
}


def _constraint_value(node, batch):
    """The value of a symbolic-shape expression (its AST) with every dimension variable set to `batch`."""
    if isinstance(node, _ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, _ast.Name):
        return batch
    if isinstance(node, _ast.UnaryOp) and isinstance(node.op, _ast.USub):
        return -_constraint_value(node.operand, batch)
    if isinstance(node, _ast.BinOp) and type(node.op) in _CONSTRAINT_OPS:
        left, right = _constraint_value(node.left, batch), _constraint_value(node.right, batch)
        return _CONSTRAINT_OPS[type(node.op)](left, right)
    if isinstance(node, _ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _CONSTRAINT_OPS:
        left, right = _constraint_value(node.left, batch), _constraint_value(node.comparators[0], batch)
        return _CONSTRAINT_OPS[type(node.ops[0])](left, right)
    if isinstance(node, _ast.Call) and isinstance(node.func, _ast.Name) and node.func.id in _CONSTRAINT_FUNCTIONS:
        return _CONSTRAINT_FUNCTIONS[node.func.id](*(_constraint_value(arg, batch) for arg in node.args))
    raise ValueError(f"cannot evaluate {_ast.dump(node)}")


def _constraint_refuses(constraint, batch):
    """True if the constraint ("b <= 64", "mod(b, 2) == 0") is false for this batch size; False when it holds or
    cannot be read (then the call itself is the test)."""
    try:
        return _constraint_value(_ast.parse(constraint, mode="eval").body, batch) is False
    except (SyntaxError, ValueError, TypeError, ZeroDivisionError):
        return False


def _restriction(restored, batches):
    """The message for an export whose constraints refuse one of these batch sizes, or None. Read before any call, so
    an upper bound (b <= 1000) fails even where the batches actually called all fit under it."""
    constraints = _shape_constraints(restored)
    for batch in batches:
        broken = [c for c in constraints if _constraint_refuses(c, batch)]
        if broken:
            return (
                f"the export restricts the batch size (constraint {' and '.join(broken)}) and a batch of {batch}"
                " breaks it: it must work for every batch size, so give b no constraint"
            )
    return None


def _call_failure(restored, batch_dim, batch, exc):
    """Why a call of the deserialized export with this batch size failed, pointed at the specification behind it."""
    constraints = _shape_constraints(restored)
    if constraints:
        return (
            f"the export restricts the batch size (constraint {' and '.join(constraints)}) and a batch of {batch}"
            " breaks it: it must work for every batch size, so give b no constraint"
        )
    if not str(batch_dim).isidentifier():
        return (
            f"its batch dimension is {batch_dim}, which a batch of {batch} does not fit: use a plain dimension"
            ' variable, symbolic_shape("b, ...")'
        )
    return f"calling the deserialized export with a batch of {batch} failed ({first_line(exc)})"


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
    shape = "(" + ", ".join(str(dim) for dim in aval.shape) + ")"
    if not jax.export.is_symbolic_dim(aval.shape[0]):
        if any(jax.export.is_symbolic_dim(dim) for dim in aval.shape):
            raise Wrong(f"the input has shape {shape}: the symbolic batch dimension comes first, (b, *feature_shape)")
        raise Wrong(f"the batch dimension is fixed at {aval.shape[0]}: make it symbolic with jax.export.symbolic_shape")
    if tuple(aval.shape[1:]) != tuple(features):
        raise Wrong(f"the feature dimensions are {tuple(aval.shape[1:])}; expected {features}, fixed")
    if aval.dtype != jnp.float32:
        raise Wrong(f"the input dtype is {aval.dtype}, expected float32")
    # 1, an odd size and one above 32, so a batch size that must be even, at least 2 or at most 32 fails
    batches = (1, int(rng.integers(2, 10)) * 2 + 1, int(rng.integers(33, 80)))
    # a large batch, odd and even, that no call makes: any upper bound on b refuses it
    restriction = _restriction(restored, (*batches, 100_000, 100_001))
    if restriction:
        raise Wrong(restriction)
    for batch in batches:
        x = jnp.asarray(rng.normal(size=(batch, *features)), jnp.float32)
        try:
            out = restored.call(x)
        except Exception as exc:
            raise Wrong(_call_failure(restored, aval.shape[0], batch, exc)) from None
        reference = jax.jit(fn)(x)  # compiled like the export, so the two agree to the last bits on any backend
        expect_array(out, reference.shape, jnp.float32, what=f"the result for a batch of {batch}")
        expect_close(out, reference, what=f"the result for a batch of {batch}", rtol=1e-5, atol=1e-5)


def _check_export_batched(export_batched):
    rng = np.random.default_rng()
    for fn, features in _export_programs(rng):
        _check_one_export(export_batched, fn, features, rng)


def check_export_batched(export_batched):
    report("export_batched", _check_export_batched, export_batched)
