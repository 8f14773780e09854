"""Meta-tests: the browser checks fail on pages planted with the defect each one looks for.

Small HTML pages are written to a temporary directory, served on 127.0.0.1 the same way as the site, and run through
the same functions as test_site.py. A clean page passes every check, so a failure below is the planted defect.
"""

import os
import shutil
import subprocess
import sys

import browser_checks as bc
import pytest

SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20" fill="#0072B2"/></svg>'
)


def html(body: str, head: str = "") -> str:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Planted page</title>{head}</head>
<body><main><article>
<h1>A planted page</h1>
<p>Some text that is easy to read.</p>
{body}
</article></main></body></html>
"""


GOOD_FIGURE = '<figure><img src="figure.svg" alt="A blue rectangle"><figcaption>A figure.</figcaption></figure>'

PAGES = {
    "clean": html(GOOD_FIGURE),
    "broken_figure": html('<figure><img src="no_such_figure.svg" alt="A figure that is not there"></figure>'),
    "missing_alt": html('<figure><img src="figure.svg"></figure>'),
    "console_error": html(GOOD_FIGURE + '<script>console.error("planted console error")</script>'),
    "page_error": html(GOOD_FIGURE + "<script>undefinedFunctionPlanted()</script>"),
    "third_party_script": html(
        GOOD_FIGURE, head='<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script>'
    ),
    "third_party_font": html(
        GOOD_FIGURE, head='<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">'
    ),
    "heading_skip": html("<h3>A subsection with no section above it</h3><p>Text.</p>"),
    "low_contrast": html('<p style="color:#bbbbbb;background:#ffffff">Pale grey text on white.</p>'),
    "raw_math": html('<p>Inline math <span class="math notranslate nohighlight">\\(x^2\\)</span> left untypeset.</p>'),
}


@pytest.fixture(scope="module")
def planted(browser, tmp_path_factory):
    directory = tmp_path_factory.mktemp("planted")
    (directory / "figure.svg").write_text(SVG)
    for name, text in PAGES.items():
        (directory / f"{name}.html").write_text(text)
    visits = {}
    with bc.serve_directory(directory) as base:

        def load(name):
            if name not in visits:
                visits[name] = bc.visit(browser, f"{base}{name}.html")
            return visits[name]

        yield load
        for v in visits.values():
            v.close()


def all_problems(v):
    return (
        bc.network_problems(v)
        + bc.weight_problems(v)
        + bc.image_problems(v.page)
        + bc.math_problems(v.page)
        + bc.accessibility_problems(v.page)
    )


def test_clean_page_passes_every_check(planted):
    assert all_problems(planted("clean")) == []


def test_broken_figure_link_fails(planted):
    v = planted("broken_figure")
    assert any("image does not load" in p and "no_such_figure.svg" in p for p in bc.image_problems(v.page))
    assert any("no_such_figure.svg (HTTP 404)" in p for p in bc.network_problems(v))


def test_missing_alt_text_fails(planted):
    page = planted("missing_alt").page
    assert any("image without alt text: figure.svg" in p for p in bc.image_problems(page))
    assert any(p.startswith("axe image-alt") for p in bc.accessibility_problems(page))


def test_console_error_fails(planted):
    assert bc.network_problems(planted("console_error")) == ["console error: planted console error"]


def test_uncaught_exception_fails(planted):
    problems = bc.network_problems(planted("page_error"))
    assert any(p.startswith("page error:") and "undefinedFunctionPlanted" in p for p in problems)


@pytest.mark.parametrize("name", ["third_party_script", "third_party_font"])
def test_request_to_a_third_party_fails(planted, name):
    v = planted(name)
    assert v.blocked_requests, "the request to a third party was not intercepted"
    assert any("not self-contained" in p for p in bc.network_problems(v))


def test_heading_skip_fails(planted):
    problems = bc.accessibility_problems(planted("heading_skip").page)
    assert any("skips from h1 to h3" in p for p in problems)
    assert any(p.startswith("axe heading-order") for p in problems)


def test_low_contrast_fails(planted):
    assert any(p.startswith("axe color-contrast") for p in bc.accessibility_problems(planted("low_contrast").page))


def test_untypeset_math_fails(planted):
    assert bc.math_problems(planted("raw_math").page) == ["math not typeset: '\\\\(x^2\\\\)'"]


def test_page_over_budget_fails(planted):
    v = planted("clean")
    assert bc.weight_problems(v, budget=v.transfer_bytes - 1)
    assert not bc.weight_problems(v, budget=v.transfer_bytes)


# --- the site tests themselves, on a copy of the built site with defects planted -------------------------------


def test_site_tests_fail_on_a_planted_site(browser, site_url, tmp_path):
    """Plant a broken figure link, a console error and an image without alt text into a copy of the built site;
    run test_site.py's checks on it in a separate pytest; each defect fails the test that looks for it, and only it."""
    chapter = next((doc for doc in bc.NOTEBOOK_PAGES if (bc.SITE / f"{doc}.html").read_text().count("<img") > 1), None)
    if chapter is None:
        pytest.skip("no chapter page with a figure to break")
    others = [doc for doc in bc.PAGES if doc not in bc.NOTEBOOK_PAGES]
    console_page, alt_page = others[0], others[-1]
    site = tmp_path / "html"
    shutil.copytree(bc.SITE, site)
    # 1. A broken figure link: the chapter's figures are gone from _images/.
    figures = [path for path in (site / "_images").iterdir() if path.name in (bc.SITE / f"{chapter}.html").read_text()]
    assert figures, f"{chapter} shows no figure from _images/"
    for path in figures:
        path.unlink()
    # 2. A console error, and 3. an image without alt text, each on its own page.
    page = site / f"{console_page}.html"
    page.write_text(page.read_text().replace("</body>", '<script>console.error("planted error")</script></body>'))
    page = site / f"{alt_page}.html"
    image = '<img src="../_static/images/logo_colab.png">'
    page.write_text(page.read_text().replace("</article>", f"<p>{image}</p></article>", 1))

    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            str(bc.ROOT / "tests/browser/test_site.py"),
            "-k",
            "loads_without_errors or images_load",
        ],
        env={**os.environ, "BOOK_SITE": str(site)},
        capture_output=True,
        text=True,
        timeout=600,
        cwd=bc.ROOT,
    )
    out = run.stdout
    assert run.returncode == 1, out[-3000:]
    failed = sorted(line.split("::", 1)[1].split(" ")[0] for line in out.splitlines() if line.startswith("FAILED"))
    short = bc.page_id
    assert failed == sorted(
        [
            f"test_images_load_and_have_alt_text[{short(chapter)}]",
            f"test_images_load_and_have_alt_text[{short(alt_page)}]",
            f"test_page_loads_without_errors_and_offline[{short(chapter)}]",
            f"test_page_loads_without_errors_and_offline[{short(console_page)}]",
        ]
    ), out[-3000:]
    assert "image does not load: ../_images/" in out
    assert "(HTTP 404)" in out
    assert "console error: planted error" in out
    assert "image without alt text: ../_static/images/logo_colab.png" in out
