"""Colab's own image, rehearsed offline (`make test-colab`, `make test-colab CHAPTER=01`).

Every chapter runs as a reader who opens it in a fresh Colab session would run it:
  1. a Python 3.13 venv with exactly the versions Colab's image ships (tools/colab/image.txt, built once into
     .venv-colab and copied afresh for every chapter, so each chapter starts from the image, not from the last
     chapter's installs);
  2. a Jupyter kernel of that venv with a stand-in `google.colab` on its path (tools/colab/standin/) and numpy and
     pandas imported before the first cell (an IPython startup file, tools/colab/preload.py), as in Colab;
  3. the setup cell's first run on its own, through nbclient: it installs the pinned jax and optax and, since that
     upgrades the numpy already loaded, ends its kernel (Colab then restarts it). nbval would wait for ever on a
     kernel that ended itself, and nbclient reports it at once (DeadKernelError), hence this separate step;
  4. nbval on the whole chapter in a new kernel of the same venv: the setup cell's second run installs nothing and
     prints nothing, and every cell must match its stored output.
Prints each chapter's outcome and time. Exit status 0 when every chapter passed. Where no Python 3.13 exists, says
so and exits 0 (skipped), as the other optional passes do.

`--refresh PATH` rewrites tools/colab/image.txt from a checkout of googlecolab/backend-info (its pip-freeze.tpu.txt).
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from book_cells import chapter_notebooks
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from portability import SANITIZER, find_pythons

ROOT = Path(__file__).resolve().parent.parent
COLAB = ROOT / "tools" / "colab"
IMAGE = COLAB / "image.txt"
TEMPLATE = ROOT / ".venv-colab"
KERNEL = "colab-rehearsal"
RESTART_LINE = "so the runtime now restarts once"
# What the rehearsal installs to resolve image.txt (the packages chapters touch); the rest comes in as dependencies.
TOP_LEVEL = "jax jaxlib numpy scipy optax matplotlib ipywidgets ipython ipykernel pandas ml_dtypes opt_einsum chex"
TOP_LEVEL += " absl-py contourpy pillow rich"


def colab_python():
    """A Python 3.13 (Colab's), or None."""
    return find_pythons().get((3, 13))


def image_digest():
    return hashlib.sha256(IMAGE.read_bytes()).hexdigest()[:16]


def build_template(python):
    """.venv-colab with exactly the image's versions; rebuilt only when image.txt changes."""
    stamp = TEMPLATE / ".image"
    if stamp.exists() and stamp.read_text() == image_digest():
        return
    shutil.rmtree(TEMPLATE, ignore_errors=True)
    print(f"colab rehearsal: building {TEMPLATE.name} from {IMAGE.relative_to(ROOT)} with {python}", flush=True)
    subprocess.run([python, "-m", "venv", str(TEMPLATE)], check=True)
    pip = [str(TEMPLATE / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "-r", str(IMAGE)]
    subprocess.run(pip, check=True)
    stamp.write_text(image_digest())


def session(folder):
    """A fresh Colab session in `folder`: a copy of the image venv and a kernelspec for it; the JUPYTER_PATH."""
    venv = folder / "venv"
    shutil.copytree(TEMPLATE, venv, symlinks=True)
    ipython_dir = folder / "ipython"
    (ipython_dir / "profile_default" / "startup").mkdir(parents=True)
    shutil.copyfile(COLAB / "preload.py", ipython_dir / "profile_default" / "startup" / "00-preload.py")
    spec = folder / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    kernel = {
        "argv": [str(venv / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab rehearsal",
        "language": "python",
        "env": {"PYTHONPATH": str(COLAB / "standin"), "IPYTHONDIR": str(ipython_dir), "PIP_NO_INPUT": "1"},
    }
    (spec / "kernel.json").write_text(json.dumps(kernel, indent=1))
    return str(folder / "jupyter")


def kernel_env(jupyter_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "BOOK_"))}
    env.pop("PYTHONPATH", None)
    env.update(JUPYTER_PATH=jupyter_path, PYTHONDONTWRITEBYTECODE="1")
    return env


def first_run_of_setup(notebook, env):
    """Run the chapter's setup cell once, alone, as a reader's first click does; what it printed, and if it ended."""
    cell = next(cell for cell in nbformat.read(notebook, as_version=4).cells if cell.cell_type == "code")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell.source)])
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=900, startup_timeout=120)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel manager reads JUPYTER_PATH from this process
    try:
        client.execute()
        restarted = False
    except DeadKernelError:
        restarted = True
    finally:
        os.environ.clear()
        os.environ.update(saved)
    printed = "".join(out.get("text", "") for out in nb.cells[0].outputs if out.output_type == "stream")
    return printed, restarted


def rehearse(notebook, workdir):
    folder = Path(workdir)
    env = kernel_env(session(folder))
    copy = folder / notebook.name
    shutil.copyfile(notebook, copy)
    printed, restarted = first_run_of_setup(copy, env)
    if restarted and RESTART_LINE not in printed:
        return False, f"the kernel died without announcing a restart: {printed.strip()!r}"
    command = [sys.executable, "-m", "pytest", "-c", str(ROOT / "pytest.ini"), "--rootdir", str(ROOT)]
    command += ["-p", "no:xdist", "-q", "--nbval", "--nbval-kernel-name", KERNEL, "--nbval-sanitize-with"]
    command += [str(SANITIZER), copy.name]
    run = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    first = "installed, restarted once" if restarted else "installed, no restart" if printed else "installed nothing"
    if run.returncode:
        return False, f"first run: {first}; nbval failed:\n{run.stdout[-6000:]}"
    return True, f"first run: {first}; nbval passed"


def refresh(backend_info):
    """Rewrite image.txt from a backend-info checkout: TOP_LEVEL resolved under the TPU image's versions."""
    freeze = Path(backend_info) / "pip-freeze.tpu.txt"
    pins = [line for line in freeze.read_text().splitlines() if re.fullmatch(r"[A-Za-z0-9_.-]+==\S+", line)]
    pins = [line for line in pins if not line.lower().startswith(("libtpu", "pip==", "setuptools=="))]
    python = colab_python() or sys.exit("--refresh needs a Python 3.13")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "constraints.txt").write_text("\n".join(pins) + "\n")
        subprocess.run([python, "-m", "venv", f"{tmp}/venv"], check=True)
        install = [f"{tmp}/venv/bin/python", "-m", "pip", "install", "-q", "-c", f"{tmp}/constraints.txt"]
        subprocess.run(install + TOP_LEVEL.split(), check=True)
        frozen = subprocess.run([f"{tmp}/venv/bin/python", "-m", "pip", "freeze"], capture_output=True, text=True)
    header = [line for line in IMAGE.read_text().splitlines() if line.startswith("#")]
    IMAGE.write_text("\n".join(header + frozen.stdout.split()) + "\n")
    print(f"rewrote {IMAGE.relative_to(ROOT)}: update its header with the backend-info commit and date")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapter", nargs="?", default="", help="chapter number prefix such as 01; default: all")
    parser.add_argument("--refresh", metavar="BACKEND_INFO", help="rewrite tools/colab/image.txt from a checkout")
    args = parser.parse_args(argv)
    if args.refresh:
        return refresh(args.refresh)
    python = colab_python()
    if python is None:
        print("colab rehearsal: SKIPPED: no Python 3.13 found (Colab runs 3.13; install it, e.g. `pyenv install 3.13`)")
        return 0
    notebooks = [path for path in chapter_notebooks() if path.name.startswith(args.chapter)]
    if not notebooks:
        sys.exit(f"tools/colab_rehearsal.py: no chapter notebook matches {args.chapter!r}")
    build_template(python)
    failed, start = [], time.perf_counter()
    for notebook in notebooks:
        began = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="colab-session-") as workdir:
            ok, report = rehearse(notebook, workdir)
        print(
            f"colab rehearsal: {notebook.stem}: {'passed' if ok else 'FAILED'} in {time.perf_counter() - began:.0f} s"
            f" ({report.splitlines()[0]})",
            flush=True,
        )
        if not ok:
            print(report)
            failed.append(notebook.stem)
    total = time.perf_counter() - start
    print(f"colab rehearsal: {'FAILED ' + ', '.join(failed) if failed else 'every chapter passed'} in {total:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
