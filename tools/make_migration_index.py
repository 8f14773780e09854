"""Write chapters/migration.md: every old spelling the chapters show, its current form, and what it does now.

    python tools/make_migration_index.py            # rewrite chapters/migration.md (make back-matter; make book)
    python tools/make_migration_index.py --check    # exit 1 if the committed page differs from the notebooks

The convention every chapter follows (a chapter's "Coming from older code" note, or the table right after it):

    | older code | current code | on jax 0.12 |
    |---|---|---|
    | `jax.tree_map(f, tree)` | `jax.tree.map(f, tree)` | gone: `AttributeError` |
    | `jax.remat(f)` | `jax.checkpoint(f)` | works: an alias |

- a markdown table in a MARKDOWN cell (inside the ```{note} fence or right after it), whose header row is exactly
  `| older code | current code | on jax X.Y |`, X.Y being the major.minor of the jax pin in requirements.txt,
  then the separator row `|---|---|---|`, then one row per old spelling, up to the first line not starting with |;
- every row has three cells; the third starts with exactly one status word, `gone` (raises: AttributeError,
  ModuleNotFoundError, TypeError for a removed keyword...), `warns` (a DeprecationWarning, then it runs) or `works`
  (runs without a warning), then optional details after `: `, `, ` or a space (the error type or warning, in
  backticks). Each claim is one that a cell of the chapter shows;
- a literal | inside a cell is written \\|.
Any table whose first header cell starts with `older code` but breaks the convention (another header, a wrong cell
count, no status word) makes this tool fail, naming the notebook, cell and line. The page lists every row, sorted
by the old spelling (a leading `from`, `import`, `with`, `@partial(` and punctuation ignored), identical rows
merged, each linked to the section holding its table (headings down to level 3, as tools/make_api_index.py does).
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
from make_api_index import Sections, _markdown_parser, headings  # noqa: E402

OUTPUT = ROOT / "chapters" / "migration.md"
STATUSES = ("gone", "warns", "works")
STATUS = re.compile(rf"({'|'.join(STATUSES)})($|[:,\s])")  # the word, then the end, `:`, `,` or a space
SEPARATOR = re.compile(r"^\|(\s*:?-{3,}:?\s*\|){3}$")


def jax_minor(requirements: Path = ROOT / "requirements.txt") -> str:
    """'0.12' for a pin `jax==0.12.0.1`."""
    match = re.search(r"^jax==(\d+\.\d+)", requirements.read_text(), re.MULTILINE)
    if not match:
        raise SystemExit(f"{requirements}: no `jax==` pin")
    return match[1]


def header_cells(version: str) -> list[str]:
    return ["older code", "current code", f"on jax {version}"]


class MalformedTable(ValueError):
    pass


@dataclass(frozen=True)
class Row:
    old: str
    current: str
    status: str  # the whole third cell, starting with its status word

    @property
    def word(self) -> str:
        return STATUS.match(self.status)[1]


def split_row(line: str) -> list[str]:
    """The cells of a table row `| a | b | c |`, split at unescaped pipes."""
    body = line.strip()
    if not (body.startswith("|") and body.endswith("|")) or len(body) < 2:
        return []
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", body[1:-1])]


def parse_tables(markdown: str, version: str, where: str = "") -> list[tuple[int, list[Row]]]:
    """(line number of the header, rows) of every older-code table in a markdown cell; MalformedTable if broken."""
    lines = markdown.splitlines()
    expected = header_cells(version)
    tables = []
    i = 0
    while i < len(lines):
        cells = split_row(lines[i])
        if not cells or not cells[0].lower().startswith("older code"):
            i += 1
            continue
        start = i
        if cells != expected:
            raise MalformedTable(f"{where} line {i + 1}: header {cells}, expected {expected}")
        if i + 1 >= len(lines) or not SEPARATOR.match(lines[i + 1].strip()):
            raise MalformedTable(f"{where} line {i + 2}: expected the separator |---|---|---| after the header")
        rows = []
        i += 2
        while i < len(lines) and lines[i].lstrip().startswith("|"):
            row = split_row(lines[i])
            if len(row) != 3 or not all(row):
                raise MalformedTable(f"{where} line {i + 1}: a row needs three non-empty cells: {lines[i]!r}")
            if not STATUS.match(row[2]):
                raise MalformedTable(
                    f"{where} line {i + 1}: the third cell must start with one of {', '.join(STATUSES)}: {row[2]!r}"
                )
            rows.append(Row(*row))
            i += 1
        if not rows:
            raise MalformedTable(f"{where} line {start + 1}: a table without rows")
        tables.append((start, rows))
    return tables


def chapter_rows(path: Path, parser, version: str) -> list[tuple[Row, tuple[str, str]]]:
    """(row, (section title, link target)) for every older-code table row of one notebook."""
    nb = nbformat.read(path, as_version=4)
    sections = Sections(path, parser)
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        before = sections.where
        after = sections.read_markdown(cell.source)
        for start, rows in parse_tables(cell.source, version, where=f"{path.name} cell {index}"):
            # The table belongs to the last heading above it in this cell, or to the section the cell starts in.
            above = len(headings("\n".join(cell.source.splitlines()[:start]), parser))
            where = after[above - 1] if above else before
            found += [(row, where) for row in rows]
    return found


def sort_key(old: str) -> str:
    text = old.replace("`", "").strip()
    text = re.sub(r"^(from |import |with |@partial\(|@)", "", text)
    return re.sub(r"^\W+", "", text).lower()


HEADER = """# Coming from older code

Tutorials, forum answers and repositories online use spellings from older JAX versions. This page lists every
old spelling that the chapters show, next to its current form, with what the old one does on the pinned version
(jax {version}): **gone** (it raises, the error is named), **warns** (a `DeprecationWarning`, then it runs) or
**works** (it runs without a warning, but the current form is preferred). Each entry links to the section that
shows it, where a cell runs the old spelling. The rows are sorted by the old spelling, ignoring a leading `from`,
`import` or `with`; search the page (Ctrl+F) for the name in your code. The page is generated from the chapters'
"Coming from older code" tables by `tools/make_migration_index.py` (`make back-matter`), and a test checks that
it is up to date.
"""


def render(notebooks: list[Path], version: str | None = None) -> str:
    version = version or jax_minor()
    parser = _markdown_parser()
    rows: dict[Row, dict[str, list[tuple[str, str]]]] = defaultdict(dict)
    for path in notebooks:
        number = path.name.split("_", 1)[0].lstrip("0")
        for row, where in chapter_rows(path, parser, version):
            places = rows[row].setdefault(number, [])
            if where not in places:
                places.append(where)
    lines = [HEADER.format(version=version)]
    if not rows:
        lines.append("No chapter shows an old spelling yet.\n")
        return "\n".join(lines)
    # A list, not a four-column table: the table's last columns ran off the page, and the status is the point.
    for row in sorted(rows, key=lambda r: (sort_key(r.old), r.old, r.current)):
        shown = "; ".join(
            f"ch. {number}: " + ", ".join(f"[{text}]({target})" for text, target in places)
            for number, places in rows[row].items()
        )
        status = re.sub(rf"^{row.word}", f"**{row.word}**", row.status).replace("\\|", "|")
        old, current = row.old.replace("\\|", "|"), row.current.replace("\\|", "|")
        lines.append(f"- {old} → {current}  \n  {status}. Shown in {shown}")
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed page is out of date")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
    try:
        text = render(chapter_notebooks())
    except MalformedTable as err:
        print(f"malformed older-code table: {err}", file=sys.stderr)
        return 2
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
