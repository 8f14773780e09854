"""Kernel hook `bfloat16_matmul`: simulated accelerator matmul numerics on a CPU.

What it simulates. On a TPU, a float32 matrix product at default precision multiplies operands rounded to bfloat16
(8 bits of mantissa, about 3 significant digits) and accumulates in float32; recent NVIDIA GPUs use TF32 (10 bits)
by default. XLA on CPU ignores `jax_default_matmul_precision` and always multiplies in full float32, so a CPU run can
never show that a stored output printed downstream of a matrix product would differ on an accelerator. This hook
makes it show: every `dot_general` whose operands are both float32 and whose precision is the default (None or
`Precision.DEFAULT`) first rounds both operands to bfloat16 (`lax.reduce_precision`, exponent 8 bits, mantissa
7 bits, keeping the float32 dtype). It wraps the primitive's `bind`, so it reaches every route to a matrix product:
`@`, `jnp.dot`, `jnp.matmul`, `jnp.einsum`, `lax.dot_general`, eagerly and inside `jit`, `grad` (the transposed
products of the backward pass too), `vmap`, `scan` and `shard_map`. An explicit `precision=HIGHEST` (or
`jax.default_matmul_precision("float32")`, which JAX turns into it) is left alone, as on a TPU.

What it does not simulate: TF32 itself (bfloat16 is coarser, so an output that survives this survives TF32);
convolutions (`conv_general_dilated`); transcendental functions (exp, tanh, ...), whose accelerator
implementations differ in the last bits; the order in which reductions and matmul accumulations add up; bfloat16
accumulation inside fused TPU kernels. Outputs that pass under it are robust to operand rounding, not proven
identical on every machine: show matmul results through checks with a tolerance, as BOOK_DESIGN.md section 4 says.

Loaded at start-up by this folder's sitecustomize.py when BOOK_KERNEL_HOOKS names it (`make test-portability`,
`make test-accelerator-numerics`).
"""

import jax
import numpy as np
from jax import lax

_dot_general_p = lax.dot_general_p
_original_bind = _dot_general_p.bind


def is_default_precision(precision):
    """True for the precision a plain `x @ y` gets: None, or Precision.DEFAULT (alone or for both operands)."""
    if precision is None:
        return True
    parts = precision if isinstance(precision, tuple) else (precision,)
    return all(part is None or part == lax.Precision.DEFAULT for part in parts)


def round_to_bfloat16(operand):
    """The float32 value nearest in bfloat16 (round to nearest even), still of dtype float32."""
    return lax.reduce_precision(operand, exponent_bits=8, mantissa_bits=7)


def bind_with_bfloat16_operands(lhs, rhs, **params):
    float32 = all(np.dtype(getattr(operand, "dtype", None)) == np.float32 for operand in (lhs, rhs))
    if float32 and is_default_precision(params.get("precision")):
        lhs, rhs = round_to_bfloat16(lhs), round_to_bfloat16(rhs)
    return _original_bind(lhs, rhs, **params)


_dot_general_p.bind = bind_with_bfloat16_operands
jax.bfloat16_matmul_simulated = True  # lets a test or a curious reader see that the hook is active
