"""Load the kernel hooks named in BOOK_KERNEL_HOOKS (comma-separated module names from this folder).

Python imports `sitecustomize` at start-up from the first folder on sys.path that has one, so every process whose
PYTHONPATH holds this folder runs this file, including the Jupyter kernels that nbval starts (they inherit the
environment). Only one sitecustomize runs per process, hence this loader: the hooks are ordinary modules, and a run
chooses which of them to load, for example

    PYTHONPATH=tools/kernel_hooks BOOK_KERNEL_HOOKS=strict_warnings,bfloat16_matmul python -m pytest --nbval ...

The hooks: `strict_warnings` (jax/jaxlib/optax deprecations become errors) and `bfloat16_matmul` (float32 matrix
products round their operands to bfloat16, as a TPU does at default precision). A name that is not a hook here is
an ImportError at start-up: a misspelt hook must not pass silently.
"""

import importlib
import os

for _name in os.environ.get("BOOK_KERNEL_HOOKS", "").split(","):
    if _name.strip():
        importlib.import_module(_name.strip())
