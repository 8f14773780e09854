"""Sphinx extension that keeps the built site self-contained (loaded by _config.yml's `local_extensions`).

A reader behind a firewall, or offline with a copy of the site, must still get typeset math. By default the pages
would fetch MathJax from a CDN and carry sphinx-thebe's loader. This extension:

- copies MathJax 3 from the PyPI package django-static-mathjax (pinned in requirements.txt; despite its name it
  is only MathJax's static files and needs no Django) into `_build/html/_static/mathjax/`, so `make book` needs
  nothing but the Python environment; `_config.yml` points `mathjax_path` at it, and the build fails if
  `mathjax_path` is a remote URL;
- removes sphinx-thebe's scripts from every page. The book does not offer live code on the website (Colab is the
  way to run a chapter), jupyter-book always loads sphinx-thebe, and its inline configuration script is injected
  twice, which makes the browser report `Identifier 'THEBE_JS_URL' has already been declared` on every page;
- drops the fixed aria-label "Toggle hidden content" that myst-nb puts on each hidden cell's <summary>, so that the
  visible text ("Show code cell source") is the accessible name, as WCAG 2.5.3 (label in name) asks;
- removes the "Open in Colab" badge `make sync` writes under each chapter's title (tools/colab_badge.py): its image
  is on Colab's host, and the page's own Colab launch button opens the same URL. GitHub and Colab still show it.

Set in `_config.yml` beside it: `nb_ipywidgets_js: {}` keeps the CDN widget manager and require.js off the pages
(the notebooks store no widget state; each live widget is followed by a static companion the website shows), and
`html_context: {default_mode: auto}` gives the theme a colour mode (left empty, pydata-sphinx-theme logs
`Got invalid theme mode: .` as a console error on every page).
"""

import importlib.util
import shutil
from pathlib import Path

from colab_badge import BADGE_IMAGE
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

# What tex-chtml.js needs: the combined component itself, the TeX extensions it autoloads, the CHTML fonts, and the
# accessibility and menu components it loads on demand (sre holds the speech rules the menu's explorer uses).
MATHJAX_FILES = ["tex-chtml.js"]
MATHJAX_DIRS = ["input/tex/extensions", "output/chtml/fonts/woff-v2", "a11y", "ui", "sre"]
MATHJAX_TARGET = "mathjax"  # inside _static


def _mathjax_package() -> Path:
    """MathJax's distribution folder (with es5/ and LICENSE) inside the installed django-static-mathjax."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        return Path("django-static-mathjax is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax"


def _check_sources(app: Sphinx) -> None:
    es5 = _mathjax_package() / "es5"
    if app.builder.format == "html" and not (es5 / "tex-chtml.js").is_file():
        raise ExtensionError(f"MathJax is missing ({es5}/tex-chtml.js): install requirements.txt (`make venv`)")
    mathjax_path = app.config.mathjax_path or ""
    if "://" in mathjax_path or mathjax_path.startswith("//"):
        logger.warning("mathjax_path %r loads MathJax from a third party; the site must serve it itself", mathjax_path)


def _drop_thebe(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    def is_thebe(asset) -> bool:
        filename = str(getattr(asset, "filename", asset) or "")
        body = str(getattr(asset, "attributes", {}).get("body", ""))
        return "sphinx-thebe" in filename or "THEBE_JS_URL" in body

    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [asset for asset in context[key] if not is_thebe(asset)]


HIDDEN_CELL_SUMMARY = '<summary aria-label="Toggle hidden content">'


def _summary_names(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    if HIDDEN_CELL_SUMMARY in context.get("body", ""):
        context["body"] = context["body"].replace(HIDDEN_CELL_SUMMARY, "<summary>")


def drop_colab_badge(app: Sphinx | None, doctree: nodes.document) -> None:
    """Remove every image of the Colab badge, with the link around it and the paragraph left empty by that."""
    for image in list(doctree.findall(nodes.image)):
        if image.get("uri") != BADGE_IMAGE:
            continue
        node = image
        while isinstance(node.parent, nodes.reference | nodes.paragraph) and len(node.parent.children) == 1:
            node = node.parent
        node.parent.remove(node)


def _copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    package = _mathjax_package()
    es5 = package / "es5"
    target = Path(app.outdir) / "_static" / MATHJAX_TARGET
    target.mkdir(parents=True, exist_ok=True)
    for name in MATHJAX_FILES:
        shutil.copy2(es5 / name, target / name)
    for name in MATHJAX_DIRS:
        shutil.copytree(es5 / name, target / name, dirs_exist_ok=True)
    shutil.copy2(package / "LICENSE", target / "LICENSE")


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", _check_sources)
    # After the other extensions (default priority 500) have added their files to the page.
    app.connect("html-page-context", _drop_thebe, priority=900)
    app.connect("html-page-context", _summary_names)
    # At read time, before the search index and the image collector see the page.
    app.connect("doctree-read", drop_colab_badge)
    app.connect("build-finished", _copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
