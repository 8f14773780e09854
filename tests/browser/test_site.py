"""The built site in a real browser (headless Chromium), with the network closed: every page in _toc.yml.

Run with `make test-browser` (builds the site first). Each check is a function in browser_checks.py; test_planted.py
shows that each of them fails on a page planted with the defect it looks for.
"""

import json
import re
from urllib.parse import urljoin

import browser_checks as bc
import nbformat
import pytest
import yaml

pages = pytest.mark.parametrize("doc", bc.PAGES, ids=bc.page_id)
chapters = pytest.mark.parametrize("doc", bc.NOTEBOOK_PAGES, ids=bc.page_id)

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def notebook(doc):
    return nbformat.read(bc.ROOT / f"{doc}.ipynb", as_version=4)


def show(problems):
    return "\n".join(problems)


# --- every page --------------------------------------------------------------------------------------------------


@pages
def test_page_loads_without_errors_and_offline(loaded, doc):
    """No console error, no uncaught exception, no failed request, no request to a host other than 127.0.0.1."""
    v = loaded(doc)
    assert v.request_count > 0, "no request was measured"
    problems = bc.network_problems(v)
    assert not problems, show(problems)


@pages
def test_page_weight_within_budget(loaded, doc):
    problems = bc.weight_problems(loaded(doc))
    assert not problems, show(problems)


@pages
def test_images_load_and_have_alt_text(loaded, doc):
    problems = bc.image_problems(loaded(doc).page)
    assert not problems, show(problems)


@pages
def test_math_is_typeset(loaded, doc):
    source = bc.ROOT / f"{doc}.ipynb"
    has_math = False
    if source.is_file():
        markdown = "\n".join(c.source for c in notebook(doc).cells if c.cell_type == "markdown")
        has_math = bool(re.search(r"\$[^$\s][^$]*\$", markdown))
    problems = bc.math_problems(loaded(doc).page, expect_math=has_math)
    assert not problems, show(problems)


@pages
def test_accessibility_audit(loaded, doc):
    """axe-core (WCAG 2.x A and AA, best practices: alt text, contrast, heading order, names) and our heading check."""
    problems = bc.accessibility_problems(loaded(doc).page)
    assert not problems, show(problems)


@pages
def test_accessibility_audit_in_dark_mode(browser, site_url, doc):
    """The theme follows the reader's colour preference; contrast and the rest must hold in dark mode too."""
    v = bc.visit(browser, f"{site_url}{doc}.html", color_scheme="dark")
    try:
        assert v.page.evaluate("document.documentElement.dataset.theme") == "dark"
        problems = bc.network_problems(v) + bc.accessibility_problems(v.page)
        assert not problems, show(problems)
    finally:
        v.close()


# --- chapter pages -----------------------------------------------------------------------------------------------

CELLS_JS = """
() => Array.from(document.querySelectorAll('article div.cell')).map(cell => {
    const input = cell.querySelector('.cell_input pre');
    const output = cell.querySelector('.cell_output');
    return {
        input: input ? input.textContent : null,
        outputText: output ? output.textContent.trim() : '',
        outputMedia: output ? output.querySelectorAll('img, svg, table').length : 0,
        widget: !!(output && output.querySelector('script[type="application/vnd.jupyter.widget-view+json"]')),
    };
})
"""


def visible_output(cell) -> bool:
    """Whether a stored output shows something on the website (a widget without stored state shows nothing)."""
    for output in cell.get("outputs", []):
        if output.output_type in ("stream", "error"):
            return True
        if output.output_type in ("execute_result", "display_data") and WIDGET_MIME not in output.get("data", {}):
            return True
    return False


@chapters
def test_code_cells_and_outputs_render(loaded, doc):
    """Every code cell's source is on the page, highlighted, and every cell with a visible output shows it."""
    cells = notebook(doc).cells
    expected = [c for c in cells if c.cell_type == "code" and "remove-cell" not in c.metadata.get("tags", [])]
    rendered = loaded(doc).page.evaluate(CELLS_JS)
    assert len(rendered) == len(expected), f"{len(expected)} code cells in the notebook, {len(rendered)} on the page"
    problems = []
    for number, (cell, shown) in enumerate(zip(expected, rendered, strict=True), start=1):
        tags = cell.metadata.get("tags", [])
        if "remove-input" not in tags and " ".join((shown["input"] or "").split()) != " ".join(cell.source.split()):
            problems.append(f"code cell {number}: source not shown as stored ({cell.source[:50]!r})")
        if visible_output(cell) and "remove-output" not in tags and not (shown["outputText"] or shown["outputMedia"]):
            problems.append(f"code cell {number}: stored output not shown ({cell.source[:50]!r})")
    assert not problems, show(problems)


COMPANION_JS = """
() => Array.from(document.querySelectorAll('article script[type="application/vnd.jupyter.widget-view+json"]'))
    .map(script => {
        // The static companion follows the widget's cell: a figure, image or table within the next few blocks.
        let el = script.closest('div.cell').nextElementSibling;
        for (let i = 0; el && i < 4; i++, el = el.nextElementSibling) {
            if (el.matches('figure, table') || el.querySelector('figure img, img, svg, table')) {
                const img = el.matches('figure, table') ? el.querySelector('img') : el.querySelector('img');
                return {found: true, loaded: !img || (img.complete && img.naturalWidth > 0)};
            }
        }
        return {found: false, loaded: false};
    })
"""


@chapters
def test_widgets_have_static_companions(loaded, doc):
    """A live widget does not run on the website; the figure or table after it must be there and load."""
    widget_cells = [
        c
        for c in notebook(doc).cells
        if c.cell_type == "code" and any(WIDGET_MIME in o.get("data", {}) for o in c.get("outputs", []))
    ]
    companions = loaded(doc).page.evaluate(COMPANION_JS)
    assert len(companions) == len(widget_cells)
    for number, companion in enumerate(companions, start=1):
        assert companion["found"], f"widget {number} has no static companion (figure or table) after it"
        assert companion["loaded"], f"widget {number}'s static companion image does not load"


HIDDEN_JS = """
() => Array.from(document.querySelectorAll('article div.cell.tag_hide-input')).map(cell => {
    const details = cell.querySelector('details.hide');
    return {hasToggle: !!details, openAtFirst: !!(details && details.open)};
})
"""


@chapters
def test_hidden_inputs_are_collapsed_and_open_on_click(loaded, doc):
    """Solutions and generated cells (hide-input) start collapsed; clicking the toggle shows the code."""
    hidden = [c for c in notebook(doc).cells if c.cell_type == "code" and "hide-input" in c.metadata.get("tags", [])]
    page = loaded(doc).page
    shown = page.evaluate(HIDDEN_JS)
    assert len(shown) == len(hidden)
    assert all(cell["hasToggle"] and not cell["openAtFirst"] for cell in shown), shown
    if hidden:
        toggle = page.locator("article div.cell.tag_hide-input details.hide").last
        code = toggle.locator(".cell_input pre")
        assert not code.is_visible()
        toggle.locator("summary").click()
        code.wait_for(state="visible")
        assert " ".join(code.text_content().split()) == " ".join(hidden[-1].source.split())


def expected_colab_url(doc):
    config = yaml.safe_load((bc.ROOT / "_config.yml").read_text())
    org_repo = config["repository"]["url"].removeprefix("https://github.com/").strip("/")
    branch = config["repository"].get("branch", "main")
    return f"https://colab.research.google.com/github/{org_repo}/blob/{branch}/{doc}.ipynb"


@chapters
def test_launch_button_opens_the_chapter_in_colab(browser, site_url, doc):
    """Click the rocket, then Colab: the new tab asks for this chapter's notebook in Colab (blocked here, recorded)."""
    expected = expected_colab_url(doc)
    assert expected.startswith("https://colab.research.google.com/github/") and "/blob/main/chapters/" in expected
    v = bc.visit(browser, f"{site_url}{doc}.html")  # its own context: the click makes an (expected) outside request
    try:
        page = v.page
        page.locator(".dropdown-launch-buttons button.dropdown-toggle").click()
        link = page.locator(".dropdown-launch-buttons a", has_text="Colab")
        assert link.get_attribute("href") == expected
        with v.context.expect_page() as popup:
            link.click()
        popup.value.wait_for_load_state("domcontentloaded")
        assert v.blocked_requests == [expected], v.blocked_requests
    finally:
        v.close()


@chapters
def test_download_button_gives_the_chapter_notebook(loaded, site_url, doc):
    """The download menu's .ipynb entry serves this chapter's notebook, identical to the one in the repository."""
    page = loaded(doc).page
    page.locator(".dropdown-download-buttons button.dropdown-toggle").click()
    link = page.locator(".dropdown-download-buttons a", has_text=".ipynb")
    url = urljoin(page.url, link.get_attribute("href"))
    assert url.endswith(f"/{doc}.ipynb")
    response = page.request.get(url)
    assert response.ok, f"{url}: HTTP {response.status}"
    served = json.loads(response.body())
    assert served == json.loads((bc.ROOT / f"{doc}.ipynb").read_text())
    assert served["metadata"].get("accelerator") == "TPU"


# --- finding things ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("term", ["pytree", "jaxpr"])
def test_search_finds_pages(browser, site_url, term):
    v = bc.visit(browser, f"{site_url}search.html?q={term}")
    try:
        results = v.page.locator("#search-results ul.search li")
        results.first.wait_for(timeout=15_000)
        assert results.count() > 0
        assert not bc.network_problems(v), show(bc.network_problems(v))
    finally:
        v.close()


def _pasted_error_lines() -> list[tuple[str, list[str]]]:
    """Three entries of the errors page as built: the first, the longest, and the first with a word whose stem is
    a stop word ("one" stems to "on"), the case tools/search_fix.py makes the search find."""
    import json

    import make_error_index
    import snowballstemmer

    entries = make_error_index.entries(make_error_index.OUTPUT.read_text())
    language_data = (bc.SITE / "_static" / "language_data.js").read_text()
    stopwords = set(json.loads(re.search(r"var stopwords = (\[.*?\]);", language_data, re.DOTALL)[1]))
    stem = snowballstemmer.stemmer("porter").stemWord

    def stop_stem(line):
        words = [word.lower() for word in re.findall(r"\w+", line)]
        return any(stem(word) in stopwords and word not in stopwords for word in words)

    first, longest = entries[0], max(entries, key=lambda entry: len(entry[0]))
    tricky = next(entry for entry in entries if stop_stem(entry[0]))
    return [first, longest, tricky]


def test_pasting_an_error_line_finds_the_errors_page_and_the_chapter(browser, site_url):
    """A reader pastes the first line of an error, as the errors page lists it; the results list that page and the
    chapters that show the error."""
    from urllib.parse import quote

    for line, notebooks in _pasted_error_lines():
        v = bc.visit(browser, f"{site_url}search.html?q={quote(line)}")
        try:
            done = v.page.locator("#search-results h2", has_text="Search Results")
            done.wait_for(state="attached", timeout=30_000)  # the theme hides the heading; it is there when done
            hrefs = v.page.eval_on_selector_all(
                "#search-results ul.search li > a", "links => links.map(link => link.getAttribute('href'))"
            )
            found = {href.split("#")[0].split("?")[0] for href in hrefs}
            wanted = {"chapters/errors.html"} | {f"chapters/{name.removesuffix('.ipynb')}.html" for name in notebooks}
            assert wanted <= found, f"search for {line!r}: missing {sorted(wanted - found)}, found {sorted(found)}"
            assert not bc.network_problems(v), show(bc.network_problems(v))
        finally:
            v.close()


def test_site_root_leads_to_the_landing_page(browser, site_url):
    """The site's index.html is a redirect (a meta refresh) to the root page of _toc.yml."""
    blocked = []
    context = bc.open_context(browser, blocked)
    try:
        page = context.new_page()
        page.goto(site_url)
        page.wait_for_url(f"{site_url}{bc.PAGES[0]}.html")
        assert page.locator("article h1").count() == 1
        assert blocked == []
    finally:
        context.close()


def test_references_page_lists_every_bib_entry(loaded):
    entries = re.findall(r"^@\w+\{", (bc.ROOT / "chapters" / "references.bib").read_text(), flags=re.M)
    shown = loaded("chapters/references").page.locator("article .citation").count()
    assert shown == len(entries) > 0
