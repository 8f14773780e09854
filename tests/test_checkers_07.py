"""Chapter 7's exercise checkers, fed the reference answer, the unfinished stub and at least five wrong answers each.

A checker must print exactly one line, must never raise (the reader's notebook keeps running), must accept a
correct answer and must reject every wrong one, including answers that are only slightly off (a count off by one,
a FLOP formula scaled by 1.01 or shifted by 1, an export whose batch size is fixed or only almost symbolic).
"""

from collections import Counter

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
from checker_harness import assert_rejects, bfloat16_matmuls, load_checkers, stub, verdict

CH07 = load_checkers("07_jaxpr_aot.ipynb")


# --- count_primitives --------------------------------------------------------------------------------------------


def sub_jaxprs(eqn):
    for value in eqn.params.values():
        for item in value if isinstance(value, (tuple, list)) else [value]:
            if isinstance(item, jax.extend.core.Jaxpr):
                yield item


def counting(closed, depth=None, holders=True, branches="all", bump=None):
    """A configurable count: depth=0 is the top level only; holders=False skips equations that hold sub-jaxprs;
    branches='first' visits only the first jaxpr of each equation; bump adds one to that primitive."""
    counts = Counter()

    def visit(jaxpr, level):
        for eqn in jaxpr.eqns:
            subs = list(sub_jaxprs(eqn))
            if holders or not subs:
                counts[eqn.primitive.name] += 1
            if depth is not None and level >= depth:
                continue
            for sub in subs[:1] if branches == "first" else subs:
                visit(sub, level + 1)

    visit(closed.jaxpr, 0)
    if bump:
        counts[bump] += 1
    return dict(counts)


def count_ok(closed):
    return counting(closed)


def count_each_jaxpr_once(closed):
    """Wrong: skips a sub-jaxpr it has already visited, so a jitted function called twice counts once."""
    counts, seen = Counter(), set()

    def visit(jaxpr):
        for eqn in jaxpr.eqns:
            counts[eqn.primitive.name] += 1
            for sub in sub_jaxprs(eqn):
                if id(sub) not in seen:
                    seen.add(id(sub))
                    visit(sub)

    visit(closed.jaxpr)
    return dict(counts)


def count_named_params(closed, names=("branches", "jaxpr", "cond_jaxpr", "body_jaxpr")):
    """Wrong: looks for sub-jaxprs only under these parameter names (misses custom_jvp_call's call_jaxpr, or with
    fewer names a while loop's condition)."""
    counts = Counter()

    def visit(jaxpr):
        for eqn in jaxpr.eqns:
            counts[eqn.primitive.name] += 1
            for name, value in eqn.params.items():
                if name in names:
                    for sub in value if isinstance(value, (tuple, list)) else [value]:
                        visit(sub)

    visit(closed.jaxpr)
    return dict(counts)


def count_without_tuples(closed):
    """Wrong: recurses only into parameters that are a jaxpr themselves, so a cond's `branches` (a tuple of jaxprs)
    are never visited; the rest of the walk is right."""
    counts = Counter()

    def visit(jaxpr):
        for eqn in jaxpr.eqns:
            counts[eqn.primitive.name] += 1
            for value in eqn.params.values():
                if isinstance(value, jax.extend.core.Jaxpr):
                    visit(value)

    visit(closed.jaxpr)
    return dict(counts)


def count_with_extension_helper(closed):
    """Another correct answer: jax.extend.core.jaxprs_in_params finds the sub-jaxprs, and a Counter is a dict."""
    counts = Counter()

    def visit(jaxpr):
        for eqn in jaxpr.eqns:
            counts[eqn.primitive.name] += 1
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                visit(sub)

    visit(closed.jaxpr)
    return counts


def test_count_primitives_accepts_correct_answers(capsys):
    check = CH07["check_count_primitives"]
    for _ in range(3):  # fresh programs every time
        assert verdict(capsys, check, count_ok).startswith("✓")
    assert verdict(capsys, check, count_with_extension_helper).startswith("✓")
    assert verdict(capsys, check, lambda closed: {**counting(closed), "sin_never_used": 0}).startswith("✓")
    as_arrays = {"numpy": np.int64, "0-d numpy": np.array, "0-d jax": jnp.array, "float": float}
    for convert in as_arrays.values():  # whole numbers of any kind
        answer = lambda closed, convert=convert: {k: convert(v) for k, v in counting(closed).items()}  # noqa: E731
        assert verdict(capsys, check, answer).startswith("✓")
    assert verdict(capsys, check, stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda closed: counting(closed, depth=0), ["only the top level"]),
        (lambda closed: counting(closed, depth=1), ["only one level down", "recursion"]),  # one level, not all
        (lambda closed: counting(closed, depth=2), ["only 2 levels down"]),
        (count_without_tuples, ["branches of a cond", "tuple"]),  # not "only the top level": it recurses elsewhere
        (lambda closed: counting(closed, holders=False), ["count once each too"]),
        (lambda closed: counting(closed, branches="first"), ["only the first sub-jaxpr", "branch"]),  # cond branch 0
        (lambda closed: counting(closed, bump="sin"), ["equations of 'sin'"]),  # off by one
        (lambda closed: counting(closed, bump="add"), ["equations of 'add'"]),
        (lambda closed: {k: v - 1 for k, v in counting(closed).items()}, ["it counts", "expected"]),
        (lambda closed: sum(counting(closed).values()), ["one number"]),
        (lambda closed: len(closed.jaxpr.eqns), ["one number"]),
        (lambda closed: list(counting(closed).items()), ["dict"]),
        (lambda closed: {eqn.primitive: 1 for eqn in closed.jaxpr.eqns}, ["keys", "str"]),
        (lambda closed: {k: v + 0.5 for k, v in counting(closed).items()}, ["whole number"]),
        (lambda closed: closed.jaxpr.eqns[99], ["your function raised IndexError"]),
        (count_each_jaxpr_once, ["shared jit", "once per use"]),  # dedup of a shared sub-jaxpr
        (count_named_params, ["call_jaxpr", "custom_jvp_call"]),  # misses custom_jvp_call's call_jaxpr (relu)
        (
            lambda closed: count_named_params(closed, ("branches", "jaxpr", "body_jaxpr", "call_jaxpr")),
            ["condition of a while loop", "cond_jaxpr"],
        ),
        (lambda closed: {k: float("nan") for k in counting(closed)}, ["whole number", "nan"]),
        (lambda closed: {k: float("inf") for k in counting(closed)}, ["whole number", "inf"]),
        (lambda closed: {k: jnp.array([v]) for k, v in counting(closed).items()}, ["whole number"]),  # shape (1,)
        (lambda closed: {k: np.True_ for k in counting(closed)}, ["whole number"]),
        (lambda closed: None, ["dict", "NoneType"]),
    ],
)
def test_count_primitives_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH07["check_count_primitives"], answer, *words)


# --- predicted_flops ---------------------------------------------------------------------------------------------


def flops_ok(m, k, n, p):
    return 2 * m * k * n + m * n + 2 * m * n * p + m * p


def test_compiler_count_is_the_hand_count():
    """The checker's reference, the hand count, is what cost_analysis() gives on the host CPU, exactly."""
    rng = np.random.default_rng(0)
    for _ in range(10):
        m, k, n, p = (int(v) for v in rng.choice(np.arange(3, 60), size=4, replace=False))
        assert CH07["_compiler_flops"](m, k, n, p) == flops_ok(m, k, n, p)


def test_predicted_flops_accepts_correct_answers(capsys):
    check = CH07["check_predicted_flops"]
    assert verdict(capsys, check, flops_ok).startswith("✓")
    assert verdict(capsys, check, lambda m, k, n, p: float(flops_ok(m, k, n, p))).startswith("✓")
    assert verdict(capsys, check, lambda m, k, n, p: np.int64(flops_ok(m, k, n, p))).startswith("✓")
    with bfloat16_matmuls():  # the simulated TPU rounding of `make test-portability` changes no count
        assert verdict(capsys, check, flops_ok).startswith("✓")
    assert verdict(capsys, check, stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda m, k, n, p: flops_ok(m, k, n, p) + m * n, ["tanh", "transcendentals"]),
        (lambda m, k, n, p: 2 * m * k * n + 2 * m * n * p, ["bias additions"]),
        (lambda m, k, n, p: m * k * n + m * n + m * n * p + m * p, ["2·m·k·n"]),
        (lambda m, k, n, p: 1.01 * flops_ok(m, k, n, p), ["the compiler counts"]),
        (lambda m, k, n, p: flops_ok(m, k, n, p) + 1, ["the compiler counts"]),
        (lambda m, k, n, p: flops_ok(m, k, n, p) - 1, ["the compiler counts"]),
        (lambda m, k, n, p: 2 * m * n * k + m * k + 2 * m * k * p + m * p, ["the compiler counts"]),  # n, k swapped
        (lambda m, k, n, p: 2 * m * k * n + m * n + 2 * m * k * p + m * p, ["the compiler counts"]),  # k for n
        (lambda m, k, n, p: flops_ok(m, k, n, p) + m * n + m * p, ["the compiler counts"]),  # two FLOPs per bias
        (lambda m, k, n, p: 2 * m * k * n, ["the compiler counts"]),  # the first product only
        (lambda m, k, n, p: None, ["None"]),
        (lambda m, k, n, p: str(flops_ok(m, k, n, p)), ["number", "str"]),
        (lambda m, k, n, p: np.array([flops_ok(m, k, n, p), 1.0]), ["one number"]),
        (lambda m, k, n, p: True, ["number", "bool"]),
        (lambda m, k, n, p: 1 / 0, ["your function raised ZeroDivisionError"]),
        (lambda m, k, n, p: 10**400, ["too large"]),
        (lambda m, k, n, p: float("nan"), ["nan", "finite"]),
        (lambda m, k, n, p: float("inf"), ["inf", "finite"]),
        (lambda m, k, n, p: flops_ok(m, k, n, p) * 1.0001, ["the compiler counts"]),
    ],
)
def test_predicted_flops_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH07["check_predicted_flops"], answer, *words)


# --- export_batched ----------------------------------------------------------------------------------------------


def export_with(fn, shape, dtype=jnp.float32, serialize=True, jit=True, **kwargs):
    spec = jax.ShapeDtypeStruct(shape, dtype)
    exported = jax.export.export(jax.jit(fn) if jit else fn, **kwargs)(spec)
    return exported.serialize() if serialize else exported


def symbolic(text, feature_shape):
    dims = ", ".join(str(d) for d in feature_shape)
    return jax.export.symbolic_shape(f"{text}, {dims}")


def capped(feature_shape, largest):
    dims = ", ".join(str(d) for d in feature_shape)
    return jax.export.symbolic_shape(f"b, {dims}", constraints=(f"b <= {largest}",))


def constrained(feature_shape, constraint):
    dims = ", ".join(str(d) for d in feature_shape)
    return jax.export.symbolic_shape(f"b, {dims}", constraints=(constraint,))


def at_least(feature_shape, smallest):
    dims = ", ".join(str(d) for d in feature_shape)
    return jax.export.symbolic_shape(f"b, {dims}", constraints=(f"b >= {smallest}",))


def batch_last(fn, feature_shape):
    """Wrong: the symbolic batch axis is last, (*feature_shape, b), and moved to the front inside."""
    dims = ", ".join(str(d) for d in feature_shape)
    return export_with(lambda x: fn(jnp.moveaxis(x, -1, 0)), jax.export.symbolic_shape(f"{dims}, b"))


def export_ok(fn, feature_shape):
    return export_with(fn, symbolic("b", feature_shape))


def export_from_one_string(fn, feature_shape):
    (b,) = jax.export.symbolic_shape("batch")
    return export_with(fn, (b, *feature_shape))


def other_platform():
    return "tpu" if jax.export.default_export_platform() != "tpu" else "cpu"


def test_export_batched_accepts_correct_answers(capsys):
    check = CH07["check_export_batched"]
    for _ in range(4):  # both kinds of function, random feature shapes
        assert verdict(capsys, check, export_ok).startswith("✓")
    assert verdict(capsys, check, export_from_one_string).startswith("✓")
    assert verdict(capsys, check, lambda fn, fs: bytes(export_ok(fn, fs))).startswith("✓")
    several = jax.export.default_export_platform(), other_platform()
    answer = lambda fn, fs: export_with(fn, symbolic("b", fs), platforms=several)  # noqa: E731
    assert verdict(capsys, check, answer).startswith("✓")
    # a lower bound every batch meets is no restriction
    assert verdict(capsys, check, lambda fn, fs: export_with(fn, at_least(fs, 1))).startswith("✓")
    assert verdict(capsys, check, lambda fn, fs: export_with(fn, constrained(fs, "b >= 0"))).startswith("✓")
    assert verdict(capsys, check, stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda fn, fs: export_with(fn, (8, *fs)), ["fixed at 8", "symbolic_shape"]),
        (lambda fn, fs: export_with(fn, (1, *fs)), ["fixed at 1"]),
        (lambda fn, fs: export_with(fn, symbolic("b", fs), serialize=False), ["Exported itself", "serialize"]),
        (lambda fn, fs: export_with(fn, symbolic("b + 1", fs)), ["b + 1", "batch of 1", "plain"]),  # off by one
        (lambda fn, fs: export_with(fn, symbolic("2*b", fs)), ["2*b", "batch of 1", "plain"]),  # even batches only
        (lambda fn, fs: export_with(fn, at_least(fs, 2)), ["constraint b >= 2", "batch of 1"]),  # a batch of 1 refused
        (
            batch_last,
            ["symbolic batch dimension comes first"],
        ),  # not "fixed at": the batch is symbolic, in the wrong place
        (lambda fn, fs: export_with(fn, symbolic("b", fs), dtype=jnp.float16), ["dtype", "float16"]),
        (lambda fn, fs: export_with(fn, symbolic("b", fs), dtype=jnp.int32), ["dtype", "int32"]),
        (lambda fn, fs: export_with(fn, symbolic("b", fs[::-1] + (1,))), ["shape"]),
        (lambda fn, fs: export_with(fn, jax.export.symbolic_shape("b, " + ", ".join(["f"] * len(fs)))), ["fixed"]),
        (lambda fn, fs: export_with(lambda x: fn(x) * 1.01, symbolic("b", fs)), ["wrong values"]),
        (lambda fn, fs: export_with(lambda x: fn(x) + 0.01, symbolic("b", fs)), ["wrong values"]),
        (lambda fn, fs: export_with(lambda x: fn(x)[:, None], symbolic("b", fs)), ["shape"]),
        (lambda fn, fs: export_with(fn, symbolic("b", fs), platforms=(other_platform(),)), ["was exported for"]),
        (lambda fn, fs: export_with(fn, symbolic("b", fs), jit=False), ["your function raised", "jit"]),
        (lambda fn, fs: jax.jit(fn), ["bytes", "PjitFunction"]),
        (lambda fn, fs: b"not an export", ["deserialize"]),
        (lambda fn, fs: export_with(fn, jax.export.symbolic_shape(f"b, {fs[0]}")), ["shape"]),  # first feature only
        (lambda fn, fs: export_with(fn, jax.export.symbolic_shape("b, 5")), ["5"]),  # hard-coded features
        (lambda fn, fs: export_with(fn, jax.export.symbolic_shape("b, " + ", ".join(["b"] * len(fs)))), ["fixed"]),
        (
            lambda fn, fs: export_with(fn, capped(fs, 16)),
            ["restricts the batch size", "constraint b <= 16", "every batch size"],
        ),
        (lambda fn, fs: export_with(fn, capped(fs, 32)), ["constraint b <= 32"]),
        # caps above every batch the checker calls: refused from the constraint itself, not by chance
        (lambda fn, fs: export_with(fn, capped(fs, 64)), ["restricts the batch size", "constraint b <= 64"]),
        (lambda fn, fs: export_with(fn, capped(fs, 80)), ["restricts the batch size", "constraint b <= 80"]),
        (lambda fn, fs: export_with(fn, capped(fs, 100)), ["restricts the batch size", "constraint b <= 100"]),
        (lambda fn, fs: export_with(fn, capped(fs, 1000)), ["restricts the batch size", "constraint b <= 1000"]),
        (lambda fn, fs: export_with(fn, constrained(fs, "1000 >= b")), ["restricts the batch size", "1000 >= b"]),
        (lambda fn, fs: export_with(fn, constrained(fs, "2*b <= 2000")), ["restricts the batch size", "2*b <= 2000"]),
        (lambda fn, fs: export_with(fn, constrained(fs, "-b >= -500")), ["restricts the batch size", "-b >= -500"]),
        (lambda fn, fs: export_with(fn, constrained(fs, "mod(b, 2) == 0")), ["restricts the batch size", "mod(b, 2)"]),
        (lambda fn, fs: export_with(lambda x: fn(x).astype(jnp.bfloat16), symbolic("b", fs)), ["dtype", "bfloat16"]),
        (lambda fn, fs: jnp.zeros(3), ["bytes", "ArrayImpl"]),
    ],
)
def test_export_batched_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH07["check_export_batched"], answer, *words)


def test_export_batched_checks_both_feature_ranks():
    """Every check runs a 1-D and a 2-D feature shape, so the answers above fail deterministically, not by chance."""
    rng = np.random.default_rng()
    for _ in range(5):
        ranks = [len(features) for _, features in CH07["_export_programs"](rng)]
        assert ranks == [1, 2]


def test_count_programs_share_a_jaxpr():
    """One program uses one Jaxpr object in several equations, so visiting each sub-jaxpr once gives fewer counts."""
    programs = CH07["_count_programs"](np.random.default_rng())
    closed = programs["shared jit"]
    shared = [eqn.params["jaxpr"] for eqn in closed.jaxpr.eqns if eqn.primitive.name == "jit"]
    assert len(shared) >= 2 and all(sub is shared[0] for sub in shared)
    assert count_each_jaxpr_once(closed) != counting(closed)
