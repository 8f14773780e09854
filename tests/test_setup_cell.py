"""The setup cell's Colab branch, exercised without Colab.

Each case runs the canonical setup cell in a fresh interpreter whose PYTHONPATH puts three fakes first:
a `google.colab` module (so the cell believes it is in Colab), a `pip` module that records its arguments instead of
installing, and `*.dist-info` folders that make importlib.metadata report chosen versions of jax, jaxlib, libtpu,
the CUDA plugin and optax. The runtime is chosen with the environment variables Colab sets.
"""

import json
import os
import subprocess
import sys

import pytest
from book_cells import setup_source

JAX, OPTAX = "0.12.0.1", "0.2.8"
FAKE_PIP = """
import json, os, sys
with open(os.environ["FAKE_PIP_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
"""


def run_setup(tmp_path, *, colab, env, versions, preamble="", fake_pip=FAKE_PIP):
    fakes = tmp_path / "fakes"
    (fakes / "pip").mkdir(parents=True)
    (fakes / "pip" / "__init__.py").write_text("")
    (fakes / "pip" / "__main__.py").write_text(fake_pip)
    if colab:
        (fakes / "google" / "colab").mkdir(parents=True)
        (fakes / "google" / "colab" / "__init__.py").write_text("")
        (fakes / "google" / "colab" / "output.py").write_text("")  # jax's Colab debugger imports it
    for name, version in versions.items():
        info = fakes / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    log = tmp_path / "pip.log"
    script = tmp_path / "setup_cell.py"
    script.write_text(preamble + setup_source())
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("COLAB_", "TPU_", "BOOK_BACKEND"))}
    run_env = {**clean, **env, "PYTHONPATH": str(fakes), "FAKE_PIP_LOG": str(log)}
    result = subprocess.run([sys.executable, str(script)], env=run_env, capture_output=True, text=True, cwd=tmp_path)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    if preamble:  # the caller judges the return code (the restart ends the process)
        return calls, result
    assert result.returncode == 0, result.stderr
    return calls, result.stdout


def installed(calls):
    assert len(calls) <= 1
    return [arg for arg in calls[0] if not arg.startswith("-") and arg != "install"] if calls else []


OLD = {"jax": "0.4.30", "jaxlib": "0.4.30", "optax": "0.2.2"}
PINNED = {"jax": JAX, "jaxlib": JAX, "optax": OPTAX}


@pytest.mark.parametrize(
    ("env", "versions", "expected"),
    [
        ({"TPU_ACCELERATOR_TYPE": "v5litepod-1"}, OLD, [f"jax[tpu]=={JAX}", f"optax=={OPTAX}"]),
        ({"COLAB_TPU_ADDR": "10.0.0.2:8470"}, {**PINNED, "libtpu": "0.0.17"}, []),
        ({"COLAB_TPU_ADDR": "10.0.0.2:8470"}, PINNED, [f"jax[tpu]=={JAX}"]),  # pinned jax but no libtpu
        ({"COLAB_GPU": "1"}, OLD, [f"jax[cuda12]=={JAX}", f"optax=={OPTAX}"]),
        ({"COLAB_GPU": "1"}, {**PINNED, "jax-cuda12-plugin": JAX}, []),
        ({"COLAB_GPU": "1"}, {**PINNED, "optax": "0.2.2"}, [f"jax[cuda12]=={JAX}", f"optax=={OPTAX}"]),
        ({"COLAB_GPU": "0"}, OLD, [f"jax=={JAX}", f"optax=={OPTAX}"]),
        ({"COLAB_GPU": "0"}, PINNED, []),
    ],
    ids=["tpu-old", "tpu-pinned", "tpu-no-libtpu", "gpu-old", "gpu-pinned", "gpu-old-optax", "cpu-old", "cpu-pinned"],
)
def test_colab_installs_the_pins_for_its_runtime(tmp_path, env, versions, expected):
    calls, out = run_setup(tmp_path, colab=True, env=env, versions=versions)
    assert installed(calls) == expected
    if calls:
        assert calls[0][:1] == ["install"] and "Installing" in out


def test_outside_colab_nothing_is_installed(tmp_path):
    calls, out = run_setup(tmp_path, colab=False, env={"TPU_ACCELERATOR_TYPE": "v5litepod-1"}, versions=OLD)
    assert calls == [] and out == ""


def test_setup_gives_eight_cpu_devices_and_print_options(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(
        setup_source() + "\nimport numpy as np\nprint(len(jax.devices('cpu')), np.get_printoptions()['precision'])\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["8", "4"]


def setup_functions(versions):
    """The setup cell's PINNED and pins_to_install, with installed_version answering from `versions`."""
    source = setup_source()
    namespace = {}
    exec(source.split("RUNTIME = colab_runtime()")[0], namespace)  # the definitions only: nothing runs
    namespace["installed_version"] = versions.get
    return namespace["PINNED"], namespace["pins_to_install"]


def test_setup_pins_match_requirements():
    requirements = dict(
        line.split("#")[0].strip().split("==")
        for line in open(os.path.join(os.path.dirname(__file__), "..", "requirements.txt"))
        if "==" in line.split("#")[0]
    )
    pinned, _ = setup_functions({})
    assert pinned == {name: requirements[name] for name in pinned}


def test_colab_without_flatbuffers_gets_it():
    """jax.export's serialization (chapter 7) needs flatbuffers; any installed version will do."""
    versions = {**PINNED, "libtpu": "0.0.17"}
    assert setup_functions(versions)[1]("tpu") == ["flatbuffers==25.12.19"]
    assert setup_functions({**versions, "flatbuffers": "24.3.25"})[1]("tpu") == []


# --- which runtime: the facts of real Colab machines -------------------------------------------------------------
# (environment, device nodes, nvidia-smi on PATH, libtpu installed) -> runtime. TPU v2-v4 expose /dev/accel*, v5e,
# v5p and v6e /dev/vfio/N beside the control node /dev/vfio/vfio; NVIDIA drivers from 570 on create /dev/accel* too.
RUNTIMES = {
    "tpu-v2-8": (
        {"TPU_ACCELERATOR_TYPE": "v2-8"},
        ["/dev/accel0", "/dev/accel1", "/dev/accel2", "/dev/accel3"],
        False,
        True,
        "tpu",
    ),
    "tpu-v2-8-no-variables": ({}, ["/dev/accel0", "/dev/accel1"], False, True, "tpu"),
    "tpu-v5e-1": ({"TPU_ACCELERATOR_TYPE": "v5litepod-1"}, ["/dev/vfio/0", "/dev/vfio/vfio"], False, True, "tpu"),
    "tpu-v5e-1-nodes-only": ({}, ["/dev/vfio/0", "/dev/vfio/vfio"], False, False, "tpu"),
    "tpu-v6e-1-libtpu-only": ({}, [], False, True, "tpu"),
    "gpu-driver-570": ({"COLAB_GPU": "1"}, ["/dev/accel0", "/dev/nvidia0", "/dev/nvidiactl"], True, False, "gpu"),
    "gpu-driver-570-no-smi": ({}, ["/dev/accel0", "/dev/nvidia0", "/dev/nvidiactl"], False, False, "gpu"),
    "gpu-variable-only": ({"COLAB_GPU": "1"}, [], False, False, "gpu"),
    "cpu": ({"COLAB_GPU": "0"}, [], False, False, "cpu"),
    "cpu-with-vfio-control-node": ({}, ["/dev/vfio/vfio"], False, False, "cpu"),
}


def setup_namespace():
    namespace = {}
    exec(setup_source().split("RUNTIME = colab_runtime()")[0], namespace)  # the definitions only: nothing runs
    return namespace


@pytest.mark.parametrize("case", list(RUNTIMES))
def test_runtime_detection_on_real_machines(case):
    environ, nodes, has_nvidia_smi, has_libtpu, expected = RUNTIMES[case]
    assert setup_namespace()["accelerator"](environ, nodes, has_nvidia_smi, has_libtpu) == expected


# --- an install that replaces a package already imported restarts the runtime, once ------------------------------
def test_replaced_after_import_names_only_the_changed_packages():
    replaced = setup_namespace()["replaced_after_import"]
    before = {"numpy": "2.1.3", "pandas": "2.2.3", "six": "1.17.0"}
    now = {"numpy": "2.5.5", "pandas": "2.2.3", "six": "1.17.0"}.get
    assert replaced(before, now) == ["numpy"]
    assert replaced(before, before.get) == []


def test_loaded_distributions_sees_what_was_imported(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(
        "\n".join(setup_source().split("RUNTIME = colab_runtime()")[:1])
        + "\nimport nbformat\nprint(sorted(loaded_distributions()))\n"
    )
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "'nbformat'" in run.stdout and "'jax'" not in run.stdout, run.stdout


FAKE_PIP_UPGRADING = (
    FAKE_PIP
    + """
from pathlib import Path
info = Path(os.environ["FAKE_UPGRADE"])
info.joinpath("METADATA").write_text(info.joinpath("METADATA").read_text().replace("Version: 1.0", "Version: 2.0"))
"""
)


def test_an_upgrade_under_a_loaded_package_restarts_once_then_installs_nothing(tmp_path):
    """Colab's kernels import numpy before the first cell; the install upgrades it on disk: the process must end."""
    preloaded = tmp_path / "fakes" / "preloaded"
    preloaded.mkdir(parents=True)
    (preloaded / "__init__.py").write_text("")
    info = tmp_path / "fakes" / "preloaded-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: preloaded\nVersion: 1.0\n")
    (info / "top_level.txt").write_text("preloaded\n")
    os.environ["FAKE_UPGRADE"] = str(info)
    try:
        calls, run = run_setup(
            tmp_path,
            colab=True,
            env={"COLAB_GPU": "0"},
            versions=OLD,
            preamble="import preloaded\n",
            fake_pip=FAKE_PIP_UPGRADING,
        )
    finally:
        del os.environ["FAKE_UPGRADE"]
    assert run.returncode == -9, (run.returncode, run.stderr)  # ended itself, as Colab's restart idiom does
    assert len(calls) == 1
    assert "preloaded changed under this session, so the runtime now restarts once" in run.stdout
    assert "run this cell again" in run.stdout


def test_an_install_that_replaces_nothing_loaded_goes_on(tmp_path):
    calls, run = run_setup(tmp_path, colab=True, env={"COLAB_GPU": "0"}, versions=OLD, preamble="import json\n")
    assert run.returncode == 0, run.stderr
    assert len(calls) == 1 and "restarts" not in run.stdout


def test_a_second_run_installs_and_prints_nothing(tmp_path):
    calls, out = run_setup(tmp_path, colab=True, env={"COLAB_GPU": "0"}, versions={**PINNED, "flatbuffers": "25.12.19"})
    assert calls == [] and out == ""
