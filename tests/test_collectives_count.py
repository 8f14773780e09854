"""Chapter 6 counts collectives twice: in its visible `collectives` cell (it teaches reading HLO) and in the hidden
checker (`_collectives`, which must not depend on the reader's cells). Both must count the same way: an async
-start/-done pair (as GPUs emit) counts once, with the -done's result bytes (the -start's result holds the operands
too)."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from book_cells import CHAPTERS
from checker_harness import load_checkers
from conftest import read_notebook
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

NOTEBOOK = CHAPTERS / "06_sharding.ipynb"

# Optimized HLO as a GPU prints it: async pairs; a synchronous all-reduce and collective-permute as the CPU prints them.
ASYNC_HLO = """\
HloModule jit_step, entry_computation_layout={(f32[2,4]{1,0})->f32[8,4]{1,0}}

ENTRY %main.1 (param: f32[2,4]) -> f32[8,4] {
  %param = f32[2,4]{1,0} parameter(0)
  %all-gather-start = (f32[2,4]{1,0}, f32[8,4]{1,0}) all-gather-start(%param), channel_id=1, dimensions={0}
  %all-gather-done = f32[8,4]{1,0} all-gather-done(%all-gather-start)
  %all-reduce-start.1 = f32[8,4]{1,0} all-reduce-start(%all-gather-done), channel_id=2, to_apply=%add
  %all-reduce-done.1 = f32[8,4]{1,0} all-reduce-done(%all-reduce-start.1)
  %all-reduce.2 = bf16[16]{0} all-reduce(%other), channel_id=3, to_apply=%add
  %collective-permute-start = (f32[4]{0}, f32[4]{0}) collective-permute-start(%x), source_target_pairs={{0,1}}
  %collective-permute-done = f32[4]{0} collective-permute-done(%collective-permute-start)
  ROOT %reduce-scatter = f32[1,4]{1,0} reduce-scatter(%all-reduce-done.1), dimensions={0}, to_apply=%add
}
"""
EXPECTED = {
    "all-gather": (1, 8 * 4 * 4),
    "all-reduce": (2, 8 * 4 * 4 + 16 * 2),
    "collective-permute": (1, 4 * 4),
    "reduce-scatter": (1, 4 * 4),
}


class Compiled:
    """Stands in for a compiled program: both counters only read as_text()."""

    def __init__(self, text):
        self.text = text

    def as_text(self):
        return self.text


@pytest.fixture(scope="module")
def chapter_collectives():
    """The chapter's own `collectives`, run from the cell that defines it (the names it needs given)."""
    cells = [cell for cell in read_notebook(NOTEBOOK).cells if "def collectives(" in cell.source]
    assert len(cells) == 1
    namespace = {"np": np, "re": re}
    exec(cells[0].source, namespace)
    return namespace["collectives"]


@pytest.fixture(scope="module")
def checker_collectives():
    return load_checkers(NOTEBOOK.name)["_collectives"]


def test_async_pairs_count_once(chapter_collectives, checker_collectives):
    assert chapter_collectives(Compiled(ASYNC_HLO)) == EXPECTED
    assert checker_collectives(Compiled(ASYNC_HLO)) == EXPECTED


def test_same_counts_on_a_compiled_program(chapter_collectives, checker_collectives):
    mesh = jax.make_mesh((4, 2), ("data", "model"), devices=jax.devices("cpu")[:8])

    def step(x, w):
        return jnp.tanh(x @ w).sum(0)

    compiled = (
        jax.jit(step, out_shardings=NamedSharding(mesh, P()))
        .lower(
            jax.device_put(jnp.ones((16, 8)), NamedSharding(mesh, P("data", None))),
            jax.device_put(jnp.ones((8, 6)), NamedSharding(mesh, P(None, "model"))),
        )
        .compile()
    )
    counts = chapter_collectives(compiled)
    assert counts and counts == checker_collectives(compiled)
