"""The portability lint (tools/portability_lint.py): it passes on the book and catches planted machine-dependent text.

The planted notebooks are built in memory with nbformat, each with one executed code cell whose stored output
holds what a machine-dependent cell would have printed.
"""

import inspect

import nbval.plugin
import pytest
from conftest import CHAPTER_IDS, CHAPTERS
from nbformat.v4 import new_code_cell, new_notebook, new_output
from portability_lint import SANITIZER, SKIP_COMPARE, lint_file, lint_notebook, load_sanitizer


def notebook(*outputs, tags=(), source="f(x)", execution_count=1):
    cell = new_code_cell(source, execution_count=execution_count, outputs=list(outputs))
    if tags:
        cell.metadata["tags"] = list(tags)
    return new_notebook(cells=[cell])


def stdout(text):
    return new_output("stream", name="stdout", text=text)


def result(text, **extra):
    return new_output("execute_result", data={"text/plain": text, **extra}, execution_count=1)


def rules(nb, sanitizer=()):
    return {finding.rule for finding in lint_notebook(nb, "planted.ipynb", sanitizer)}


@pytest.mark.parametrize("chapter", CHAPTERS, ids=CHAPTER_IDS)
def test_the_book_passes(chapter):
    findings = lint_file(chapter)
    assert not findings, "machine-dependent text in compared outputs:\n" + "\n".join(map(str, findings))


def test_planted_device_repr_fails():
    assert "device repr" in rules(notebook(stdout("[CpuDevice(id=0), CpuDevice(id=1)]\n")))
    assert "device repr" in rules(notebook(result("[CudaDevice(id=0)]")))
    assert "device repr" in rules(notebook(stdout("TPU_0(process=0,(0,0,0,0))\nTpuDevice(id=0, process_index=0)\n")))


def test_planted_address_fails():
    assert "memory address" in rules(notebook(result("<function f at 0x7f3a2c1d0e50>")))


def test_planted_timing_fails():
    timeit = "1.23 ms ± 45.6 µs per loop (mean ± std. dev. of 7 runs, 100 loops each)\n"
    assert "timing" in rules(notebook(stdout(timeit)))
    assert "timing" in rules(notebook(stdout("jit: 0.0123 s\n")))


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("backend: cpu\n", "device kind"),
        ("running on 8 devices\n", "device count"),
        ("XLA uses 2 threads\n", "thread count"),
        ("UserWarning: /home/ann/.venv/lib/python3.12/site-packages/jax/_src/x.py:12\n", "absolute path"),
        ("HloModule jit_f, entry_computation_layout={(f32[3]{0})->f32[3]{0}}\n", "optimized HLO or analysis"),
        ("{'flops': 6.0, 'bytes accessed': 24.0}\n", "optimized HLO or analysis"),
        ("jax 0.12.0.1, optax 0.2.8\n", "library version"),
    ],
)
def test_other_planted_texts_fail(text, rule):
    assert rule in rules(notebook(stdout(text)))


def test_stderr_and_error_values_are_compared_too():
    assert "absolute path" in rules(notebook(new_output("stream", name="stderr", text="see /usr/lib/x.so\n")))
    error = new_output("error", ename="RuntimeError", evalue="no TpuDevice here", traceback=["/root/x.py"])
    assert rules(notebook(error)) == {"device repr"}


def test_what_nbval_does_not_compare_is_not_linted():
    address = stdout("<function f at 0x7f3a2c1d0e50>\n")
    assert not rules(notebook(address, tags=["nbval-ignore-output"]))
    assert not rules(notebook(address, source="# NBVAL_IGNORE_OUTPUT\nf(x)"))
    assert not rules(notebook(address, tags=["nbval-skip"]))
    assert not rules(notebook(address, execution_count=None))
    traceback = new_output("error", ename="ValueError", evalue="bad", traceback=["File /home/ann/x.py, line 3"])
    assert not rules(notebook(traceback))
    png = new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure size 640x480>"})
    assert not rules(notebook(png))


def test_portable_outputs_pass():
    clean = stdout("[0. 2. 4.]\nsame noise on both calls: True\nsplit keys, distinct steps:  50 of 50\n")
    assert not rules(notebook(clean, result("Array([1., 2.], dtype=float32)")))
    url = new_output("error", ename="TypeError", evalue="immutable: see https://docs.jax.dev/en/latest/x.html")
    assert not rules(notebook(url))


def test_sanitized_text_is_allowed(tmp_path):
    config = tmp_path / "sanitize.cfg"
    config.write_text("# addresses\n[address]\nregex: 0x[0-9a-f]+\nreplace: ADDRESS\n")
    planted = notebook(result("<function f at 0x7f3a2c1d0e50>"))
    assert rules(planted) == {"memory address"}
    assert not rules(planted, load_sanitizer(config))


def test_the_book_sanitizer_does_not_hide_planted_texts():
    sanitizer = load_sanitizer(SANITIZER)
    assert "device repr" in rules(notebook(stdout("[CpuDevice(id=0)]\n")), sanitizer)
    assert "timing" in rules(notebook(stdout("1.23 ms ± 45.6 µs per loop\n")), sanitizer)
    assert "memory address" in rules(notebook(stdout("<function f at 0x7f3a2c1d0e50>\n")), sanitizer)


def test_the_book_sanitizer_loads_and_is_commented():
    load_sanitizer(SANITIZER)  # parses (it may hold no regex: portable outputs need none)
    lines = SANITIZER.read_text().splitlines()
    for index, line in enumerate(lines):
        if line.startswith("regex:"):
            before = [previous for previous in lines[:index] if previous.strip()]
            assert any(previous.startswith("#") for previous in before[-3:]), f"uncommented regex: {line}"


def test_skip_list_matches_installed_nbval():
    source = inspect.getsource(nbval.plugin.IPyNbFile.__init__)
    for key in SKIP_COMPARE:
        assert f"'{key}'" in source, f"nbval no longer skips {key}; update portability_lint.SKIP_COMPARE"
