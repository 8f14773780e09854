"""Regenerate every figure: each figures/<name>.py with a draw() function becomes <out_dir>/<name>.svg (`make figures`).

tests/test_figures.py runs this into a temporary directory and compares with the committed SVGs byte for byte.
"""

import importlib
import sys
from pathlib import Path

FIGURES = Path(__file__).resolve().parent.parent / "figures"


def figure_modules():
    return sorted(path.stem for path in FIGURES.glob("ch*.py"))


def make_all(out_dir):
    sys.path.insert(0, str(FIGURES))
    import style

    for name in figure_modules():
        module = importlib.import_module(name)
        style.save_svg(module.draw(), Path(out_dir) / f"{name}.svg")
        print(f"wrote {Path(out_dir) / name}.svg")


if __name__ == "__main__":
    make_all(sys.argv[1] if len(sys.argv) > 1 else FIGURES)
