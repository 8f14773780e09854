# --- Chapter 1: pure functions, keys, pytrees ---


def _check_set_diagonal(set_diagonal):
    rng = np.random.default_rng()
    n = int(rng.integers(3, 7))
    m = jnp.asarray(rng.normal(size=(n, n)), dtype=jnp.float32)
    value = float(rng.normal())
    before = np.asarray(m).copy()
    result = call_answer(set_diagonal, m, value)
    expect_array(result, (n, n), jnp.float32)
    reference = before.copy()
    np.fill_diagonal(reference, value)
    expect_close(result, reference)
    expect_same(m, before, "your function changed its input; return a new array instead")
    expect_close(call_jitted(set_diagonal, m, value), reference, what="the result under jax.jit")


def check_set_diagonal(set_diagonal):
    report("set_diagonal", _check_set_diagonal, set_diagonal)


def _check_noisy_copies(noisy_copies):
    rng = np.random.default_rng()
    # x sits far from zero, so an answer that scales x (1.01 * x) shifts the noise by about 0.5; and 2**20 noise
    # samples pin the noise's mean and std to within 0.001, so a bias of 0.01 in either is 5 standard errors away.
    x = jnp.asarray(50.0 + rng.normal(size=(16384,)), dtype=jnp.float32)
    n = 64
    key = jax.random.key(int(rng.integers(2**31)))
    copies = call_answer(noisy_copies, key, x, n)
    expect_array(copies, (n, *x.shape), jnp.float32)
    again = call_answer(noisy_copies, key, x, n)
    expect_same(copies, again, "the same key gave different results: draw randomness only from `key`")
    other = call_answer(noisy_copies, jax.random.key(int(rng.integers(2**31))), x, n)
    if np.array_equal(np.asarray(copies), np.asarray(other)):
        raise Wrong("different keys gave the same result: the noise must come from `key`")
    noise = np.asarray(copies, dtype=np.float64) - np.asarray(x, dtype=np.float64)
    if np.array_equal(noise[0], noise[1]):
        raise Wrong("copies 0 and 1 have identical noise: was one key used twice? split it")
    mean, std = noise.mean(), noise.std()
    if abs(mean) > 0.005 or abs(std - 1) > 0.005:
        raise Wrong(f"copies minus x have mean {mean:.3f} and std {std:.3f}; expected 0 and 1 (x itself unchanged)")
    jitted = call_jitted(noisy_copies, key, x, n, static_argnums=2)
    expect_close(jitted, copies, what="the result under jax.jit", atol=1e-4)


def check_noisy_copies(noisy_copies):
    report("noisy_copies", _check_noisy_copies, noisy_copies)


def _random_tree(rng):
    """A fresh nested pytree: dicts, a list, a tuple, a scalar and a None (an empty subtree)."""

    def leaf(*shape):
        return jnp.asarray(rng.normal(size=shape), dtype=jnp.float32)

    return {
        "layers": [{"w": leaf(3, int(rng.integers(2, 5))), "b": leaf(2)} for _ in range(int(rng.integers(1, 4)))],
        "scale": leaf(),
        "extra": (leaf(4), None),
    }


def _check_tree_l2_norm(tree_l2_norm):
    rng = np.random.default_rng()
    tree = _random_tree(rng)
    leaves = [np.asarray(leaf, dtype=np.float64) for leaf in jax.tree.leaves(tree)]
    reference = np.sqrt(sum(float(np.sum(leaf**2)) for leaf in leaves))
    result = call_answer(tree_l2_norm, tree)
    expect_array(result, (), jnp.float32, what="the norm")
    expect_close(result, reference, what="the norm")
    expect_close(call_jitted(tree_l2_norm, tree), reference, what="the norm under jax.jit")
    bare = jnp.asarray(rng.normal(size=(5,)), dtype=jnp.float32)  # a single array is a pytree too
    expect_close(call_answer(tree_l2_norm, bare), np.linalg.norm(np.asarray(bare)), what="the norm of a bare array")


def check_tree_l2_norm(tree_l2_norm):
    report("tree_l2_norm", _check_tree_l2_norm, tree_l2_norm)
