"""Every exercise checker, fed the reference answer, the unfinished stub and at least three wrong answers.

A checker must print exactly one line, must never raise (the reader's notebook keeps running), must accept a
correct answer and must reject every wrong one, including answers that are only slightly off (scaled by 1.01,
shifted by 0.01, off by one): BOOK_DESIGN.md section 5.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from checker_harness import assert_rejects, load_checkers, stub, verdict

CH01 = load_checkers("01_pure_functions.ipynb")


# --- set_diagonal -----------------------------------------------------------------------------------------------


def set_diagonal_ok(m, value):
    rows, cols = jnp.diag_indices(m.shape[0])
    return m.at[rows, cols].set(value)


def set_diagonal_in_place(m, value):
    for i in range(m.shape[0]):
        m[i, i] = value
    return m


def set_diagonal_adds(m, value):
    return m + value * jnp.eye(m.shape[0])


def set_diagonal_only_diag(m, value):
    return jnp.full(m.shape[0], value)


def set_diagonal_nan(m, value):
    return set_diagonal_ok(m, value) * jnp.nan


def set_diagonal_python_float(m, value):
    return set_diagonal_ok(m, float(value))  # float() of a tracer fails under jit


def set_diagonal_slightly_off(m, value):
    return set_diagonal_ok(m, value + 0.01)


def set_diagonal_misses_last(m, value):
    rows, cols = jnp.diag_indices(m.shape[0] - 1)  # off by one
    return m.at[rows, cols].set(value)


def set_diagonal_float64_numpy(m, value):
    out = np.array(m, dtype=np.float64)
    np.fill_diagonal(out, value)
    return out


def test_set_diagonal_accepts_correct_answers(capsys):
    assert verdict(capsys, CH01["check_set_diagonal"], set_diagonal_ok).startswith("✓")
    assert verdict(capsys, CH01["check_set_diagonal"], stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (set_diagonal_in_place, ["raised TypeError", "immutable"]),
        (set_diagonal_adds, ["wrong values"]),
        (set_diagonal_slightly_off, ["wrong values"]),
        (set_diagonal_misses_last, ["wrong values"]),
        (set_diagonal_only_diag, ["shape"]),
        (set_diagonal_nan, ["NaN"]),
        (set_diagonal_python_float, ["jax.jit"]),
        (set_diagonal_float64_numpy, ["dtype"]),
        (lambda m, value: None, ["None"]),
        ("not a function", ["expected a function"]),
    ],
)
def test_set_diagonal_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH01["check_set_diagonal"], answer, *words)


# --- noisy_copies -----------------------------------------------------------------------------------------------


def noisy_copies_ok(key, x, n):
    return x + jax.random.normal(key, (n, *x.shape))


def noisy_copies_split(key, x, n):
    keys = jax.random.split(key, n)
    return jnp.stack([x + jax.random.normal(k, x.shape) for k in keys])


def noisy_copies_reused_key(key, x, n):
    return jnp.stack([x + jax.random.normal(key, x.shape) for _ in range(n)])


def noisy_copies_numpy(key, x, n):
    return x + jnp.asarray(np.random.normal(size=(n, *x.shape)), dtype=jnp.float32)


def noisy_copies_ignores_key(key, x, n):
    return noisy_copies_ok(jax.random.key(0), x, n)


def noisy_copies_one_copy(key, x, n):
    return x + jax.random.normal(key, x.shape)


def noisy_copies_scaled_and_shifted(key, x, n):
    return 1.01 * x + jax.random.normal(key, (n, *x.shape)) + 0.01  # the near-miss from issue 7


def noisy_copies_shifted(key, x, n):
    return noisy_copies_ok(key, x, n) + 0.01


def noisy_copies_noise_too_wide(key, x, n):
    return x + 1.01 * jax.random.normal(key, (n, *x.shape))


def noisy_copies_uniform(key, x, n):
    return x + jax.random.uniform(key, (n, *x.shape))


def test_noisy_copies_accepts_correct_answers(capsys):
    assert verdict(capsys, CH01["check_noisy_copies"], noisy_copies_ok).startswith("✓")
    assert verdict(capsys, CH01["check_noisy_copies"], noisy_copies_split).startswith("✓")
    assert verdict(capsys, CH01["check_noisy_copies"], stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (noisy_copies_reused_key, ["identical noise"]),
        (noisy_copies_numpy, ["same key gave different results"]),
        (noisy_copies_ignores_key, ["different keys"]),
        (noisy_copies_one_copy, ["shape"]),
        (noisy_copies_uniform, ["mean"]),
        (noisy_copies_scaled_and_shifted, ["mean"]),
        (noisy_copies_shifted, ["mean"]),
        (noisy_copies_noise_too_wide, ["std"]),
    ],
)
def test_noisy_copies_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH01["check_noisy_copies"], answer, *words)


# --- tree_l2_norm -----------------------------------------------------------------------------------------------


def tree_l2_norm_ok(tree):
    return jnp.sqrt(sum(jnp.sum(leaf**2) for leaf in jax.tree.leaves(tree)))


def tree_l2_norm_sum_of_norms(tree):
    return sum(jnp.linalg.norm(leaf.ravel()) for leaf in jax.tree.leaves(tree))


def tree_l2_norm_no_sqrt(tree):
    return sum(jnp.sum(leaf**2) for leaf in jax.tree.leaves(tree))


def tree_l2_norm_first_leaf(tree):
    return jnp.linalg.norm(jax.tree.leaves(tree)[0].ravel())


def tree_l2_norm_flat_dict(tree):
    return jnp.sqrt(sum(jnp.sum(value**2) for value in tree.values()))


def tree_l2_norm_slightly_off(tree):
    return 1.01 * tree_l2_norm_ok(tree)


def tree_l2_norm_skips_last_leaf(tree):
    return jnp.sqrt(sum(jnp.sum(leaf**2) for leaf in jax.tree.leaves(tree)[:-1]))  # off by one


def tree_l2_norm_python_float(tree):
    return float(tree_l2_norm_ok(tree))


def test_tree_l2_norm_accepts_correct_answers(capsys):
    assert verdict(capsys, CH01["check_tree_l2_norm"], tree_l2_norm_ok).startswith("✓")
    assert verdict(capsys, CH01["check_tree_l2_norm"], stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (tree_l2_norm_sum_of_norms, ["wrong values"]),
        (tree_l2_norm_no_sqrt, ["wrong values"]),
        (tree_l2_norm_first_leaf, ["wrong values"]),
        (tree_l2_norm_slightly_off, ["wrong values"]),
        (tree_l2_norm_skips_last_leaf, ["wrong values"]),
        (tree_l2_norm_flat_dict, ["raised"]),
        (tree_l2_norm_python_float, ["should be an array"]),
    ],
)
def test_tree_l2_norm_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH01["check_tree_l2_norm"], answer, *words)
