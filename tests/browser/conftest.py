"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, the built site served on 127.0.0.1.

The tests skip, with the reason, when Chromium or Playwright is missing or the site is not built; `make test-browser`
builds the site first and `.ci/run` installs Chromium, so there they run. Each page is loaded once, in its own
browser context with every request to anything but 127.0.0.1 aborted, and its load time and transfer size are
printed in a table at the end of the run.
"""

import browser_checks as bc
import pytest

SITE = bc.SITE


REPORT: dict[str, bc.Visit] = {}


@pytest.fixture(scope="session")
def browser():
    executable = bc.find_chromium()
    if executable is None:
        pytest.skip(
            "browser tests need Chromium: none at $CHROMIUM, /usr/bin/chromium or on PATH (apt-get install -y chromium)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        pytest.skip(f"browser tests need the playwright package from requirements.txt ({error})")
    if not bc.AXE_JS.is_file():
        pytest.skip(f"browser tests need axe-core at {bc.AXE_JS}: run `npm ci` (make test-browser does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=bc.CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def site_url():
    if not (SITE / "index.html").is_file():
        pytest.skip(f"the site is not built ({SITE}): run `make book` (make test-browser does)")
    with bc.serve_directory(SITE) as base:
        yield base


@pytest.fixture(scope="session")
def loaded(browser, site_url):
    """loaded('chapters/01_pure_functions') -> the Visit of that page, loaded once per session."""
    visits: dict[str, bc.Visit] = {}

    def load(doc: str) -> bc.Visit:
        if doc not in visits:
            visits[doc] = bc.visit(browser, f"{site_url}{doc}.html")
            REPORT[doc] = visits[doc]
        return visits[doc]

    yield load
    for v in visits.values():
        v.close()


def pytest_terminal_summary(terminalreporter):
    if not REPORT:
        return
    write = terminalreporter.write_line
    terminalreporter.section("page load time and weight (served with gzip, like GitHub Pages; network closed)")
    write(f"{'page':<34} {'load ms':>8} {'ready ms':>9} {'requests':>8} {'transferred':>12} {'uncompressed':>13}")
    for doc, v in REPORT.items():
        write(
            f"{doc:<34} {v.load_ms:>8.0f} {v.ready_ms:>9.0f} {v.request_count:>8} "
            f"{v.transfer_bytes / 1e6:>10.2f} MB {v.decoded_bytes / 1e6:>10.2f} MB"
        )
    write(f"budget: {bc.PAGE_BUDGET_BYTES / 1e6:.1f} MB transferred per page (BOOK_DESIGN.md section 9)")
