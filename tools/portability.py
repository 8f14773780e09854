"""Perturbation runs (`make test-portability`): nbval on every chapter under what changes from machine to machine.

Every pass runs nbval on all the chapters, one notebook at a time, with all six perturbations at once:
  (a) one core: the run is started under `taskset -c 0`; the kernels nbval starts inherit the CPU affinity;
  (b) strict warnings: a DeprecationWarning or FutureWarning issued by jax, jaxlib or optax is an exception (the
      kernel hook tools/kernel_hooks/strict_warnings.py; its docstring says why PYTHONWARNINGS cannot do this);
  (c) simulated accelerator numerics: float32 matrix products at default precision round their operands to
      bfloat16, as a TPU does (the kernel hook tools/kernel_hooks/bfloat16_matmul.py; its docstring says what it
      does and does not simulate). Hooks reach the kernels through PYTHONPATH=tools/kernel_hooks and
      BOOK_KERNEL_HOOKS, which the kernels inherit;
  (c') simulated accelerator transcendentals: float32 results of sin, cos, exp, log, tanh, logistic and erf_inv
      move by 4 ulps, up in odd passes and down in even ones (tools/kernel_hooks/ulp_shift.py), so a printed value
      on a rounding edge of its 4 decimals changes here as it would on a GPU or TPU;
  (d) elsewhere, with a fresh HOME: the notebooks are copied alone into a new temporary folder (each chapter must
      stand alone, as in Colab) and pytest runs from there, with HOME set to another new folder and the XDG_*,
      JUPYTER_*, IPYTHONDIR and MPLCONFIGDIR variables removed. The kernel is still this venv's Python
      (--nbval-current-env), whatever HOME holds;
  (e) twice in a row (--passes, default 2): the second pass keeps the first one's HOME, now warm with caches;
  (f) under every Python >= 3.12 found (PATH, then pyenv; 3.12 and 3.13 here): each gets its own venv from
      requirements.txt (.venv for the one `make` chose, .venv-pyX.Y for the others), and its own passes. A Python
      version the pins support but the machine lacks is named as skipped.
Prints each pass's wall time. Exit status: 0 if every pass passed.

With --numerics-only, one pass of nbval on the chapters in place with only the simulated accelerator numerics
(`make test-accelerator-numerics`): the quick check that no stored output prints a raw matrix product.

Usage: python tools/portability.py [--passes N] [--this-python] [--numerics-only] [chapter prefix such as 01]
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from book_cells import chapter_notebooks

ROOT = Path(__file__).resolve().parent.parent
KERNEL_HOOKS = ROOT / "tools" / "kernel_hooks"
ALL_HOOKS = ("strict_warnings", "bfloat16_matmul", "ulp_shift")
ULP_SHIFTS = (4, -4)  # pass 1 up, pass 2 down, ...
SUPPORTED_PYTHONS = ((3, 12), (3, 13))  # what this machine kind can test of the pins' range (jaxlib: 3.12-3.14)
SANITIZER = ROOT / "tests" / "nbval_sanitize.cfg"
DROPPED_PREFIXES = ("XDG_", "JUPYTER_", "IPYTHONDIR", "MPLCONFIGDIR", "PYTHONPATH", "PYTHONSTARTUP", "PYTEST_")


def hooks_env(hooks, base=None):
    """A copy of the environment (os.environ by default) whose Python processes load these kernel hooks."""
    env = dict(os.environ if base is None else base)
    env.update(PYTHONPATH=str(KERNEL_HOOKS), BOOK_KERNEL_HOOKS=",".join(hooks))
    return env


def perturbed_env(home, hooks=ALL_HOOKS, ulp_shift=ULP_SHIFTS[0]):
    """The environment of a perturbed run: a fresh HOME, the kernel hooks, no per-user Jupyter or XDG locations."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(DROPPED_PREFIXES)}
    env.update(HOME=str(home), PYTHONDONTWRITEBYTECODE="1", BOOK_ULP_SHIFT=str(ulp_shift))
    return hooks_env(hooks, env)


def python_version(python):
    """(major, minor) of an interpreter, or None if it does not run."""
    try:
        run = subprocess.run(
            [python, "-c", "import sys, venv; print(*sys.version_info[:2])"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return tuple(int(part) for part in run.stdout.split()) if run.returncode == 0 else None


def find_pythons():
    """{(3, 12): path, (3, 13): path, ...}: one interpreter >= 3.12 per minor version, from PATH, then pyenv."""
    candidates = [shutil.which(f"python3.{minor}") for minor in range(12, 20)] + [shutil.which("python3")]
    pyenv = subprocess.run(["pyenv", "root"], capture_output=True, text=True) if shutil.which("pyenv") else None
    root = Path(pyenv.stdout.strip()) if pyenv and pyenv.returncode == 0 else Path.home() / ".pyenv"
    candidates += [str(path / "bin" / "python3") for path in sorted((root / "versions").glob("3.*"), reverse=True)]
    found = {}
    for candidate in filter(None, candidates):
        version = python_version(candidate)
        if version and version >= (3, 12) and version not in found:
            found[version] = candidate
    return dict(sorted(found.items()))


def venv_for(version, python):
    """The venv whose Python is `version`: .venv if it is the one make built, else .venv-pyX.Y, made here."""
    if python_version(str(ROOT / ".venv" / "bin" / "python")) == version:
        return ROOT / ".venv" / "bin" / "python"
    venv = ROOT / f".venv-py{version[0]}.{version[1]}"
    stamp, wanted = venv / ".installed", hashlib.sha256((ROOT / "requirements.txt").read_bytes()).hexdigest()
    if not (stamp.exists() and stamp.read_text() == wanted):
        print(f"portability: building {venv.name} from requirements.txt with {python}", flush=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run(pip + ["-r", str(ROOT / "requirements.txt")], check=True)
        stamp.write_text(wanted)
    return venv / "bin" / "python"


def single_core_prefix(core=0):
    """`taskset -c 0`, so the run and every kernel it starts see one core."""
    taskset = shutil.which("taskset")
    if taskset is None:
        sys.exit("tools/portability.py: taskset not found (Debian/Ubuntu package util-linux)")
    return [taskset, "-c", str(core)]


def nbval_command(notebooks, python=sys.executable, extra=()):
    """pytest with nbval on these notebooks, serially, configured from the repository wherever it runs."""
    command = [python, "-m", "pytest", "-c", str(ROOT / "pytest.ini"), "--rootdir", str(ROOT), "-p", "no:xdist"]
    command += ["--nbval", "--nbval-current-env", "-q", "-ra", *extra]
    if SANITIZER.exists():
        command += ["--nbval-sanitize-with", str(SANITIZER)]
    return command + [str(notebook) for notebook in notebooks]


def run_pass(notebooks, workdir, home, extra=(), python=sys.executable, ulp_shift=ULP_SHIFTS[0]):
    """Copy the notebooks alone into workdir and run nbval on the copies under all perturbations; the return code."""
    copies = []
    for notebook in notebooks:
        copy = Path(workdir) / Path(notebook).name
        shutil.copyfile(notebook, copy)
        copies.append(copy)
    command = single_core_prefix() + nbval_command([copy.name for copy in copies], python=str(python), extra=extra)
    return subprocess.run(command, cwd=workdir, env=perturbed_env(home, ulp_shift=ulp_shift)).returncode


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapter", nargs="?", default="", help="chapter number prefix such as 01; default: all")
    parser.add_argument("--passes", type=int, default=2, help="how many times in a row (default 2)")
    parser.add_argument("--numerics-only", action="store_true", help="one pass with only simulated bfloat16 matmuls")
    parser.add_argument("--this-python", action="store_true", help="only this interpreter, no other venvs")
    args = parser.parse_args(argv)
    notebooks = [path for path in chapter_notebooks() if path.name.startswith(args.chapter)]
    if not notebooks:
        sys.exit(f"tools/portability.py: no chapter notebook matches {args.chapter!r}")
    if args.numerics_only:
        print(f"accelerator numerics: {len(notebooks)} chapter(s), float32 matmul operands rounded to bfloat16")
        began = time.perf_counter()
        code = subprocess.run(nbval_command(notebooks), cwd=ROOT, env=hooks_env(["bfloat16_matmul"])).returncode
        print(f"accelerator numerics: {'passed' if code == 0 else 'FAILED'} in {time.perf_counter() - began:.0f} s")
        return code
    pythons = find_pythons()
    if args.this_python:
        pythons = {sys.version_info[:2]: sys.executable}
    for version in SUPPORTED_PYTHONS:
        if version not in pythons and args.this_python:
            print(f"portability: SKIPPED the Python {version[0]}.{version[1]} passes (--this-python)")
        elif version not in pythons:
            print(
                f"portability: SKIPPED the Python {version[0]}.{version[1]} passes: no such interpreter found "
                "(on PATH or in pyenv versions)"
            )
    print(
        f"portability: {len(notebooks)} chapter(s), {args.passes} pass(es) under each of Python "
        f"{', '.join(f'{major}.{minor}' for major, minor in pythons)}: one core, strict warnings, simulated bfloat16 "
        "matmuls, transcendentals shifted by +-4 ulps, fresh HOME"
    )
    failed, start = [], time.perf_counter()
    for version, interpreter in pythons.items():
        label = f"{version[0]}.{version[1]}"
        python = sys.executable if args.this_python else venv_for(version, interpreter)
        with tempfile.TemporaryDirectory(prefix="book-home-") as home:
            for number in range(1, args.passes + 1):
                shift = ULP_SHIFTS[(number - 1) % len(ULP_SHIFTS)]
                with tempfile.TemporaryDirectory(prefix="book-workdir-") as workdir:
                    began = time.perf_counter()
                    code = run_pass(notebooks, workdir, home, python=python, ulp_shift=shift)
                    outcome = "passed" if code == 0 else "FAILED"
                    print(
                        f"portability: Python {label} pass {number} (ulps {shift:+d}): {outcome} in "
                        f"{time.perf_counter() - began:.0f} s",
                        flush=True,
                    )
                    if code:
                        failed.append(f"{label}/{number}")
    total = time.perf_counter() - start
    print(f"portability: {'failed pass(es) ' + ', '.join(failed) if failed else 'all passes passed'} in {total:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
