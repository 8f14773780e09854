"""Chapter 7's widget companion: the markdown table (typed into the chapter by its generator) and the table the
code cell before it printed in the stored outputs must agree, so neither drifts when the other is regenerated."""

import re

from conftest import ROOT, read_notebook

CHAPTER = ROOT / "chapters" / "07_jaxpr_aot.ipynb"
TABLE_CELL = "# The widget's lesson as a table"
COUNTS = re.compile(r"(\d+) / (\d+)")


def printed_and_markdown():
    """The stored stdout of the table cell and the source of the first markdown cell after it."""
    cells = read_notebook(CHAPTER).cells
    index = next(i for i, cell in enumerate(cells) if cell.cell_type == "code" and cell.source.startswith(TABLE_CELL))
    printed = "".join(out.get("text", "") for out in cells[index].outputs if out.output_type == "stream")
    markdown = next(cell.source for cell in cells[index + 1 :] if cell.cell_type == "markdown")
    return printed, markdown


def parse_printed(text):
    """{function: [(top level, every depth), ...]} and the column names, from the fixed-width printout."""
    header, *lines = [line for line in text.splitlines() if line.strip()]
    rows = {}
    for line in lines:
        first = COUNTS.search(line)
        rows[line[: first.start()].strip()] = [tuple(map(int, pair)) for pair in COUNTS.findall(line)]
    return header.split(), rows


def parse_markdown(text):
    """The same from the markdown table: the first `|` block of the cell."""
    table = [line for line in text.splitlines() if line.startswith("|")]
    header, _, *lines = table
    columns = [cell.strip().strip("`") for cell in header.strip("|").split("|")][1:]
    rows = {}
    for line in lines:
        name, *cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[name] = [tuple(map(int, COUNTS.fullmatch(cell).groups())) for cell in cells]
    return columns, rows


def test_the_markdown_table_matches_the_printed_one():
    printed, markdown = printed_and_markdown()
    printed_columns, printed_rows = parse_printed(printed)
    markdown_columns, markdown_rows = parse_markdown(markdown)
    assert printed_columns == markdown_columns == ["none", "jit", "grad", "vmap"]
    assert len(printed_rows) == 4 and all(len(counts) == 4 for counts in printed_rows.values())
    assert markdown_rows == printed_rows, "regenerate the chapter (build script, then `make outputs CHAPTER=06`)"


def test_the_table_parsers_see_a_difference():
    """A changed count in either table is caught (the parsers do not read both tables as empty, say)."""
    printed, markdown = printed_and_markdown()
    changed = markdown.replace("1 / 3", "1 / 4", 1)
    assert changed != markdown
    assert parse_markdown(changed)[1] != parse_printed(printed)[1]
