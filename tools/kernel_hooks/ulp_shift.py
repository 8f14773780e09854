"""Kernel hook `ulp_shift`: simulated accelerator transcendental kernels on a CPU.

What it simulates. XLA's GPU and TPU kernels for `sin`, `cos`, `exp`, `log`, `tanh`, `logistic` and `erf_inv` (the
last is inside `jax.random.normal`) are not correctly rounded: their float32 results differ from the CPU's in the
last few bits. A value that prints with 4 decimals and lies within a few ulps of a rounding boundary (1.23445...)
therefore prints differently there, and a CPU run cannot see it. This hook moves every float32 result of those
primitives by BOOK_ULP_SHIFT ulps (default +4; `make test-portability` runs one pass at +4 and one at -4), so such a
value changes its printed digits on the CPU too. Exact results that accelerators get right as well (0, +-1 and 0.5:
exp(0), log(1), the saturation of tanh and logistic) are left alone, and the bounded functions stay in their range
(sin, cos, tanh in [-1, 1]; logistic in [0, 1]).

How. It wraps the primitives' MLIR lowering rules, so the shift is part of every compiled program (eager operations
are compiled too) and sits below every transformation: `grad`, `vmap` and `jit` see the primitives as they are, and
derivative rules that reuse a primitive's output (exp, tanh, logistic) get the shifted value, as on an accelerator.

What it does not simulate: the real error of any kernel (a fixed shift of a few ulps is a probe, not a model);
other primitives (`pow`, `sqrt`, `erf`, `log1p`, `expm1`, ...); float16, bfloat16 or float64 results; matrix
products (the `bfloat16_matmul` hook does those).

Loaded at start-up by this folder's sitecustomize.py when BOOK_KERNEL_HOOKS names it.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax._src.interpreters import mlir  # private: the only place lowering rules can be wrapped

SHIFT = int(os.environ.get("BOOK_ULP_SHIFT", "4"))
BOUNDS = {"sin": (-1.0, 1.0), "cos": (-1.0, 1.0), "tanh": (-1.0, 1.0), "logistic": (0.0, 1.0)}
PRIMITIVES = (lax.sin_p, lax.cos_p, lax.exp_p, lax.log_p, lax.tanh_p, lax.logistic_p, lax.erf_inv_p)
EXACT = (0.0, 1.0, -1.0, 0.5)


def shifted(value, ulps, bounds=None):
    """`value` moved by `ulps` float32 steps (up if positive), exact values kept, clipped to `bounds`."""
    target = jnp.float32(np.inf if ulps > 0 else -np.inf)
    moved = value
    for _ in range(abs(ulps)):
        moved = lax.nextafter(moved, jnp.broadcast_to(target, moved.shape))
    if bounds is not None:
        moved = jnp.clip(moved, *bounds)
    keep = jnp.isin(value, jnp.array(EXACT, jnp.float32)) | ~jnp.isfinite(value)
    return jnp.where(keep, value, moved)


def wrap_lowering(primitive):
    """Register, for every platform the primitive has a rule for, that rule followed by the shift."""
    entries = [(None, mlir._lowerings.get(primitive))]
    entries += [
        (platform, table[primitive])
        for platform, table in mlir._platform_specific_lowerings.items()
        if primitive in table
    ]
    bounds = BOUNDS.get(primitive.name)
    shift = mlir.lower_fun(lambda y: shifted(y, SHIFT, bounds), multiple_results=False)
    for platform, entry in entries:
        if entry is None:
            continue

        def lowering(ctx, *args, _rule=entry.rule, **params):
            outs = _rule(ctx, *args, **params)
            aval = ctx.avals_out[0]
            if aval.dtype != np.float32:
                return outs
            result = outs[0] if isinstance(outs, (list, tuple)) else outs
            return shift(ctx.replace(primitive=None, avals_in=[aval], avals_out=[aval], tokens_out=None), result)

        mlir.register_lowering(primitive, lowering, platform=platform, inline=entry.inline)


if SHIFT:
    for _primitive in PRIMITIVES:
        wrap_lowering(_primitive)
jax.ulp_shift_simulated = SHIFT  # lets a test or a curious reader see that the hook is active
