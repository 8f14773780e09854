"""The "Open in Colab" badge under each chapter's title (`make sync` writes it; README "Publishing the site").

GitHub's notebook view and Colab itself show the notebook's markdown, not the site's launch buttons, so the title
cell carries a badge linking to the chapter in Colab. Its URL is derived from `_config.yml` the way
sphinx-book-theme derives the site's Colab launch button (repository url -> owner/repo, branch, path_to_book), so a
fork changes one line, `repository.url`, and `make sync` moves every badge with it.

The badge image lives on a third-party host, and the site loads nothing from a third party (BOOK_DESIGN.md
section 3): tools/site_assets.py removes the badge from the built pages, where the launch button does its job.
"""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "_config.yml"

BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE_ALT = "Open In Colab"
COLAB = "https://colab.research.google.com"
# A badge line as `make sync` writes it, whatever URL an older sync gave it.
BADGE_LINE = re.compile(rf"\[!\[{BADGE_ALT}\]\({re.escape(BADGE_IMAGE)}\)\]\(\S*\)")


def read_config(path=CONFIG):
    return yaml.safe_load(Path(path).read_text())


def colab_url(config, notebook_relpath):
    """The Colab URL of a notebook, from a parsed _config.yml and the notebook's path relative to the book's root.

    Mirrors sphinx_book_theme.header_buttons.launch: owner and repository are the two path parts after
    `github.com/`, the branch defaults to main, and a non-empty path_to_book is prefixed with one slash.
    """
    repository = config.get("repository") or {}
    url = str(repository.get("url", ""))
    if "github.com/" not in url:
        raise ValueError(f"_config.yml repository.url must be a GitHub repository, not {url!r}")
    parts = url.split("github.com/")[-1].split("/")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ValueError(f"_config.yml repository.url {url!r} does not name https://github.com/OWNER/REPO")
    owner, repo = parts[:2]
    branch = repository.get("branch") or "main"
    book = str(repository.get("path_to_book") or "").strip("/")
    path = f"{book}/{notebook_relpath}" if book else str(notebook_relpath)
    return f"{COLAB}/github/{owner}/{repo}/blob/{branch}/{path}"


def badge(url):
    return f"[![{BADGE_ALT}]({BADGE_IMAGE})]({url})"


def with_badge(title_source, url):
    """The title cell's source with exactly one badge line, right under its first line (the `# N. Title` heading).

    An existing badge line there is replaced, so re-running is a no-op and a changed URL replaces the old one.
    """
    title, _, rest = title_source.partition("\n")
    rest = rest.lstrip("\n")
    first, _, after = rest.partition("\n")
    if BADGE_LINE.fullmatch(first.strip()):
        rest = after.lstrip("\n")
    return f"{title}\n\n{badge(url)}\n\n{rest}" if rest else f"{title}\n\n{badge(url)}"
