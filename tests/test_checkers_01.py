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


def set_diagonal_fill_numpy_copy(m, value):  # issue 18: was told to "avoid Python control flow"
    out = np.array(m)
    np.fill_diagonal(out, value)
    return out


def set_diagonal_fill_back_to_jnp(m, value):  # right eagerly, but NumPy cannot run on a tracer under jit
    out = np.asarray(m).copy()
    np.fill_diagonal(out, value)
    return jnp.asarray(out)


def set_diagonal_fill_in_place(m, value):  # JAX raises NotImplementedError (arr.flat): not the stub's "not done"
    np.fill_diagonal(m, value)
    return m


def set_diagonal_jnp_fill(m, value):
    return jnp.fill_diagonal(m, value, inplace=False)


def set_diagonal_where(m, value):
    return jnp.where(jnp.eye(m.shape[0], dtype=bool), value, m)


def set_diagonal_branches(m, value):
    if value > 0:  # Python control flow on a traced value
        return set_diagonal_ok(m, value)
    return set_diagonal_ok(m, value)


def set_diagonal_changes_off_diagonal(m, value):
    return set_diagonal_ok(m.T, value)


def set_diagonal_abs(m, value):  # review: passed whenever the one random value happened to be positive
    rows, cols = jnp.diag_indices(m.shape[0])
    return m.at[rows, cols].set(jnp.abs(value))


def set_diagonal_scaled(m, value):  # review: passed whenever |value| < 1e-4
    return set_diagonal_ok(m, 1.01 * value)


def test_set_diagonal_accepts_correct_answers(capsys):
    assert verdict(capsys, CH01["check_set_diagonal"], set_diagonal_ok).startswith("✓")
    assert verdict(capsys, CH01["check_set_diagonal"], set_diagonal_jnp_fill).startswith("✓")
    assert verdict(capsys, CH01["check_set_diagonal"], set_diagonal_where).startswith("✓")
    assert verdict(capsys, CH01["check_set_diagonal"], stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (set_diagonal_in_place, ["raised TypeError", "immutable"]),
        (set_diagonal_adds, ["adds value", ".set"]),
        (set_diagonal_slightly_off, ["the diagonal holds", "but value is"]),
        (set_diagonal_misses_last, ["still hold m's values"]),
        (set_diagonal_changes_off_diagonal, ["off the diagonal changed"]),
        (set_diagonal_only_diag, ["shape"]),
        (set_diagonal_nan, ["NaN"]),
        (set_diagonal_python_float, ["jax.jit", "Python number"]),
        (set_diagonal_branches, ["jax.jit", "`if`", "jnp.where"]),
        (set_diagonal_float64_numpy, ["NumPy array", "NumPy copy of m", "m.at["]),
        (set_diagonal_fill_numpy_copy, ["NumPy array", "NumPy copy of m", "m.at["]),
        (set_diagonal_fill_back_to_jnp, ["jax.jit", "NumPy", "np.fill_diagonal can only fill", ".at["]),
        (set_diagonal_abs, ["the diagonal holds", "keep value's sign"]),
        (set_diagonal_scaled, ["the diagonal holds", "but value is"]),
        (set_diagonal_fill_in_place, ["np.fill_diagonal writes into m", "m.at["]),
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


def noisy_copies_vmap(key, x, n):
    return jax.vmap(lambda k: x + jax.random.normal(k, x.shape))(jax.random.split(key, n))


def noisy_copies_fold_in(key, x, n):
    return jnp.stack([x + jax.random.normal(jax.random.fold_in(key, i), x.shape) for i in range(n)])


def noisy_copies_carried_key(key, x, n):
    copies = []
    for _ in range(n):
        key, subkey = jax.random.split(key)
        copies.append(x + jax.random.normal(subkey, x.shape))
    return jnp.stack(copies)


def noisy_copies_two_keys(key, x, n):  # issue 18: copies 0, 2, 4, ... share noise, and it was accepted
    k = jax.random.split(key, 2)
    return jnp.stack([x + jax.random.normal(k[i % 2], x.shape) for i in range(n)])


def noisy_copies_two_folds(key, x, n):  # the same mistake, with keys the reuse checker does not see as reused
    return jnp.stack([x + jax.random.normal(jax.random.fold_in(key, i % 2), x.shape) for i in range(n)])


def noisy_copies_sample_then_split(key, x, n):  # issue 18: samples from key, then splits that same key
    copies = []
    for _ in range(n):
        copies.append(x + jax.random.normal(key, x.shape))
        key, _ = jax.random.split(key)
    return jnp.stack(copies)


def noisy_copies_antithetic(key, x, n):  # pairs of copies with opposite noise: not independent
    half = jax.random.normal(key, (n // 2, *x.shape))
    return x + jnp.concatenate([half, -half])


def noisy_copies_numpy_result(key, x, n):
    return np.asarray(noisy_copies_ok(key, x, n))


def noisy_copies_uniform_unit(key, x, n):  # review: mean 0 and std 1, but not normal
    return x + (jax.random.uniform(key, (n, *x.shape)) - 0.5) * jnp.sqrt(12.0)


def noisy_copies_laplace_unit(key, x, n):  # review: mean 0 and std 1, but not normal
    return x + jax.random.laplace(key, (n, *x.shape)) / jnp.sqrt(2.0)


def noisy_copies_shared_part(key, x, n):  # review: proper split, no reuse, but r = 0.05 between copies
    keys = jax.random.split(key, n + 1)
    common = jax.random.normal(keys[n], x.shape)
    own = jnp.stack([jax.random.normal(k, x.shape) for k in keys[:n]])
    return x + jnp.sqrt(0.95) * own + jnp.sqrt(0.05) * common


def noisy_copies_one_number_per_copy(key, x, n):  # review: was told "copy 0 has no noise"
    return x + jax.random.normal(key, (n, 1))


def noisy_copies_first_clean(key, x, n):
    return x + jax.random.normal(key, (n, *x.shape)).at[0].set(0.0)


def noisy_copies_numpy_inside(key, x, n):  # review: was given exercise 1's np.fill_diagonal advice
    return x + np.asarray(jax.random.normal(key, (n, *x.shape)))


def test_noisy_copies_accepts_correct_answers(capsys):
    assert verdict(capsys, CH01["check_noisy_copies"], noisy_copies_ok).startswith("✓")
    assert verdict(capsys, CH01["check_noisy_copies"], noisy_copies_split).startswith("✓")
    assert verdict(capsys, CH01["check_noisy_copies"], noisy_copies_vmap).startswith("✓")
    assert verdict(capsys, CH01["check_noisy_copies"], noisy_copies_fold_in).startswith("✓")
    assert verdict(capsys, CH01["check_noisy_copies"], noisy_copies_carried_key).startswith("✓")
    assert verdict(capsys, CH01["check_noisy_copies"], stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (noisy_copies_reused_key, ["uses a key twice", "KeyReuseError", "split"]),
        (noisy_copies_two_keys, ["uses a key twice", "KeyReuseError"]),
        (noisy_copies_two_folds, ["copies 0 and 2 have identical noise", "own key"]),
        (noisy_copies_sample_then_split, ["uses a key twice", "KeyReuseError"]),
        (noisy_copies_antithetic, ["correlated", "own key"]),
        (noisy_copies_numpy_result, ["NumPy array"]),
        (noisy_copies_numpy, ["same key gave different results"]),
        (noisy_copies_ignores_key, ["different keys"]),
        (noisy_copies_one_copy, ["shape"]),
        (noisy_copies_uniform, ["mean"]),
        (noisy_copies_scaled_and_shifted, ["mean"]),
        (noisy_copies_shifted, ["mean"]),
        (noisy_copies_noise_too_wide, ["std"]),
        (noisy_copies_uniform_unit, ["not normal", "0.683", "jax.random.normal"]),
        (noisy_copies_laplace_unit, ["not normal", "0.683", "jax.random.normal"]),
        (noisy_copies_shared_part, ["correlated (r = 0.0", "own key"]),
        (noisy_copies_one_number_per_copy, ["every entry of copy 0 got the same noise", "(n, *x.shape)"]),
        (noisy_copies_first_clean, ["copy 0 has no noise"]),
        (noisy_copies_numpy_inside, ["jax.jit", "NumPy", "no np.asarray"]),
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


def tree_l2_norm_concatenate(tree):
    return jnp.linalg.norm(jnp.concatenate([leaf.ravel() for leaf in jax.tree.leaves(tree)]))


def tree_l2_norm_reduce(tree):
    return jnp.sqrt(jax.tree.reduce(lambda total, leaf: total + jnp.sum(leaf**2), tree, 0.0))


def tree_l2_norm_means(tree):
    return jnp.sqrt(sum(jnp.mean(leaf**2) for leaf in jax.tree.leaves(tree)))


def tree_l2_norm_l1(tree):
    return sum(jnp.sum(jnp.abs(leaf)) for leaf in jax.tree.leaves(tree))


def tree_l2_norm_shifted(tree):
    return tree_l2_norm_ok(tree) + 0.01


def tree_l2_norm_rms(tree):  # mean instead of sum, over all entries
    leaves = jax.tree.leaves(tree)
    return jnp.sqrt(sum(jnp.sum(leaf**2) for leaf in leaves) / sum(leaf.size for leaf in leaves))


def tree_l2_norm_mean_of_norms(tree):
    leaves = jax.tree.leaves(tree)
    return sum(jnp.linalg.norm(leaf.ravel()) for leaf in leaves) / len(leaves)


def tree_l2_norm_last_leaf(tree):
    return jnp.linalg.norm(jax.tree.leaves(tree)[-1].ravel())


def tree_l2_norm_numpy(tree):  # review: was given exercise 1's np.fill_diagonal advice
    return np.sqrt(np.sum([np.sum(np.asarray(leaf) ** 2) for leaf in jax.tree.leaves(tree)]))


def tree_l2_norm_walk(tree):  # a hand-written walk that forgets None, an empty subtree
    def squares(node):
        if isinstance(node, dict):
            return sum(squares(child) for child in node.values())
        if isinstance(node, (list, tuple)):
            return sum(squares(child) for child in node)
        return jnp.sum(node**2)

    return jnp.sqrt(squares(tree))


def tree_l2_norm_walk_ok(tree):  # the same walk, done right: a right answer in another style
    def squares(node):
        if node is None:
            return 0.0
        if isinstance(node, dict):
            return sum(squares(child) for child in node.values())
        if isinstance(node, (list, tuple)):
            return sum(squares(child) for child in node)
        return jnp.sum(node**2)

    return jnp.sqrt(squares(tree))


def test_tree_l2_norm_accepts_correct_answers(capsys):
    assert verdict(capsys, CH01["check_tree_l2_norm"], tree_l2_norm_ok).startswith("✓")
    assert verdict(capsys, CH01["check_tree_l2_norm"], tree_l2_norm_concatenate).startswith("✓")
    assert verdict(capsys, CH01["check_tree_l2_norm"], tree_l2_norm_reduce).startswith("✓")
    assert verdict(capsys, CH01["check_tree_l2_norm"], tree_l2_norm_walk_ok).startswith("✓")
    assert verdict(capsys, CH01["check_tree_l2_norm"], stub).startswith("○")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (tree_l2_norm_sum_of_norms, ["adds up each leaf's norm"]),
        (tree_l2_norm_no_sqrt, ["sum of squares", "square root"]),
        (tree_l2_norm_first_leaf, ["uses only one leaf", "jax.tree.leaves"]),
        (tree_l2_norm_last_leaf, ["uses only one leaf", "shape ()"]),  # the last leaf is "scale"
        (tree_l2_norm_rms, ["averages over all entries"]),
        (tree_l2_norm_mean_of_norms, ["averages the leaves' norms"]),
        (tree_l2_norm_means, ["averages within each leaf"]),
        (tree_l2_norm_l1, ["L1 norm"]),
        (tree_l2_norm_slightly_off, ["wrong values", "where the norm is"]),
        (tree_l2_norm_shifted, ["wrong values", "where the norm is"]),
        (tree_l2_norm_skips_last_leaf, ["leaves out a leaf"]),
        (tree_l2_norm_flat_dict, ["raised TypeError", "a container is not an array", "jax.tree.leaves"]),
        (tree_l2_norm_python_float, ["should be an array"]),
        (tree_l2_norm_numpy, ["jax.jit", "NumPy", "jnp.sum and jnp.sqrt"]),
        (tree_l2_norm_walk, ["NoneType", "None is an empty subtree", "jax.tree.leaves skips it"]),
    ],
)
def test_tree_l2_norm_rejects_wrong_answers(capsys, answer, words):
    assert_rejects(capsys, CH01["check_tree_l2_norm"], answer, *words)


@pytest.mark.parametrize(
    ("checker", "answer"),
    [
        ("check_noisy_copies", noisy_copies_numpy_inside),
        ("check_tree_l2_norm", tree_l2_norm_numpy),
    ],
)
def test_numpy_under_jit_advice_fits_the_exercise(capsys, checker, answer):
    """Review finding: exercise 1's advice (np.fill_diagonal, .at[...]) was given to every exercise."""
    line = verdict(capsys, CH01[checker], answer)
    assert line.startswith("✗"), line
    assert "fill_diagonal" not in line and ".at[" not in line, line


def test_set_diagonal_checks_both_signs(capsys):
    """Review finding: one random value let an answer that drops the sign pass 4 times in 6; now it never does."""
    for _ in range(5):
        assert_rejects(capsys, CH01["check_set_diagonal"], set_diagonal_abs, "keep value's sign")
