"""Markdown report of an upgrade canary run: nbval against the newest jax/optax instead of the pins.

Reads the JUnit XML that pytest wrote (--junitxml) and prints, for the GitHub job summary: the pinned and the
installed versions of the numerical stack, the counts, and one line per failing cell with the first line of its
message. Run it with the Python of the upgraded environment (it reads the installed versions from there).

Usage: python tools/canary_report.py junit.xml [requirements.txt] > report.md
"""

import importlib.metadata
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("jax", "jaxlib", "optax", "numpy")
ANSI = re.compile(r"(?:\x1b|#x1B)\[[0-9;]*m")  # pytest escapes ESC as #x1B in JUnit XML


def pins(requirements):
    found = {}
    for line in Path(requirements).read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#;]+)", line)
        if match:
            found[match.group(1).lower()] = match.group(2)
    return found


def installed(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def summary(text):
    """One line from nbval's failure text: its reason, and the exception or the mismatch that caused it."""
    lines = [line.strip() for line in ANSI.sub("", text).splitlines() if line.strip()]
    reason = next((line for line in lines if re.match(r"Cell \d+: ", line)), lines[0] if lines else "(no message)")
    exceptions = [line for line in lines if re.match(r"[A-Za-z_][\w.]*(Error|Exception|Warning|Interrupt)\b", line)]
    mismatches = [line for line in lines if line.startswith("mismatch")]
    detail = exceptions[-1] if exceptions else mismatches[0] if mismatches else ""
    return f"{reason} {detail}".strip()[:240]


def failures(junit):
    """(test id, one-line summary) for every failed or erroring test case."""
    for case in ET.parse(junit).getroot().iter("testcase"):
        for problem in list(case.findall("failure")) + list(case.findall("error")):
            name = f"{case.get('classname', '')}::{case.get('name', '')}".strip(":")
            yield name, summary(problem.text or problem.get("message") or "")


def report(junit, requirements=ROOT / "requirements.txt"):
    pinned = pins(requirements)
    suites = list(ET.parse(junit).getroot().iter("testsuite"))
    total = {key: sum(int(suite.get(key, 0)) for suite in suites) for key in ("tests", "failures", "errors", "skipped")}
    broken = list(failures(junit))
    lines = ["## Upgrade canary: nbval against the newest jax and optax", ""]
    lines += ["| package | pinned | newest (tested) |", "| --- | --- | --- |"]
    lines += [f"| {name} | {pinned.get(name, '-')} | {installed(name)} |" for name in PACKAGES]
    lines += [
        "",
        f"{total['tests']} cells, {total['failures']} failed, {total['errors']} errors, {total['skipped']} skipped.",
    ]
    if broken:
        lines += [
            "",
            "What broke (upgrade the pins only after fixing these):",
            "",
            "| cell | message |",
            "| --- | --- |",
        ]
        lines += [f"| `{name}` | {message.replace('|', '\\|')} |" for name, message in broken]
    else:
        lines += ["", "Nothing broke: the pins can be upgraded to these versions (then `make outputs` and review)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__.strip().splitlines()[-1])
    print(report(*sys.argv[1:]), end="")
