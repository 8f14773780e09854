"""Write chapters/api_index.md: every `jax.*` and `optax.*` name the chapters' executed code uses, and where.

    python tools/make_api_index.py            # rewrite chapters/api_index.md (make api-index; make book runs it)
    python tools/make_api_index.py --check    # exit 1 if the committed page differs from the notebooks

Names are read from the code cells that ran (they have an execution count), not from prose or outputs; the setup
and checker cells every chapter carries are left out. Import aliases are followed (`jnp.zeros` is
`jax.numpy.zeros`, `from jax import grad` makes `grad` `jax.grad`), and a name is listed only if it exists in the
installed jax or optax, so a cell that shows an AttributeError for a removed API adds nothing. Each name links to the
sections (headings down to level 3) whose code uses it; the links are heading anchors that the book build checks.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import sys
import types
import warnings
from collections import defaultdict
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from book_cells import chapter_notebooks  # noqa: E402

OUTPUT = ROOT / "chapters" / "api_index.md"
PACKAGES = ("jax", "optax")
SKIP_TAGS = {"setup", "helpers"}  # generated cells, identical in every chapter
HEADING_ANCHOR_LEVEL = 3  # myst_heading_anchors in _config.yml

HEADER = """# API index

Every `jax` and `optax` name that the chapters' code uses, grouped by module, with the sections where it appears.
Use it to find an example of a function, or to see which chapter explains it. The page is generated from the
notebooks by `tools/make_api_index.py` (`make api-index`), and a test checks that it is up to date.
"""


# --- headings and their anchors, as MyST computes them --------------------------------------------------------


def _markdown_parser():
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    config = MdParserConfig(enable_extensions={"amsmath", "colon_fence", "deflist", "dollarmath"})
    return create_md_parser(config, RendererHTML)


def headings(markdown: str, parser) -> list[tuple[int, str, str]]:
    """(level, source text, title text used for the slug) of each heading in a markdown cell."""
    tokens = parser.parse(markdown)
    found = []
    for opening, inline in zip(tokens, tokens[1:], strict=False):
        if opening.type == "heading_open":
            level = int(opening.tag[1])
            title = "".join(c.content for c in inline.children or [] if c.type in ("text", "code_inline"))
            found.append((level, inline.content, title))
    return found


def unique_slug(title: str, taken: set[str]) -> str:
    """MyST's default heading slug (GitHub style), made unique within the document the same way MyST does."""
    from myst_parser.mdit_to_docutils.base import default_slugify

    slug = base = default_slugify(title)
    i = 1
    while slug in taken:
        slug = f"{base}-{i}"
        i += 1
    taken.add(slug)
    return slug


class Sections:
    """The section a chapter's cells are in, read cell by cell: `where` is (section title, link target), the target
    a heading anchor as MyST makes it (headings down to HEADING_ANCHOR_LEVEL; before the first, the chapter itself).
    """

    def __init__(self, path: Path, parser):
        self.path, self.parser = path, parser
        self.title, self.current, self.taken = path.stem, None, set()

    def read_markdown(self, markdown: str) -> list[tuple[str, str]]:
        """Take in a markdown cell's headings; return `where` as it stands after each of them, in order."""
        after = []
        for level, text, slug_title in headings(markdown, self.parser):
            slug = unique_slug(slug_title, self.taken) if level <= HEADING_ANCHOR_LEVEL else None
            if level == 1 and self.title == self.path.stem:
                self.title = text
            elif slug is not None and level > 1:
                self.current = (text, f"{self.path.name}#{slug}")
            after.append(self.where)
        return after

    @property
    def where(self) -> tuple[str, str]:
        return self.current or (self.title, self.path.name)


# --- names used in code ----------------------------------------------------------------------------------------


def _resolve(dotted: str):
    """The object a dotted jax/optax name refers to, or None; modules are imported on the way."""
    parts = dotted.split(".")
    try:
        obj = importlib.import_module(parts[0])
    except ImportError:
        return None
    for i, part in enumerate(parts[1:], start=1):
        try:
            # Old spellings the chapters show warn when looked up; the index still lists them.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                obj = getattr(obj, part)
        except AttributeError:
            try:
                obj = importlib.import_module(".".join(parts[: i + 1]))
            except ImportError:
                return None
    return obj


_resolved: dict[str, object] = {}


def resolve(dotted: str):
    if dotted not in _resolved:
        _resolved[dotted] = _resolve(dotted)
    return _resolved[dotted]


def api_name(dotted: str) -> str | None:
    """The longest prefix of `dotted` that exists and is not a bare module (None if there is none)."""
    parts = dotted.split(".")
    # `jax.jacobian.__doc__.strip` is about jax.jacobian: a dunder attribute and what follows it are not API names.
    dunder = next((i for i, part in enumerate(parts) if part.startswith("__")), len(parts))
    parts = parts[:dunder]
    for end in range(len(parts), 1, -1):
        name = ".".join(parts[:end])
        obj = resolve(name)
        if obj is None:
            continue
        return None if isinstance(obj, types.ModuleType) else name
    return None


class _NameCollector(ast.NodeVisitor):
    """Collects dotted jax/optax names from a cell, following the import aliases seen so far in the notebook."""

    def __init__(self, aliases: dict[str, str]):
        self.aliases = aliases
        self.names: list[str] = []

    def visit_Import(self, node: ast.Import) -> None:  # noqa: N802 - ast.NodeVisitor's naming
        for alias in node.names:
            if alias.name.split(".")[0] in PACKAGES:
                if alias.asname:
                    self.aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    self.aliases[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:  # noqa: N802
        if node.level == 0 and node.module and node.module.split(".")[0] in PACKAGES:
            for alias in node.names:
                if alias.name != "*":
                    self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def _chain(self, node: ast.AST) -> list[str] | None:
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in self.aliases:
            return [self.aliases[node.id], *reversed(parts)]
        return None

    def visit_Attribute(self, node: ast.Attribute) -> None:  # noqa: N802
        chain = self._chain(node)
        if chain is not None:
            self.names.append(".".join(chain))
        else:
            self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:  # noqa: N802
        if node.id in self.aliases:
            self.names.append(self.aliases[node.id])


def code_names(source: str, aliases: dict[str, str]) -> list[str]:
    """API names used by one code cell (updates `aliases` with the cell's imports)."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return []
    collector = _NameCollector(aliases)
    # Imports first, so that a name imported in a cell counts in that same cell.
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            collector.visit(node)
    collector.visit(tree)
    found = []
    for dotted in collector.names:
        name = api_name(dotted)
        if name and name not in found:
            found.append(name)
    return found


# --- the index -------------------------------------------------------------------------------------------------


def chapter_uses(path: Path, parser) -> tuple[str, dict[str, list[tuple[str, str]]]]:
    """(chapter title, {api name: [(section title, link target), ...] in reading order}) for one notebook."""
    nb = nbformat.read(path, as_version=4)
    sections = Sections(path, parser)
    uses: dict[str, list[tuple[str, str]]] = defaultdict(list)
    aliases: dict[str, str] = {}
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            sections.read_markdown(cell.source)
        elif cell.cell_type == "code" and cell.get("execution_count") is not None:
            if SKIP_TAGS & set(cell.metadata.get("tags", [])):
                continue
            for name in code_names(cell.source, aliases):
                if sections.where not in uses[name]:
                    uses[name].append(sections.where)
    return sections.title, uses


def module_of(name: str) -> str:
    """The deepest module in the name's path: 'jax.numpy' for 'jax.numpy.zeros', 'jax' for 'jax.jit'."""
    parts = name.split(".")
    for end in range(len(parts) - 1, 0, -1):
        if isinstance(resolve(".".join(parts[:end])), types.ModuleType):
            return ".".join(parts[:end])
    return parts[0]


def render(notebooks: list[Path]) -> str:
    parser = _markdown_parser()
    table: dict[str, list[str]] = defaultdict(list)
    for path in notebooks:
        title, uses = chapter_uses(path, parser)
        number = path.name.split("_", 1)[0].lstrip("0")
        for name, places in uses.items():
            links = ", ".join(f"[{text}]({target})" for text, target in places)
            table[name].append(f"ch. {number}: {links}")
    lines = [HEADER]
    if not table:
        lines.append("No chapter uses a `jax` or `optax` name yet.\n")
    by_module: dict[str, list[str]] = defaultdict(list)
    for name in table:
        by_module[module_of(name)].append(name)
    for module in sorted(by_module):
        lines += [f"## {module}", "", "| Name | Used in |", "|---|---|"]
        for name in sorted(by_module[module], key=str.lower):
            lines.append(f"| `{name}` | {'; '.join(table[name])} |")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed page is out of date")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = render(chapter_notebooks())
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output.relative_to(ROOT)} is out of date: run `make api-index` and commit it")
            return 1
        print(f"{args.output.relative_to(ROOT)} is up to date")
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
