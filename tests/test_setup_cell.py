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


def run_setup(tmp_path, *, colab, env, versions):
    fakes = tmp_path / "fakes"
    (fakes / "pip").mkdir(parents=True)
    (fakes / "pip" / "__init__.py").write_text("")
    (fakes / "pip" / "__main__.py").write_text(FAKE_PIP)
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
    script.write_text(setup_source())
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("COLAB_", "TPU_", "BOOK_BACKEND"))}
    run_env = {**clean, **env, "PYTHONPATH": str(fakes), "FAKE_PIP_LOG": str(log)}
    result = subprocess.run([sys.executable, str(script)], env=run_env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
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
    """jax.export's serialization (chapter 6) needs flatbuffers; any installed version will do."""
    versions = {**PINNED, "libtpu": "0.0.17"}
    assert setup_functions(versions)[1]("tpu") == ["flatbuffers==25.12.19"]
    assert setup_functions({**versions, "flatbuffers": "24.3.25"})[1]("tpu") == []
