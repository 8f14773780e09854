# @title Setup (run me first)
# Generated from tools/cells/setup.py by `make sync`: edit it there, not here.
# On Colab it installs the pinned JAX for the runtime (TPU, GPU or CPU) and optax; elsewhere it installs nothing.
import contextlib
import glob
import importlib.metadata
import io
import os
import shutil
import subprocess
import sys
import warnings

PINNED = {"jax": "0.12.0.1", "optax": "0.2.8", "flatbuffers": "25.12.19"}


def colab_runtime():
    """'tpu', 'gpu' or 'cpu' when running in Colab, None anywhere else."""
    try:
        import google.colab  # noqa: F401
    except ImportError:
        return None
    if os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_ACCELERATOR_TYPE") or glob.glob("/dev/accel*"):
        return "tpu"
    if os.environ.get("COLAB_GPU", "0") not in ("", "0") or shutil.which("nvidia-smi"):
        return "gpu"
    return "cpu"


def installed_version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def pins_to_install(runtime):
    """pip requirements that bring this runtime to the pinned versions ([] when they already match)."""
    jax_pin, optax_pin = PINNED["jax"], PINNED["optax"]
    needed = {"jax": jax_pin, "jaxlib": jax_pin}
    if runtime == "gpu":
        needed["jax-cuda12-plugin"] = jax_pin
    extra = {"tpu": "[tpu]", "gpu": "[cuda12]", "cpu": ""}[runtime]
    jax_ok = all(installed_version(name) == version for name, version in needed.items())
    if runtime == "tpu":
        jax_ok = jax_ok and installed_version("libtpu") is not None
    wanted = [] if jax_ok else [f"jax{extra}=={jax_pin}"]
    if installed_version("optax") != optax_pin:
        wanted.append(f"optax=={optax_pin}")
    if installed_version("flatbuffers") is None:  # jax.export's serialization needs it (chapter 6); any version
        wanted.append(f"flatbuffers=={PINNED['flatbuffers']}")
    return wanted


RUNTIME = colab_runtime()
MISSING = pins_to_install(RUNTIME) if RUNTIME else []
if MISSING:
    print("Installing", *MISSING, "for this Colab runtime (once per session; can take a few minutes) ...")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *MISSING], check=True)

import IPython  # noqa: E402
import jax  # noqa: E402  (must come after the install above)
import numpy as np  # noqa: E402

# Eight virtual CPU devices, so the multi-device chapters run on any laptop; must precede any JAX operation.
jax.config.update("jax_num_cpu_devices", 8)
# About 4 significant digits and no scientific notation: outputs that read the same on CPU, GPU and TPU.
np.set_printoptions(precision=4, suppress=True)
# Warnings show their category and message only: no file paths that differ from machine to machine.
warnings.formatwarning = lambda message, category, *args, **kwargs: f"{category.__name__}: {message}\n"
# Errors show as "TypeError: message", without a traceback through JAX's installed files (`%xmode context` brings
# full tracebacks back). The magic announces itself, so its output is swallowed.
if IPython.get_ipython() is not None:
    with contextlib.redirect_stdout(io.StringIO()):
        IPython.get_ipython().run_line_magic("xmode", "minimal")

# A regression run asked for a backend (BOOK_BACKEND=gpu|tpu|cpu) must really be on it: no silent CPU fallback.
if os.environ.get("BOOK_BACKEND") and jax.default_backend() != os.environ["BOOK_BACKEND"]:
    raise RuntimeError(f"BOOK_BACKEND={os.environ['BOOK_BACKEND']} but JAX runs on {jax.default_backend()!r}")
