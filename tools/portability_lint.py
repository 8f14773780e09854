"""Portability lint: machine-dependent text in the outputs that nbval compares (BOOK_DESIGN.md section 4).

The same stored outputs must pass nbval on CPU (1 or 8 devices, any core count), GPU and TPU. This lint reads the
stored outputs exactly as nbval 0.11 compares them and reports text that changes from machine to machine: device
reprs and kinds, device and thread counts, memory addresses, absolute paths, timings, optimized HLO and
cost/memory analysis text, library versions.

What nbval 0.11 compares (nbval/plugin.py, read from the installed package):
- code cells that ran (a stored execution count), unless tagged `nbval-ignore-output` or `nbval-skip` (or marked
  with the comments `# NBVAL_IGNORE_OUTPUT` / `# NBVAL_SKIP`); `raises-exception` cells are still compared;
- in each output every key except metadata, traceback, prompt_number, output_type, name and execution_count:
  stream text (stdout and stderr, each coalesced into one text), every MIME type of execute_result and
  display_data except image/png, image/jpeg and the widget view (so text/plain, text/html, image/svg+xml,
  text/latex ...), and the `ename` and `evalue` of an error (the traceback is not compared);
- after the sanitizer's regexes are applied to both sides. This lint applies them too: what the sanitizer
  normalizes is allowed.

Usage: python tools/portability_lint.py [notebook ...]   (default: every chapter, with tests/nbval_sanitize.cfg)
"""

import argparse
import copy
import json
import re
import sys
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from pathlib import Path

import nbformat
from book_cells import chapter_notebooks
from nbval.plugin import coalesce_streams, find_comment_markers, find_metadata_tags, get_sanitize_patterns

ROOT = Path(__file__).resolve().parent.parent
SANITIZER = ROOT / "tests" / "nbval_sanitize.cfg"

# Keys nbval 0.11 leaves out of the comparison (IPyNbFile.skip_compare without --nbdime); tests check they still
# match the installed nbval.
SKIP_COMPARE = (
    "metadata",
    "traceback",
    "prompt_number",
    "output_type",
    "name",
    "execution_count",
    "application/vnd.jupyter.widget-view+json",
    "image/png",
    "image/jpeg",
)

_I = re.IGNORECASE
# (rule name, pattern, what to do instead). Each pattern is searched in the sanitized text of a compared output.
RULES = [
    (
        "device repr",
        re.compile(
            r"\b(?:Cpu|Gpu|Cuda|Rocm|Tpu|Metal)Device\b|\bTFRT_CPU_\d|\bdevice_kind\b|"
            r"\b(?:cpu|gpu|cuda|rocm|tpu):\d+|\bid=\d+,\s*process_index=",
            _I,
        ),
        "device reprs differ per machine: ignore the output and check a platform-independent fact",
    ),
    (
        "device kind",
        re.compile(r"\b(?:cpu|gpu|tpu|cuda|rocm|nvidia|a100|h100|v100|tpu v\d\w*)\b", _I),
        "the backend and device kind depend on the runner (CPU, GPU or TPU)",
    ),
    (
        "device count",
        re.compile(
            r"\b\d+\s+(?:local\s+|virtual\s+|cpu\s+|gpu\s+|tpu\s+|jax\s+)?devices?\b|"
            r"\b(?:num_|n_|local_)?devices?(?:_count)?\s*[:=]\s*\d+",
            _I,
        ),
        "the device count depends on the runner",
    ),
    (
        "thread count",
        re.compile(r"\b\d+\s+(?:cpu\s+)?(?:threads?|cores?)\b", _I),
        "thread and core counts depend on the machine",
    ),
    (
        "memory address",
        re.compile(r"\b0x[0-9a-f]{6,}\b", _I),
        "addresses change on every run: print something without the object's id",
    ),
    (
        "absolute path",
        re.compile(
            r"(?<![\w/.~-])(?:/(?:home|root|usr|opt|tmp|var|private|Users|content|work|mnt|srv|nix|Library)/"
            r"|[A-Za-z]:\\)|site-packages|dist-packages|\.venv\b|\.pyenv\b|\bpython3\.\d+/",
        ),
        "paths differ per machine: catch warnings and print their message, never a file path",
    ),
    (
        "timing",
        re.compile(
            r"\b\d+(?:\.\d+)?(?:e[-+]?\d+)?\s?(?:ns|µs|μs|us|ms|s|sec|secs|seconds?|min|mins|minutes?)\b|"
            r"\bper loop\b|\bloops? each\b|\bWall time\b|\bCPU times\b|\bit/s\b|\bsteps?/s\b",
            _I,
        ),
        "timings vary: time in an nbval-ignore-output cell and check a ratio or a boolean in the next cell",
    ),
    (
        "optimized HLO or analysis",
        re.compile(
            r"\bHloModule\b|\bENTRY\b|\bfusion(?:\.\d+)?\b|\bcustom-call\b|\bbackend_config\b|\bis_scheduled\b|"
            r"\bbytes accessed\b|\bflops\b|\boptimal_seconds\b|\butilization\d*\b|\btranscendentals\b|"
            r"\b(?:generated_code|argument|output|alias|temp|host_temp)_size_in_bytes\b|\bCompiledMemoryStats\b",
            _I,
        ),
        "compiled HLO, cost_analysis() and memory_analysis() differ per platform: ignore the output and check a fact",
    ),
    (
        "library version",
        re.compile(
            r"\b(?:jax|jaxlib|optax|numpy|python|cuda|cudnn|libtpu|xla|ipykernel|jupyter|matplotlib)\b"
            r"[^\n\d]{0,12}\d+\.\d+(?:\.\d+)+|\b\d+\.\d+\.\d+(?:\.\d+)*(?:\.?(?:post|dev|rc|a|b)\d+)?\b|__version__",
            _I,
        ),
        "versions change with every upgrade of the pins",
    ),
]


@dataclass(frozen=True)
class Finding:
    notebook: str
    cell: int  # nbval's cell number: the index among code cells, as in `notebook.ipynb::Cell N`
    execution_count: int | None
    key: str  # stdout, stderr, text/plain, evalue, ...
    rule: str
    match: str
    line: str
    hint: str

    def __str__(self):
        return (
            f"{self.notebook}::Cell {self.cell} (In [{self.execution_count}]) {self.key}: {self.rule} "
            f"{self.match!r} in {self.line!r}: {self.hint}"
        )


def load_sanitizer(path=SANITIZER):
    """The (regex, replacement) pairs of an nbval sanitizer file, in the order nbval applies them ([] if absent)."""
    path = Path(path)
    if not path.exists():
        return []
    return list(OrderedDict(get_sanitize_patterns(path.read_text())).items())


def sanitize(text, sanitizer):
    for regex, replacement in sanitizer:
        text = re.sub(regex, replacement, text)
    return text


def is_compared(cell):
    """True if nbval (run with --nbval) compares this code cell's outputs with a fresh run."""
    options = defaultdict(bool, find_metadata_tags(cell.metadata))
    options.update(find_comment_markers(cell.source))
    options.setdefault("check", True)
    return cell.execution_count is not None and not options["skip"] and bool(options["check"])


def compared_texts(cell):
    """(key, text) for every value nbval compares in this cell's stored outputs, before sanitizing."""
    outputs = coalesce_streams(copy.deepcopy(cell.outputs))  # nbval merges each stream's pieces, handles \r and \b
    for output in outputs:
        if output.output_type == "stream":
            yield output.name, output.text
            continue
        for key, value in output.items():
            if key in SKIP_COMPARE:
                continue
            if key == "data":
                for mime, data in value.items():
                    if mime not in SKIP_COMPARE:
                        yield mime, data if isinstance(data, str) else json.dumps(data)
            else:
                yield key, value if isinstance(value, str) else json.dumps(value)


def lint_notebook(nb, name="<notebook>", sanitizer=()):
    """Every machine-dependent match in the compared outputs of a notebook node, as Findings."""
    findings = []
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    for number, cell in enumerate(code_cells):
        if not is_compared(cell):
            continue
        for key, text in compared_texts(cell):
            text = sanitize(text, sanitizer)
            for rule, pattern, hint in RULES:
                for match in pattern.finditer(text):
                    start = text.rfind("\n", 0, match.start()) + 1
                    end = text.find("\n", match.end())
                    line = text[start : end if end >= 0 else len(text)].strip()
                    findings.append(
                        Finding(name, number, cell.execution_count, key, rule, match.group(), line[:160], hint)
                    )
    return findings


def lint_file(path, sanitizer=None):
    sanitizer = load_sanitizer() if sanitizer is None else sanitizer
    nb = nbformat.read(str(path), as_version=4)
    return lint_notebook(nb, Path(path).name, sanitizer)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every chapter notebook")
    parser.add_argument("--sanitizer", type=Path, default=SANITIZER, help="nbval sanitizer file applied first")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or chapter_notebooks()
    sanitizer = load_sanitizer(args.sanitizer)
    findings = [finding for path in notebooks for finding in lint_file(path, sanitizer)]
    for finding in findings:
        print(finding)
    print(f"portability lint: {len(notebooks)} notebook(s), {len(findings)} finding(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
