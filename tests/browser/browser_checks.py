"""The checks the browser tests run on a page, shared by the site tests and the planted-page meta-tests.

Each `*_problems` function returns a list of one-line problem descriptions; an empty list means the page passed.
The same functions run against the built book (test_site.py) and against small planted broken pages
(test_planted.py), which proves that each check can fail.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# The built site; BOOK_SITE points elsewhere (e.g. a build made with `jupyter-book build --path-output DIR`).
SITE = Path(os.environ.get("BOOK_SITE", ROOT / "_build" / "html"))
LOCAL_HOST = "127.0.0.1"
PAGE_BUDGET_BYTES = 1_500_000  # BOOK_DESIGN.md section 9: a chapter page at most 1.5 MB transferred

# Chromium's own background traffic (updates, sync, safe browsing) is switched off, and every host name but the
# local one resolves to nothing, so even a request that escaped Playwright's routing could not leave the machine.
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-gpu",
    "--no-first-run",
    f"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE {LOCAL_HOST}",
]

# The accessibility audit: WCAG 2.0, 2.1 and 2.2 levels A and AA (alt text, colour contrast, ARIA, landmarks,
# link names, ...) plus axe's best practices, which include heading order.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
# Known violations in markup the book does not write (the theme's chrome, docutils' bibliography), each limited to
# the elements named by a CSS selector and given its reason. No rule is switched off: on every other element,
# including everything the chapters produce, each of these rules still applies.
AXE_EXCEPTIONS: dict[str, tuple[str, str]] = {
    "label-content-name-mismatch": (
        ".search-button__button, .theme-switch-button",
        "pydata-sphinx-theme's search and colour-mode buttons: aria-label 'Search' / 'Color mode', while the text"
        " inside is a keyboard hint or icon; a screen reader still announces a correct name",
    ),
    "region": (
        ".sidebar-primary-item",
        "pydata-sphinx-theme puts the sidebar block with the book's title link outside any landmark",
    ),
    "aria-allowed-role": (".citation", "docutils writes role='doc-biblioentry' on bibliography entries"),
    "aria-deprecated-role": (".citation", "doc-biblioentry is deprecated in DPUB-ARIA 1.1; docutils still writes it"),
    "aria-required-children": (
        ".citation-list",
        "docutils' bibliography container has role='list' but holds back-reference links beside the entries",
    ),
}


# --- the pages to check -----------------------------------------------------------------------------------------


def toc_files(toc_path: Path = ROOT / "_toc.yml") -> list[str]:
    """Every document in _toc.yml, root first, in reading order (e.g. 'chapters/01_pure_functions')."""
    toc = yaml.safe_load(toc_path.read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


PAGES = toc_files()
# Chapters are the notebooks in the table of contents; new chapters are covered as soon as they are listed there.
NOTEBOOK_PAGES = [f for f in PAGES if (ROOT / f"{f}.ipynb").is_file()]


def page_id(doc: str) -> str:
    return re.sub(r"^chapters/", "", doc)


def find_chromium() -> str | None:
    """The Chromium the tests drive: $CHROMIUM if set (and only it), else Debian's /usr/bin/chromium or PATH's."""
    candidates = (
        [os.environ["CHROMIUM"]] if os.environ.get("CHROMIUM") else ["/usr/bin/chromium", shutil.which("chromium")]
    )
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


# --- serving a directory on the loopback interface ----------------------------------------------------------------


COMPRESSIBLE = {".html", ".js", ".css", ".svg", ".json", ".txt", ".xml", ".ipynb", ".map"}


@functools.lru_cache(maxsize=512)
def _gzipped(path: str, mtime_ns: int) -> bytes:
    return gzip.compress(Path(path).read_bytes(), compresslevel=6)


class _Handler(http.server.SimpleHTTPRequestHandler):
    """http.server's static file handler, plus gzip for text files when the browser accepts it.

    GitHub Pages, where the book is published, compresses text the same way, so the measured transfer sizes are what
    a reader's browser receives (the uncompressed sizes are reported beside them).
    """

    def log_message(self, format, *args):  # noqa: A002 - the signature is http.server's
        pass

    def do_GET(self):  # noqa: N802 - the name is http.server's
        path = Path(self.translate_path(self.path))
        if (
            self.server.compress
            and "gzip" in self.headers.get("Accept-Encoding", "")
            and path.suffix in COMPRESSIBLE
            and path.is_file()
        ):
            body = _gzipped(str(path), path.stat().st_mtime_ns)
            self.send_response(200)
            self.send_header("Content-Type", self.guess_type(str(path)))
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


@contextlib.contextmanager
def serve_directory(directory: Path, compress: bool = True):
    """Serve `directory` on 127.0.0.1 (a free port) from a thread; yields the base URL, ending in '/'."""
    handler = functools.partial(_Handler, directory=str(directory))
    server = http.server.ThreadingHTTPServer((LOCAL_HOST, 0), handler)
    server.compress = compress
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOCAL_HOST}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- visiting a page with the network closed --------------------------------------------------------------------


@dataclass
class Visit:
    """One page loaded in a fresh browser context, and everything seen while it loaded."""

    url: str
    context: object = None
    page: object = None
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)
    transferred: dict[str, int] = field(default_factory=dict)  # request id -> bytes on the wire
    decoded: dict[str, int] = field(default_factory=dict)  # request id -> bytes after decompression
    load_ms: float = 0.0  # navigation start to the load event (the browser's own timing)
    ready_ms: float = 0.0  # wall clock from navigation until the page is loaded and its math typeset

    @property
    def transfer_bytes(self) -> int:
        return sum(self.transferred.values())

    @property
    def decoded_bytes(self) -> int:
        return sum(self.decoded.values())

    @property
    def request_count(self) -> int:
        return len(self.transferred)

    def close(self) -> None:
        if self.context is not None:
            self.context.close()
            self.context = None


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.hostname == LOCAL_HOST


def open_context(browser, blocked: list[str], **context_args):
    """A browser context whose every request to anything but 127.0.0.1 is aborted and recorded in `blocked`."""
    context = browser.new_context(**context_args)

    def route(route):
        if is_local(route.request.url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("blockedbyclient")

    def route_ws(ws):
        if is_local(ws.url):
            ws.connect_to_server()
        else:
            blocked.append(ws.url)
            ws.close()

    context.route("**/*", route)
    context.route_web_socket(re.compile(".*"), route_ws)
    return context


def visit(browser, url: str, timeout_ms: int = 30_000, **context_args) -> Visit:
    """Load `url` in a fresh context with the network closed; wait until MathJax has typeset and the network is idle.

    The caller closes the visit (`visit.close()`).
    """
    v = Visit(url=url)
    v.context = open_context(browser, v.blocked_requests, **{"accept_downloads": True, **context_args})
    page = v.page = v.context.new_page()
    page.set_default_timeout(timeout_ms)

    page.on("console", lambda msg: v.console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda err: v.page_errors.append(str(err)))
    page.on("requestfailed", lambda req: v.failed_requests.append(f"{req.url} ({req.failure})"))
    page.on(
        "response",
        lambda resp: v.failed_requests.append(f"{resp.url} (HTTP {resp.status})") if resp.status >= 400 else None,
    )

    # Bytes on the wire per request, as Chromium's DevTools count them (headers and body as transferred).
    cdp = v.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.on("Network.loadingFinished", lambda e: v.transferred.__setitem__(e["requestId"], int(e["encodedDataLength"])))
    cdp.on(
        "Network.dataReceived",
        lambda e: v.decoded.__setitem__(e["requestId"], v.decoded.get(e["requestId"], 0) + e["dataLength"]),
    )

    start = time.perf_counter()
    page.goto(url, wait_until="load")
    # MathJax typesets after the load event; wait for it where the page has it.
    page.evaluate("async () => { if (window.MathJax && MathJax.startup) { await MathJax.startup.promise; } }")
    v.ready_ms = (time.perf_counter() - start) * 1000
    # Then let late requests (fonts MathJax asked for, lazy images) finish, so they are checked and counted too.
    page.wait_for_load_state("networkidle")
    v.load_ms = page.evaluate("() => performance.getEntriesByType('navigation')[0].loadEventEnd")
    return v


# --- the checks -----------------------------------------------------------------------------------------------


def network_problems(v: Visit) -> list[str]:
    """Console errors, uncaught page errors, failed requests, and any attempt to reach a host other than 127.0.0.1."""
    problems = [f"console error: {text}" for text in v.console_errors]
    problems += [f"page error: {text}" for text in v.page_errors]
    # A blocked request also fails; report it once, as blocked.
    problems += [
        f"failed request: {text}" for text in v.failed_requests if text.split(" ")[0] not in v.blocked_requests
    ]
    problems += [f"request to a third party (the page is not self-contained): {url}" for url in v.blocked_requests]
    return problems


def weight_problems(v: Visit, budget: int = PAGE_BUDGET_BYTES) -> list[str]:
    if v.transfer_bytes > budget:
        return [f"page transferred {v.transfer_bytes:,} bytes, over the budget of {budget:,}"]
    return []


IMAGES_JS = """
() => Array.from(document.querySelectorAll('img')).map(img => ({
    src: img.getAttribute('src') || '',
    alt: img.getAttribute('alt'),
    loaded: img.complete && img.naturalWidth > 0,
    inArticle: !!img.closest('article, main'),
}))
"""


def image_problems(page) -> list[str]:
    """Every image loads (naturalWidth > 0); every image in the content has non-empty alt text."""
    problems = []
    for img in page.evaluate(IMAGES_JS):
        if not img["loaded"]:
            problems.append(f"image does not load: {img['src']}")
        if img["inArticle"] and not (img["alt"] or "").strip():
            problems.append(f"image without alt text: {img['src']}")
    return problems


MATH_JS = """
() => {
    const math = Array.from(document.querySelectorAll('.math'));
    return {
        total: math.length,
        typeset: math.filter(el => el.querySelector('mjx-container')).length,
        errors: Array.from(document.querySelectorAll('mjx-merror'))
            .map(el => el.getAttribute('data-mjx-error') || el.textContent),
        raw: math.filter(el => !el.querySelector('mjx-container')).map(el => el.textContent.slice(0, 60)),
    };
}
"""


def math_problems(page, expect_math: bool = False) -> list[str]:
    """Every math element was typeset by MathJax, without TeX errors; `expect_math` requires at least one."""
    info = page.evaluate(MATH_JS)
    problems = [f"math not typeset: {text!r}" for text in info["raw"]]
    problems += [f"MathJax error: {text}" for text in info["errors"]]
    if expect_math and info["total"] == 0:
        problems.append("no math on a page whose source has math")
    return problems


HEADINGS_JS = """
() => Array.from(document.querySelectorAll('article h1, article h2, article h3, article h4, article h5, article h6'))
        .map(h => [Number(h.tagName[1]), h.textContent.trim().slice(0, 60)])
"""


def heading_problems(page) -> list[str]:
    """The content has exactly one h1, first, and each heading goes at most one level deeper than the one before."""
    headings = page.evaluate(HEADINGS_JS)
    if not headings:
        return ["no headings in the content"]
    problems = []
    if headings[0][0] != 1 or sum(1 for level, _ in headings if level == 1) != 1:
        problems.append(f"expected exactly one h1, first; got {[level for level, _ in headings]}")
    for (before, _), (level, text) in zip(headings, headings[1:], strict=False):
        if level > before + 1:
            problems.append(f"heading level skips from h{before} to h{level}: {text!r}")
    return problems


def axe_violations(page) -> list[dict]:
    """Run axe-core (injected from node_modules, no request) on the page; returns its violations."""
    page.add_script_tag(path=str(AXE_JS))
    options = {"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]}
    exceptions = {rule: selector for rule, (selector, _reason) in AXE_EXCEPTIONS.items()}
    return page.evaluate(AXE_JS_RUN, [options, exceptions])


# Runs axe, then drops the violating elements that a listed exception covers (and violations left with none).
AXE_JS_RUN = """
async ([options, exceptions]) => {
    const result = await axe.run(document, options);
    const covered = (rule, node) => {
        const selector = exceptions[rule];
        if (!selector) return false;
        const el = document.querySelector(node.target[node.target.length - 1]);
        return !!(el && el.closest(selector));
    };
    return result.violations
        .map(v => ({...v, nodes: v.nodes.filter(n => !covered(v.id, n))}))
        .filter(v => v.nodes.length > 0)
        .map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => ({target: n.target, html: n.html.slice(0, 200), summary: n.failureSummary})),
        }));
}
"""


def accessibility_problems(page) -> list[str]:
    problems = []
    for violation in axe_violations(page):
        targets = [
            " ".join(node["target"]) if isinstance(node["target"], list) else str(node["target"])
            for node in violation["nodes"][:3]
        ]
        problems.append(
            f"axe {violation['id']} ({violation['impact']}): {violation['help']}; "
            f"{len(violation['nodes'])} element(s), e.g. {targets}"
        )
    return problems + heading_problems(page)
