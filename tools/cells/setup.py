# @title Setup (run me first)
# Generated from tools/cells/setup.py by `make sync`: edit it there, not here.
# On Colab it installs the pinned JAX for the runtime (TPU, GPU or CPU) and optax, restarting the runtime once if
# the install replaced a package that was already loaded; elsewhere it installs nothing.
import contextlib
import glob
import importlib.metadata
import io
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import warnings

PINNED = {"jax": "0.12.0.1", "optax": "0.2.8", "flatbuffers": "25.12.19"}


def installed_version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def device_nodes():
    """The accelerator device files of this machine: TPU v4's /dev/accel*, v5e/v5p/v6e's /dev/vfio/N, NVIDIA's."""
    return glob.glob("/dev/accel*") + glob.glob("/dev/vfio/*") + glob.glob("/dev/nvidia[0-9]*")


def accelerator(environ, nodes, has_nvidia_smi, has_libtpu):
    """'tpu', 'gpu' or 'cpu' from the facts of a machine (pure, so tests can fake any runtime).

    TPU variables first; then an NVIDIA GPU (drivers from 570 on create /dev/accel* too, so it must come before that
    node); then the signs of a TPU host: libtpu installed, a numbered VFIO group (v5e, v5p, v6e; /dev/vfio/vfio is
    the control node every Linux with VFIO has), /dev/accel* (v2-v4).
    """
    if environ.get("COLAB_TPU_ADDR") or environ.get("TPU_ACCELERATOR_TYPE"):
        return "tpu"
    if has_nvidia_smi or any(re.fullmatch(r"/dev/nvidia\d+", node) for node in nodes):
        return "gpu"
    if has_libtpu or any(re.fullmatch(r"/dev/(vfio/\d+|accel\d+)", node) for node in nodes):
        return "tpu"
    if environ.get("COLAB_GPU", "0") not in ("", "0"):
        return "gpu"
    return "cpu"


def colab_runtime():
    """'tpu', 'gpu' or 'cpu' when running in Colab, None anywhere else."""
    try:
        import google.colab  # noqa: F401
    except ImportError:
        return None
    return accelerator(os.environ, device_nodes(), bool(shutil.which("nvidia-smi")), bool(installed_version("libtpu")))


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
    if installed_version("flatbuffers") is None:  # jax.export's serialization needs it (chapter 7); any version
        wanted.append(f"flatbuffers=={PINNED['flatbuffers']}")
    return wanted


def loaded_distributions():
    """{distribution: version} of the installed packages this process has already imported (numpy, on Colab)."""
    providers = importlib.metadata.packages_distributions()
    top_level = {name.partition(".")[0] for name in list(sys.modules)}
    names = {dist for module in top_level for dist in providers.get(module, ())}
    return {name: installed_version(name) for name in names}


def replaced_after_import(loaded_before, version_now=installed_version):
    """The already-imported distributions whose installed version changed: they are stale in this process."""
    return sorted(name for name, version in loaded_before.items() if version_now(name) != version)


RUNTIME = colab_runtime()
MISSING = pins_to_install(RUNTIME) if RUNTIME else []
if MISSING:
    print("Installing", *MISSING, "for this Colab runtime (once per session; about a minute) ...")
    LOADED = loaded_distributions()
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *MISSING], check=True)
    STALE = replaced_after_import(LOADED)
    if STALE:
        # Colab's own idiom: end the kernel process, and Colab starts a fresh one with the new versions.
        print(f"Installed. {', '.join(STALE)} changed under this session, so the runtime now restarts once:")
        print("when Colab says it restarted, run this cell again (it installs nothing the second time).", flush=True)
        time.sleep(3)  # the kernel sends output from another thread: let these lines reach the page first
        os.kill(os.getpid(), 9)

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

# A TPU or GPU runtime on which JAX still runs on the CPU (mixed libtpu versions, say; jax #29989) says so.
if RUNTIME in ("tpu", "gpu") and jax.default_backend() == "cpu":
    print(f"Warning: this is a {RUNTIME.upper()} runtime but JAX runs on the CPU. Use Runtime > Disconnect and delete")
    print("runtime, then run this cell again; if it persists, the chapter still runs, only slower.")
# A regression run asked for a backend (BOOK_BACKEND=gpu|tpu|cpu) must really be on it: no silent CPU fallback.
if os.environ.get("BOOK_BACKEND") and jax.default_backend() != os.environ["BOOK_BACKEND"]:
    raise RuntimeError(f"BOOK_BACKEND={os.environ['BOOK_BACKEND']} but JAX runs on {jax.default_backend()!r}")


def show_error(fn, *args, lines=6, **kwargs):
    """Call fn(*args, **kwargs) and print the error it raises as "Type: message", or "no error".

    The chapters show JAX's real error messages this way. What differs from machine to machine or run to run is
    cut: source locations and the lines that hold them, object ids and addresses, and device kinds. Long lines are
    wrapped at 79 columns, and at most `lines` lines of the message are kept.
    """
    try:
        fn(*args, **kwargs)
    except Exception as err:  # noqa: BLE001  (any error is what the reader should see)
        text = re.sub(r" at (0x[0-9a-f]+|/\S+:\d+)", "", str(err))
        text = re.sub(r" (with object id|scope) \d+", "", text)
        text = re.sub(r"This error occurs at source:.*", "", text)
        text = re.sub(r", device_kind=[^,]*, num_cores=[^,]*, platform=\w+", "", text)
        kept = [
            line.rstrip()
            for line in text.splitlines()
            if line.strip() and not re.search(r"\.py:\d+|created on line", line)
        ]
        message = f"{type(err).__name__}: " + "\n".join(kept[:lines])
        for line in message.splitlines():
            print(textwrap.fill(line, 79, subsequent_indent="  ", break_long_words=False))
    else:
        print("no error")
