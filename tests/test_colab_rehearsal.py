"""The Colab rehearsal's data and pieces (tools/colab_rehearsal.py; `make test-colab` runs the chapters themselves).

The image file must say where it came from and pin, exactly, the versions a reader's Colab session starts with; the
stand-in `google.colab` must be what the setup cell detects; the startup file must preload numpy and pandas.
"""

import re
import subprocess
import sys

from colab_rehearsal import COLAB, IMAGE

EXPECTED = {
    "python": None,
    "jax": "0.7.2",
    "jaxlib": "0.7.2",
    "numpy": "2.1.3",
    "scipy": "1.16.3",
    "optax": "0.2.8",
    "matplotlib": "3.10.0",
    "ipywidgets": "7.7.1",
    "ipython": "7.34.0",
    "ipykernel": "6.17.1",
    "pandas": "2.2.3",
}


def pins():
    lines = [line for line in IMAGE.read_text().splitlines() if line and not line.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[\w.]+", line) for line in lines), "exact pins only (--no-deps)"
    return {name.lower().replace("_", "-"): version for name, version in (line.split("==") for line in lines)}


def test_the_image_pins_what_colab_ships_and_says_where_from():
    header = IMAGE.read_text()
    assert "googlecolab/backend-info" in header and "a724079" in header and "2026-08-19" in header
    image = pins()
    for name, version in EXPECTED.items():
        if version:
            assert image.get(name) == version, name
    assert "libtpu" not in image and "flatbuffers" not in image  # as on the TPU image, minus its libtpu


def test_the_standin_is_what_the_setup_cell_detects(tmp_path):
    probe = "import google.colab, google.colab.output; print('colab')"
    run = subprocess.run(
        [sys.executable, "-c", probe], env={"PYTHONPATH": str(COLAB / "standin")}, capture_output=True, text=True
    )
    assert run.stdout.strip() == "colab", run.stderr


def test_the_startup_file_preloads_numpy_and_pandas():
    source = (COLAB / "preload.py").read_text()
    assert "import numpy" in source and "import pandas" in source
