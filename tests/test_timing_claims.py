"""A boolean that a compared output derives from a timing must state its margin in the line it prints.

Timings vary from run to run and machine to machine, so a stored `True` is only honest when the comparison behind it
has a stated margin ("more than 5x faster: True", computed as `ratio > 5`): the reader then knows what was measured,
and the test's flakiness is bounded by a number the text names. This test reads every compared code cell (not
`nbval-ignore-output`), finds each `print("label", comparison)` whose comparison involves a timing (names such as
`speedup`, `seconds`, `compile_time`, `cold`/`warm`, `ratio`) and a number, and asks that the label name that number
as a factor ("5x", "5 times", "at least 3x"). A comparison with no number at all (`t_jit < t_eager`) is refused.
"""

import ast
import re

import pytest
from conftest import CHAPTER_IDS, CHAPTERS, read_notebook

TIMING_NAME = re.compile(r"(speedup|ratio|seconds|_time|time_|_t$|^t_|growth|cold|warm|elapsed|duration)", re.I)


def timing_comparisons(source):
    """(label, numbers, line) for each print of a timing comparison in this cell's source."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = []
    for call in ast.walk(tree):
        if not (isinstance(call, ast.Call) and getattr(call.func, "id", None) == "print"):
            continue
        labels = [arg.value for arg in call.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
        labels += [
            part.value
            for arg in call.args
            if isinstance(arg, ast.JoinedStr)
            for part in arg.values
            if isinstance(part, ast.Constant)
        ]
        for arg in call.args:
            for compare in [node for node in ast.walk(arg) if isinstance(node, ast.Compare)]:
                names = [node.id for node in ast.walk(compare) if isinstance(node, ast.Name)]
                names += [node.attr for node in ast.walk(compare) if isinstance(node, ast.Attribute)]
                names += [
                    node.value
                    for node in ast.walk(compare)
                    if isinstance(node, ast.Constant) and isinstance(node.value, str)
                ]
                if any(TIMING_NAME.search(name) for name in names):
                    numbers = [
                        node.value
                        for node in ast.walk(compare)
                        if isinstance(node, ast.Constant)
                        and isinstance(node.value, (int, float))
                        and not isinstance(node.value, bool)
                    ]
                    found.append((" ".join(labels), numbers, ast.get_source_segment(source, call)))
    return found


def states_margin(label, number):
    text = f"{number:g}"
    return re.search(rf"(?<![\d.]){re.escape(text)}\s*(x|×|times)\b", label) is not None


@pytest.mark.parametrize("path", CHAPTERS, ids=CHAPTER_IDS)
def test_timing_booleans_state_their_margin(path):
    problems = []
    for index, cell in enumerate(read_notebook(path).cells):
        if cell.cell_type != "code" or "nbval-ignore-output" in cell.metadata.get("tags", []):
            continue
        for label, numbers, line in timing_comparisons(cell.source):
            factors = [number for number in numbers if number not in (0, 1)]
            if not factors or not any(states_margin(label, number) for number in factors):
                problems.append(f"cell {index}: {line}")
    assert not problems, "a timing boolean without its margin in the printed label:\n" + "\n".join(problems)


def test_the_rule_refuses_a_bare_comparison_and_accepts_a_stated_margin():
    assert timing_comparisons('print("jit is faster:", speedup > 2)')[0][1] == [2]
    assert not states_margin("jit is faster:", 2)
    assert states_margin("jit is more than 2x faster:", 2)
    assert states_margin("at least 3 times faster", 3) and not states_margin("13x", 3)
    assert timing_comparisons('print("same values:", bool(jnp.allclose(a, b)))') == []
