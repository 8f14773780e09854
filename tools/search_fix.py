"""Sphinx extension: the site's search finds a pasted error message that contains a word like "one" or "ones".

Sphinx 7.4's search stems each query word and looks the stem up in the index. Its indexer, though, stores a word
whose stem is a stop word ("one" and "ones" stem to "on") unstemmed, so such a word can never be found; and the
searcher forgives a missing word only when the query has no other word of one or two letters. A pasted first
line such as `ValueError: cannot select an axis to squeeze out which has size not equal to one, got shape=(2,)`
then finds nothing at all, not even chapters/errors.md. The script below, added to the search page only, looks
such a word up as the indexer stored it (the lower-case word itself), which is what sphinx/search/__init__.py's
IndexBuilder.feed does. tests/browser/test_site.py pastes lines from chapters/errors.md into the search.
"""

from sphinx.application import Sphinx

# Runs at DOMContentLoaded, before searchtools.js's own listener (this script is included before searchtools.js),
# when Search, Stemmer, splitQuery and stopwords (language_data.js) are all defined.
SCRIPT = """
document.addEventListener("DOMContentLoaded", () => {
  if (typeof Search === "undefined" || typeof Stemmer === "undefined") return;
  const parse = Search._parseQuery;
  Search._parseQuery = (query) => {
    const [searchQuery, searchTerms, excludedTerms, highlightTerms, objectTerms] = parse(query);
    const stemmer = new Stemmer();
    splitQuery(query.trim()).forEach((term) => {
      const lower = term.toLowerCase();
      const stem = stemmer.stemWord(lower);
      if (stopwords.includes(stem) && !stopwords.includes(lower) && !/^\\d+$/.test(term)) {
        searchTerms.delete(stem);
        searchTerms.add(lower);
      }
    });
    return [searchQuery, searchTerms, excludedTerms, highlightTerms, objectTerms];
  };
});
"""


def add_script(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    if pagename == "search":
        app.add_js_file(None, body=SCRIPT)


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", add_script)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
