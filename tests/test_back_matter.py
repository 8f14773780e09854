"""The generated back-matter pages: chapters/errors.md (tools/make_error_index.py) and chapters/migration.md
(tools/make_migration_index.py) are up to date, and their parsers read what the chapters print and write."""

import re

import make_error_index as errors
import make_migration_index as migration
import nbformat
import pytest
from book_cells import CELLS, chapter_notebooks


def test_committed_errors_page_is_in_sync_with_the_notebooks():
    assert errors.main(["--check"]) == 0, "chapters/errors.md is out of date: run `make back-matter` and commit it"


def test_committed_migration_page_is_in_sync_with_the_notebooks():
    assert migration.main(["--check"]) == 0, "chapters/migration.md is out of date: run `make back-matter`"


def test_check_fails_on_a_stale_page(tmp_path):
    stale = tmp_path / "errors.md"
    stale.write_text(errors.OUTPUT.read_text() + "- `ValueError: an entry no chapter shows`  \n")
    assert errors.main(["--check", "--output", str(stale)]) == 1


# --- errors ------------------------------------------------------------------------------------------------------


def _notebook(tmp_path, cells, name="09_chapter.ipynb"):
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def _code(source, outputs, tags=()):
    cell = nbformat.v4.new_code_cell(source, execution_count=1)
    cell.outputs = outputs
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def _stream(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def test_errors_are_read_from_error_outputs_streams_and_sections(tmp_path):
    raised = nbformat.v4.new_output(
        "error", ename="KeyReuseError", evalue="In jit, key 0 consumed.\nMore.", traceback=[]
    )
    wrapped = (
        "TracerBoolConversionError: Attempted boolean conversion of traced array with\n"
        "  shape bool[].\n"
        "  The error occurred while tracing the function relu for jit.\n"  # a new line of the message, not a wrap
    )
    path = _notebook(
        tmp_path,
        [
            nbformat.v4.new_markdown_cell("# 9. A chapter"),
            _code("setup()", [_stream("Warning: this is a TPU runtime\n")], tags=["setup"]),
            _code("key_reuse()", [raised], tags=["raises-exception"]),
            nbformat.v4.new_markdown_cell("## Errors `jit` raises\n\n### Tracers"),
            _code("show_error(relu, x)", [_stream(wrapped)]),
            _code("warn()", [_stream("caught: UserWarning: Some donated buffers were not usable: float32[4].\n")]),
            _code("check_relu(relu)", [_stream("✗ check_relu: TypeError: relu returned a list\n")]),
            _code("timing()", [_stream("ValueError: varies from run to run\n")], tags=["nbval-ignore-output"]),
            _code("print(x)", [_stream("x[10] = 4.0, error: out-of-bounds\nno KeyReuseError; mask: [True]\n")]),
        ],
    )
    found = errors.chapter_errors(path, errors._markdown_parser())
    assert [(shown.type, shown.line, where) for shown, where in found] == [
        ("KeyReuseError", "KeyReuseError: In jit, key 0 consumed.", ("9. A chapter", "09_chapter.ipynb")),
        (
            "TracerBoolConversionError",
            "TracerBoolConversionError: Attempted boolean conversion of traced array with shape bool[].",
            ("Tracers", "09_chapter.ipynb#tracers"),
        ),
        (
            "UserWarning",
            "UserWarning: Some donated buffers were not usable: float32[4].",
            ("Tracers", "09_chapter.ipynb#tracers"),
        ),
    ]


def test_a_hyphenated_word_broken_by_the_wrap_is_joined_without_a_space():
    text = (
        "UnexpectedTracerError: Found a JAX Tracer object passed as an argument to a\n"
        "  custom_vjp function in a position indicated by nondiff_argnums as non-\n"
        "  differentiable.\n"
    )
    [shown] = errors.stream_errors(text)
    assert shown.line.endswith("nondiff_argnums as non-differentiable.")


def test_the_checkers_verdicts_start_with_the_marks_that_are_skipped():
    """If the checkers' output format changes, CHECKER_MARKS must follow, or their lines would be listed."""
    printed = re.findall(r'print\(f"(\S+) \{name\}', (CELLS / "checks_core.py").read_text())
    assert printed and set(printed) <= set(errors.CHECKER_MARKS), printed


def test_identical_lines_are_listed_once_with_every_section(tmp_path):
    line = "ValueError: vmap got inconsistent sizes for array axes to be mapped:\n"
    path = _notebook(
        tmp_path,
        [
            nbformat.v4.new_markdown_cell("# 9. A chapter\n\n## One"),
            _code("a()", [_stream(line)]),
            nbformat.v4.new_markdown_cell("## Two"),
            _code("b()", [_stream(line + line)]),
        ],
    )
    page = errors.render([path])
    assert page.count("inconsistent sizes") == 1
    assert "ch. 9: [One](09_chapter.ipynb#one), [Two](09_chapter.ipynb#two)" in page
    assert errors.entries(page) == [(line.strip(), ["09_chapter.ipynb"])]


@pytest.mark.parametrize("text", ["plain", "`set_mesh` can only be used", "a `` double", "ends with `"])
def test_inline_code_round_trips_backticks(text):
    from markdown_it import MarkdownIt

    rendered = MarkdownIt().renderInline(errors.inline_code(text))
    assert rendered == f"<code>{text}</code>"
    assert errors.entries(f"- {errors.inline_code(text)}  \n  ch. 9: [A](09_a.ipynb#a)") == [(text, ["09_a.ipynb"])]


def test_the_errors_page_lists_errors_of_every_kind():
    """The committed page has entries from raised errors, show_error lines and caught warnings."""
    page = errors.OUTPUT.read_text()
    for heading in ("KeyReuseError", "TracerBoolConversionError", "ConcretizationTypeError", "DeprecationWarning"):
        assert f"\n## {heading}\n" in page
    assert not re.search(r"[✓✗○]", page)


# --- migration ---------------------------------------------------------------------------------------------------

GOOD = """```{note}
**Coming from older code.** Prose stays.

| older code | current code | on jax 0.12 |
|---|---|---|
| `jax.tree_map(f, t)` | `jax.tree.map(f, t)` | gone: `AttributeError` |
| `a \\| b` | `c` | works |
```"""


def test_a_table_following_the_convention_is_read():
    [(start, rows)] = migration.parse_tables(GOOD, "0.12")
    assert start == 3
    assert rows == [
        migration.Row("`jax.tree_map(f, t)`", "`jax.tree.map(f, t)`", "gone: `AttributeError`"),
        migration.Row("`a \\| b`", "`c`", "works"),
    ]
    assert [row.word for row in rows] == ["gone", "works"]


@pytest.mark.parametrize(
    "broken",
    [
        GOOD.replace("gone: `AttributeError`", "`AttributeError`"),  # no status word
        GOOD.replace("gone: `AttributeError`", "removed: `AttributeError`"),  # not one of the three
        GOOD.replace("gone: `AttributeError`", "gone-ish"),
        GOOD.replace("| on jax 0.12 |", "| on the pinned version |"),  # the old header
        GOOD.replace(" current code |", ""),  # two columns
        GOOD.replace("|---|---|---|", ""),  # no separator
        GOOD.replace("| `c` | works |", "| works |"),  # a short row
    ],
)
def test_a_malformed_table_fails_loudly(broken):
    with pytest.raises(migration.MalformedTable):
        migration.parse_tables(broken, "0.12")


def test_a_table_for_another_jax_version_fails():
    with pytest.raises(migration.MalformedTable, match="on jax 0.13"):
        migration.parse_tables(GOOD, "0.13")


def test_rows_link_to_the_heading_above_their_table(tmp_path):
    path = _notebook(
        tmp_path,
        [
            nbformat.v4.new_markdown_cell("# 9. A chapter\n\n## Keys"),
            nbformat.v4.new_markdown_cell("## Coming from older code\n\n" + GOOD + "\n\n## After"),
        ],
    )
    rows = migration.chapter_rows(path, migration._markdown_parser(), "0.12")
    assert {where for _, where in rows} == {("Coming from older code", "09_chapter.ipynb#coming-from-older-code")}
    page = migration.render([path], "0.12")
    entry = "- `jax.tree_map(f, t)` → `jax.tree.map(f, t)`  \n  **gone**: `AttributeError`. Shown in ch. 9: [Coming"
    assert entry in page
    assert "- `a | b` → `c`  \n  **works**. Shown in ch. 9" in page  # a pipe needs no escape outside a table


def test_the_main_tool_reports_a_malformed_table(tmp_path, monkeypatch, capsys):
    path = _notebook(tmp_path, [nbformat.v4.new_markdown_cell(GOOD.replace("works", "fine"))])
    monkeypatch.setattr(migration, "chapter_notebooks", lambda: [path])
    assert migration.main(["--output", str(tmp_path / "out.md")]) == 2
    assert "09_chapter.ipynb cell 0 line 7" in capsys.readouterr().err


KNOWN_OLD_SPELLINGS = [
    "jax.tree_map",
    "jax.experimental.shard_map",
    "check_rep",
    "device_put_replicated",
    "jax.xla_computation",
    "cost_analysis()[0]",
    "jax.experimental import export",
    "use_mesh",
    "PRNGKey",
    "jax.experimental.enable_x64",
    "jax.remat",
    "host_callback",
    "xmap",
    "pjit",
    "PositionalSharding",
]


@pytest.mark.parametrize("old", KNOWN_OLD_SPELLINGS)
def test_the_migration_page_covers_the_known_old_spellings(old):
    version = migration.jax_minor()
    parser = migration._markdown_parser()
    olds = [row.old for path in chapter_notebooks() for row, _ in migration.chapter_rows(path, parser, version)]
    assert any(old in cell for cell in olds), f"no chapter's older-code table has a row for {old}"
