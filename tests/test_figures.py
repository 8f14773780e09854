"""Figures are reproducible: regenerating them gives the committed SVGs byte for byte (BOOK_DESIGN.md section 6)."""

from conftest import ROOT
from make_figures import figure_modules, make_all


def test_every_figure_module_has_a_committed_svg():
    for name in figure_modules():
        assert (ROOT / "figures" / f"{name}.svg").exists(), f"run `make figures` to create figures/{name}.svg"


def test_regenerated_figures_match_the_committed_ones(tmp_path):
    make_all(tmp_path)
    for name in figure_modules():
        fresh = (tmp_path / f"{name}.svg").read_bytes()
        committed = (ROOT / "figures" / f"{name}.svg").read_bytes()
        assert fresh == committed, f"figures/{name}.svg is stale or not deterministic: run `make figures`"


def test_svgs_carry_no_date_or_version():
    for svg in (ROOT / "figures").glob("*.svg"):
        text = svg.read_text()
        assert "<dc:date>" not in text and "Matplotlib v" not in text, svg.name
