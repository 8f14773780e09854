"""The "Open in Colab" badge under each chapter's title (tools/colab_badge.py), and its absence from the site.

The badge's URL comes from _config.yml as the site's Colab launch button's does, so both must open the same
notebook; the badge's image is on a third-party host, so the built site must not show it (tools/site_assets.py).
"""

import re

import pytest
from colab_badge import BADGE_IMAGE, BADGE_LINE, badge, colab_url, read_config, with_badge
from conftest import CHAPTER_IDS, CHAPTERS, ROOT, read_notebook
from docutils.core import publish_doctree
from site_assets import drop_colab_badge

SITE = ROOT / "_build" / "html"
chapters = pytest.mark.parametrize("path", CHAPTERS, ids=CHAPTER_IDS)
TITLE = "# 3. vmap: vectorizing functions\n\nMost functions are easiest to write for *one* example."


def configured_url(path):
    """Spelled out here, independently of colab_badge.colab_url."""
    repository = read_config()["repository"]
    owner_repo = repository["url"].removeprefix("https://github.com/").strip("/")
    book = repository.get("path_to_book", "").strip("/")
    return (
        f"https://colab.research.google.com/github/{owner_repo}/blob/{repository.get('branch', 'main')}/"
        f"{book + '/' if book else ''}chapters/{path.name}"
    )


@chapters
def test_badge_opens_this_chapter_of_the_configured_repository(path):
    lines = read_notebook(path).cells[0].source.splitlines()
    assert lines[1] == "" and lines[3] == "", "the badge is a paragraph of its own right under the title"
    assert lines[2] == badge(configured_url(path)), "run `make sync` to write the badge for _config.yml's repository"
    everywhere = "\n".join(cell.source for cell in read_notebook(path).cells)
    assert everywhere.count(BADGE_IMAGE) == 1


def test_the_badge_url_follows_the_configuration():
    config = read_config()
    assert colab_url(config, "chapters/03_vmap.ipynb") == configured_url(ROOT / "chapters" / "03_vmap.ipynb")
    fork = {"repository": {"url": "https://github.com/someone/book-fork/", "branch": "draft", "path_to_book": "/b/"}}
    assert colab_url(fork, "chapters/03_vmap.ipynb") == (
        "https://colab.research.google.com/github/someone/book-fork/blob/draft/b/chapters/03_vmap.ipynb"
    )
    assert colab_url({"repository": {"url": "https://github.com/a/b"}}, "x.ipynb").endswith("/a/b/blob/main/x.ipynb")
    with pytest.raises(ValueError, match="GitHub"):
        colab_url({"repository": {"url": "https://gitlab.com/a/b"}}, "x.ipynb")


def test_the_badge_goes_under_the_title_once_and_is_replaced_when_the_url_changes():
    first = "https://colab.research.google.com/github/a/b/blob/main/chapters/03_vmap.ipynb"
    once = with_badge(TITLE, first)
    assert once.splitlines()[:5] == [TITLE.splitlines()[0], "", badge(first), "", TITLE.splitlines()[2]]
    assert with_badge(once, first) == once
    moved = with_badge(once, "https://colab.research.google.com/github/c/d/blob/dev/chapters/03_vmap.ipynb")
    assert moved.count(BADGE_IMAGE) == 1 and "/c/d/blob/dev/" in moved and "/a/b/" not in moved
    assert moved.endswith(TITLE.split("\n\n", 1)[1])
    assert BADGE_LINE.fullmatch(moved.splitlines()[2])


def test_the_site_transform_drops_the_badge_and_nothing_else():
    doctree = publish_doctree(
        f"Title\n=====\n\n.. image:: {BADGE_IMAGE}\n   :alt: Open In Colab\n   :target: https://colab.example/x\n\n"
        "Text with a link_.\n\n.. _link: https://example.org\n\n.. image:: figure.svg\n   :alt: a figure\n"
    )
    drop_colab_badge(None, doctree)
    text = doctree.pformat()
    assert BADGE_IMAGE not in text and "colab.example" not in text
    assert "figure.svg" in text and "Text with a" in text


def built_chapters():
    if not (SITE / "index.html").is_file():
        pytest.skip(f"the site is not built ({SITE}): run `make book`")
    return {path: (SITE / "chapters" / f"{path.stem}.html").read_text() for path in CHAPTERS}


def test_no_built_page_shows_the_badge():
    built_chapters()
    pages = [page for page in SITE.rglob("*.html") if BADGE_IMAGE in page.read_text()]
    assert not pages, f"{pages} load the badge image from Colab's host (tools/site_assets.py should drop it)"
    assert BADGE_IMAGE not in (SITE / "searchindex.js").read_text()


def test_each_chapter_page_launch_button_opens_the_same_url_as_its_badge():
    for path, html in built_chapters().items():
        launch = html.split('class="dropdown dropdown-launch-buttons"', 1)[1].split("</ul>", 1)[0]
        hrefs = re.findall(r'href="(https://colab\.research\.google\.com/[^"]*)"', launch)
        assert hrefs == [configured_url(path)], f"{path.name}: launch button {hrefs}; run `make book` after `make sync`"
