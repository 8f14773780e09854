"""Kernel hook `strict_warnings`: a DeprecationWarning or FutureWarning issued by jax, jaxlib or optax becomes an
exception.

Loaded at start-up by this folder's sitecustomize.py when BOOK_KERNEL_HOOKS names it; `tools/portability.py` sets
that for `make test-portability`.

Why not PYTHONWARNINGS: its module field matches one exact module name, not a package and not the module that
issued the warning (with `stacklevel=2`, jax's deprecations are attributed to the notebook's `__main__`), and
`error::DeprecationWarning` for every module kills the kernel at start-up (its own dependencies warn).

"Issued by" means the code that called `warnings.warn` lives in one of these packages, whatever module the
warning is attributed to. A cell that silences a warning on purpose (`warnings.catch_warnings`, with
`simplefilter("ignore")` or `record=True`) still does: only warnings that would be shown are turned into errors.
"""

import re
import sys
import warnings

STRICT_PACKAGES = ("jax", "jaxlib", "optax")
STRICT_CATEGORIES = (DeprecationWarning, FutureWarning)

_show_warning = warnings.showwarning


def issuing_module(frame):
    """Name of the module whose code called warnings.warn, seen from a frame inside the warnings machinery."""
    while frame is not None and frame.f_globals.get("__name__") == "warnings":
        frame = frame.f_back
    return frame.f_globals.get("__name__", "") if frame is not None else ""


def strict_showwarning(message, category, filename, lineno, file=None, line=None):
    if issubclass(category, STRICT_CATEGORIES):
        issuer = issuing_module(sys._getframe(1))
        if issuer.partition(".")[0] in STRICT_PACKAGES:
            error = message if isinstance(message, Warning) else category(message)
            error.add_note(
                f"(a {category.__name__} issued by {issuer}, made an error by tools/kernel_hooks/strict_warnings.py)"
            )
            raise error
    _show_warning(message, category, filename, lineno, file, line)


# Python ignores DeprecationWarning outside __main__ by default: show those attributed to these packages, so they
# reach strict_showwarning. Filters added later (by a cell, say) still take precedence.
_PACKAGE_PATTERN = "|".join(re.escape(name) for name in STRICT_PACKAGES)
for _category in STRICT_CATEGORIES:
    warnings.filterwarnings("always", category=_category, module=rf"({_PACKAGE_PATTERN})(\.|$)")
warnings.showwarning = strict_showwarning
