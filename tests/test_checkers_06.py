"""Chapter 6's exercise checkers, fed right answers (in two styles), the unfinished stub and wrong answers.

A checker must print exactly one line, must never raise, must accept a correct answer (tp_specs and make_dp_step
also with bfloat16-rounded matrix products, as on a TPU) and must reject every wrong one, including slightly-off
answers. The chapter runs on 8 devices; here they are 8 virtual CPU devices, which tests/conftest.py asks for.
"""

import jax
import pytest
from checker_harness import assert_rejects, bfloat16_matmuls, load_checkers, stub, verdict
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

CH06 = load_checkers("06_sharding.ipynb")


def test_eight_devices():
    assert len(jax.devices("cpu")) == 8


# --- tp_specs ----------------------------------------------------------------------------------------------------


def specs(*value):
    return lambda: value


def test_tp_specs_accepts_correct_answers(capsys):
    assert verdict(capsys, CH06["check_tp_specs"], specs(P("data", None), P(None, "model"), P("model", None)))[0] == "✓"
    assert verdict(capsys, CH06["check_tp_specs"], specs(P("data"), P(None, "model"), P("model"))).startswith("✓")
    with bfloat16_matmuls():
        line = verdict(capsys, CH06["check_tp_specs"], specs(P("data"), P(None, "model"), P("model")))
    assert line.startswith("✓"), line
    assert verdict(capsys, CH06["check_tp_specs"], stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (specs(P("data", None), P(), P()), ["no collective"]),  # data parallelism
        (specs(P("data", None), P("model", None), P(None, "model")), ["hidden layer"]),  # the row/column swap
        (specs(P("data", None), P(None, "model"), P(None, "model")), ["no all-reduce"]),
        (specs(P(), P(None, "model"), P("model", None)), ["batch"]),  # batch not split
        (specs(P("data", None), P(None, "batch"), P("batch", None)), ["cannot be placed"]),  # unknown axis
        (specs(P("data", None), P(None, "model")), ["three"]),
        (lambda: ("data", None), ["three"]),
        (lambda: 1 / 0, ["ZeroDivisionError"]),
    ],
)
def test_tp_specs_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH06["check_tp_specs"], answer, *words)


# --- make_dp_step ------------------------------------------------------------------------------------------------


def dp_step(lr=0.1, donate=True, out="same", loss_scale=1.0, sign=-1.0, shift=0.0):
    def make(mesh, loss):
        replicated = NamedSharding(mesh, P())

        def step(params, x, y):
            grads = jax.grad(lambda *a: loss_scale * loss(*a))(params, x, y)
            return jax.tree.map(lambda p, g: p + sign * lr * g + shift, params, grads)

        kwargs = {"donate_argnums": 0} if donate else {}
        if out == "same":
            kwargs["out_shardings"] = {"w1": replicated, "w2": replicated}
        elif out == "split":
            kwargs["out_shardings"] = NamedSharding(mesh, P("data", None))
        return jax.jit(step, **kwargs)

    return make


def make_with_explicit_shardings(mesh, loss):
    """Another style: in_shardings too, and the update written out by hand."""
    rep, rows = NamedSharding(mesh, P()), NamedSharding(mesh, P("data", None))

    def step(params, x, y):
        g = jax.grad(loss)(params, x, y)
        return {"w1": params["w1"] - 0.1 * g["w1"], "w2": params["w2"] - 0.1 * g["w2"]}

    return jax.jit(step, in_shardings=({"w1": rep, "w2": rep}, rows, rows), out_shardings=rep, donate_argnums=(0,))


def test_dp_step_accepts_correct_answers(capsys):
    assert verdict(capsys, CH06["check_dp_step"], dp_step()).startswith("✓")
    assert verdict(capsys, CH06["check_dp_step"], make_with_explicit_shardings).startswith("✓")
    for _ in range(3):  # fresh random inputs each time: the tighter scale and offset tests hold in bfloat16
        with bfloat16_matmuls():
            line = verdict(capsys, CH06["check_dp_step"], dp_step())
        assert line.startswith("✓"), line
    assert verdict(capsys, CH06["check_dp_step"], stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (dp_step(lr=0.101), ["scaled by"]),  # slightly off
        (dp_step(lr=0.1005), ["scaled by"]),  # 0.5% off
        (dp_step(lr=0.0995), ["scaled by"]),
        (dp_step(shift=1e-3), ["shifted by"]),  # the update shifted by 1e-3
        (dp_step(lr=0.0), ["did not change"]),
        (dp_step(sign=1.0), ["uphill"]),
        (dp_step(loss_scale=32.0), ["wrong values"]),  # a sum over the batch instead of the mean
        (dp_step(loss_scale=0.125), ["wrong values"]),  # divided by the devices once more
        (dp_step(donate=False), ["not donated"]),
        (dp_step(out="split"), ["sharding"]),
        (lambda mesh, loss: jax.jit(lambda p, x, y: p["w1"]), ["dict"]),
        (lambda mesh, loss: 42, ["function"]),
        (lambda mesh, loss: lambda p, x, y: p["missing"], ["KeyError"]),
    ],
)
def test_dp_step_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH06["check_dp_step"], answer, *words)


# --- param_bytes -------------------------------------------------------------------------------------------------


def right_bytes(strategy, mesh_shape, d, f):
    data, model = mesh_shape
    return 2 * d * f * 4 // {"data parallel": 1, "FSDP": data, "tensor parallel": model, "2-D": model}[strategy]


def right_bytes_by_matrix(strategy, mesh_shape, d, f):
    """Another style: each matrix's shard shape, multiplied out."""
    data, model = mesh_shape
    shapes = {
        "data parallel": [(d, f), (f, d)],
        "FSDP": [(d // data, f), (f // data, d)],
        "tensor parallel": [(d, f // model), (f // model, d)],
        "2-D": [(d, f // model), (f // model, d)],
    }[strategy]
    return sum(rows * cols * 4 for rows, cols in shapes)


def test_param_bytes_accepts_correct_answers(capsys):
    assert verdict(capsys, CH06["check_param_bytes"], right_bytes).startswith("✓")
    assert verdict(capsys, CH06["check_param_bytes"], right_bytes_by_matrix).startswith("✓")
    assert verdict(capsys, CH06["check_param_bytes"], stub).startswith("○")


def global_bytes(strategy, mesh_shape, d, f):
    return 2 * d * f * 4


def fsdp_over_all(strategy, mesh_shape, d, f):  # forgets that P('data') replicates over 'model'
    data, model = mesh_shape
    return right_bytes(strategy, mesh_shape, d, f) // (model if strategy == "FSDP" else 1)


def tp_over_data(strategy, mesh_shape, d, f):  # splits tensor parallel over the wrong axis
    data, model = mesh_shape
    if strategy == "tensor parallel":
        return 2 * d * f * 4 // data
    return right_bytes(strategy, mesh_shape, d, f)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (global_bytes, ["whole matrices"]),
        (lambda s, m, d, f: right_bytes(s, m, d, f) // 4, ["4 bytes"]),  # counts entries
        (lambda s, m, d, f: right_bytes(s, m, d, f) + 1, ["expected"]),  # off by one
        (lambda s, m, d, f: float(right_bytes(s, m, d, f)), ["integer"]),
        (lambda s, m, d, f: right_bytes(s, m, d, f) / 2**20, ["integer"]),
        (fsdp_over_all, ["FSDP", "factor of 2"]),
        (tp_over_data, ["tensor parallel"]),
        (lambda s, m, d, f: {"x": 1}[s], ["KeyError"]),
    ],
)
def test_param_bytes_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH06["check_param_bytes"], answer, *words)
