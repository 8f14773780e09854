"""The API index page (chapters/api_index.md) is generated from the notebooks by tools/make_api_index.py."""

import make_api_index as api
import nbformat
from book_cells import chapter_notebooks


def test_committed_api_index_is_in_sync_with_the_notebooks():
    assert api.OUTPUT.read_text() == api.render(chapter_notebooks()), (
        "chapters/api_index.md is out of date: run `make api-index` and commit it"
    )


def test_names_follow_import_aliases():
    aliases = {}
    source = "import jax\nimport jax.numpy as jnp\nfrom jax import grad, random as jr\nimport optax\n"
    source += "y = jax.jit(f)(jnp.zeros(3))\ng = grad(f)\nk = jr.split(jr.key(0))\nopt = optax.adam(1e-3)\n"
    names = api.code_names(source, aliases)
    assert set(names) == {
        "jax.jit",
        "jax.numpy.zeros",
        "jax.grad",
        "jax.random.split",
        "jax.random.key",
        "optax.adam",
    }
    # Aliases carry over to later cells of the same notebook.
    assert api.code_names("jnp.ones(2)", aliases) == ["jax.numpy.ones"]


def test_names_that_do_not_exist_are_left_out():
    aliases = {}
    names = api.code_names("import jax\njax.no_such_function(1)\nx = jax.numpy.float32\nnp.zeros(3)", aliases)
    assert names == ["jax.numpy.float32"]


def test_dunder_attributes_are_cut_off_at_the_api_object():
    aliases = {}
    names = api.code_names("import jax\nprint(jax.jacobian.__doc__.strip())", aliases)
    assert names == ["jax.jacobian"]


def test_chapter_uses_map_names_to_sections(tmp_path):
    nb = nbformat.v4.new_notebook()
    setup = nbformat.v4.new_code_cell("import jax\njax.config.update('jax_enable_x64', False)", execution_count=1)
    setup.metadata["tags"] = ["hide-input", "setup"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 9. A chapter\n\nIntro."),
        setup,
        nbformat.v4.new_markdown_cell("## First `jit` section"),
        nbformat.v4.new_code_cell("import jax\njax.jit(abs)", execution_count=2),
        nbformat.v4.new_markdown_cell("## First `jit` section"),  # a duplicate heading gets a numbered slug
        nbformat.v4.new_code_cell("jax.jit(abs)\njax.vmap(abs)", execution_count=3),
        nbformat.v4.new_code_cell("jax.grad(abs)", execution_count=None),  # never ran: not counted
    ]
    path = tmp_path / "09_chapter.ipynb"
    nbformat.write(nb, path)
    title, uses = api.chapter_uses(path, api._markdown_parser())
    assert title == "9. A chapter"
    assert uses["jax.jit"] == [
        ("First `jit` section", "09_chapter.ipynb#first-jit-section"),
        ("First `jit` section", "09_chapter.ipynb#first-jit-section-1"),
    ]
    assert uses["jax.vmap"] == [("First `jit` section", "09_chapter.ipynb#first-jit-section-1")]
    assert "jax.grad" not in uses and "jax.config.update" not in uses
