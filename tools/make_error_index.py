"""Write chapters/errors.md: every exception and warning that a compared output of the chapters shows, and where.

    python tools/make_error_index.py            # rewrite chapters/errors.md (make back-matter; make book runs it)
    python tools/make_error_index.py --check    # exit 1 if the committed page differs from the notebooks

What counts as shown, in the executed notebooks chapters/NN_*.ipynb:
- the `error` output of a cell tagged `raises-exception`: `ename: first line of evalue`;
- a line of a stdout/stderr stream that starts (after optional indentation, or after a `label: ` or `label, `
  prefix such as `grad: ` or `works, `) with an identifier ending in Error, Exception or Warning, then `: `. That is
  how the setup cell's `show_error` prints an error and how the chapters print caught warnings. `show_error` wraps
  long lines at 79 columns with a two-space indent; the wrapped pieces of the first line are joined again, so an
  entry reads as the first line of the reader's own traceback.
Left out: cells whose output nbval does not compare (`nbval-ignore-output`), the generated `setup` and `helpers`
cells, and the exercise checkers' one-line verdicts (they start with one of CHECKER_MARKS; a checker's message
quotes the reader's error, not one of JAX's). Entries are grouped by type, sorted alphabetically; identical lines
are listed once with all their sections (headings down to level 3, as tools/make_api_index.py computes them).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from book_cells import chapter_notebooks  # noqa: E402
from make_api_index import Sections, _markdown_parser  # noqa: E402

OUTPUT = ROOT / "chapters" / "errors.md"
SKIP_TAGS = {"setup", "helpers", "nbval-ignore-output"}
CHECKER_MARKS = ("✓", "✗", "○")  # tools/cells/checks_core.py: correct, wrong, not done yet
WRAP_WIDTH = 79  # show_error's textwrap.fill width (tools/cells/setup.py)

_TYPE = r"[A-Za-z_][\w.]*(?:Error|Exception|Warning)"
# The type at the start of a line, or after one or two short labels ending in ": " or ", " ("grad: ValueError: ...").
ERROR_LINE = re.compile(rf"^(?P<indent>\s*)(?:[^\s:,][^:]{{0,60}}?[:,]\s+){{0,2}}(?P<type>{_TYPE}): (?P<message>\S.*)$")

HEADER = """# Errors and warnings

Every exception and warning that the chapters show, grouped by type, each with the sections where it appears. To
find your error, paste the first line of its message (the line that starts with the error's type) into the search
box: the results list this page and the chapters that show the same error. Each entry is the first line as the
chapter prints it; a section explains the cause and the fix next to it. The types are sorted alphabetically: JAX's
own (`ConcretizationTypeError`, `TracerBoolConversionError`) and Python's (`TypeError`, `ValueError`) mix, because
JAX raises both kinds and the first word of the message is what you have. The page is generated from the notebooks
by `tools/make_error_index.py` (`make back-matter`), and a test checks that it is up to date.
"""


@dataclass(frozen=True)
class Shown:
    type: str
    line: str  # "Type: message", as the first line reads unwrapped


def _hyphen_break(previous: str) -> bool:
    """True if textwrap broke a hyphenated word after `previous` ("non-" then "differentiable")."""
    return bool(re.search(r"[A-Za-z]-$", previous))


def _wrapped(previous: str, line: str) -> bool:
    """True if `line` is textwrap's continuation of `previous`: indented, and its first piece did not fit.

    textwrap breaks between words and after the hyphen of a hyphenated word, so a piece is a word up to its first
    inner hyphen; it follows the previous line with a space, or without one after a hyphen break.
    """
    stripped = line.lstrip()
    if not stripped or len(line) - len(stripped) < 1 or ERROR_LINE.match(line):
        return False
    piece = re.match(r"\S*?[A-Za-z]-(?=[A-Za-z])|\S+", stripped)[0]
    space = 0 if _hyphen_break(previous) else 1
    return len(previous) + space + len(piece) > WRAP_WIDTH


def stream_errors(text: str) -> list[Shown]:
    """The errors and warnings a stream output prints, one per matching line, wrapped first lines joined."""
    lines = text.splitlines()
    found = []
    for i, line in enumerate(lines):
        if line.lstrip().startswith(CHECKER_MARKS):
            continue
        match = ERROR_LINE.match(line)
        if not match:
            continue
        message, previous = match["message"].rstrip(), line.rstrip()
        for following in lines[i + 1 :]:
            if not _wrapped(previous, following):
                break
            message += ("" if _hyphen_break(previous) else " ") + following.strip()
            previous = following.rstrip()
        found.append(Shown(match["type"], f"{match['type']}: {message}"))
    return found


def error_output(output) -> Shown:
    first = (output.get("evalue") or "").strip().splitlines()
    line = f"{output.ename}: {first[0]}" if first else output.ename
    return Shown(output.ename, line)


def chapter_errors(path: Path, parser) -> list[tuple[Shown, tuple[str, str]]]:
    """(error shown, (section title, link target)) for every error and warning a notebook's compared outputs show."""
    nb = nbformat.read(path, as_version=4)
    sections = Sections(path, parser)
    found = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            sections.read_markdown(cell.source)
            continue
        if cell.cell_type != "code" or SKIP_TAGS & set(cell.metadata.get("tags", [])):
            continue
        raises = "raises-exception" in cell.metadata.get("tags", [])
        for output in cell.get("outputs", []):
            if output.output_type == "error" and raises:
                found.append((error_output(output), sections.where))
            elif output.output_type == "stream":
                found += [(shown, sections.where) for shown in stream_errors(output.text)]
    return found


def inline_code(text: str) -> str:
    """`text` as a MyST inline code span, whatever backticks it holds (CommonMark: a longer fence, padded)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def render(notebooks: list[Path]) -> str:
    parser = _markdown_parser()
    # type -> line -> chapter number -> sections, all in reading order
    table: dict[str, dict[str, dict[str, list[tuple[str, str]]]]] = defaultdict(dict)
    for path in notebooks:
        number = path.name.split("_", 1)[0].lstrip("0")
        for shown, where in chapter_errors(path, parser):
            places = table[shown.type].setdefault(shown.line, {}).setdefault(number, [])
            if where not in places:
                places.append(where)
    lines = [HEADER]
    if not table:
        lines.append("No chapter shows an error yet.\n")
    for type_name in sorted(table, key=str.lower):
        lines += [f"## {type_name}", ""]
        for line, chapters in table[type_name].items():
            where = "; ".join(
                f"ch. {number}: " + ", ".join(f"[{text}]({target})" for text, target in places)
                for number, places in chapters.items()
            )
            lines.append(f"- {inline_code(line)}  \n  {where}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def entries(page: str) -> list[tuple[str, list[str]]]:
    """(error line, unescaped; the chapter notebooks it links to) of each entry of a generated page.

    The browser test pastes these lines into the site's search.
    """
    found = []
    lines = page.splitlines()
    for line, where in zip(lines, lines[1:] + [""], strict=True):
        match = re.match(r"- (`+) ?(.*?) ?\1  $", line)
        if match:
            found.append((match[2], list(dict.fromkeys(re.findall(r"\]\(([^)#]+)", where)))))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed page is out of date")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
    text = render(chapter_notebooks())
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{shown} is out of date: run `make back-matter` and commit it")
            return 1
        print(f"{shown} is up to date")
        return 0
    args.output.write_text(text)
    print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
