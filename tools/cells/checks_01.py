# --- Chapter 1: pure functions, keys, pytrees ---


def _call(fn, *args):
    """call_answer, except that a NotImplementedError raised by JAX itself is the reader's bug, not the stub.

    The stub raises a bare NotImplementedError; JAX raises one with a message (`np.fill_diagonal(m, ...)` on a JAX
    array: "JAX Arrays do not implement the arr.flat property ..."), and call_answer would call that "not done yet".
    """
    if callable(fn):
        try:
            return fn(*args)
        except NotImplementedError as exc:
            if str(exc):
                raise Wrong(f"your function raised {first_line(exc)}") from None
        except Exception:  # named by call_answer, which runs it again
            pass
    return call_answer(fn, *args)


def _jitted(fn, *args, static_argnums=(), numpy_hint="use jnp functions instead of np ones"):
    """call_jitted, with the three jit failures of this chapter's answers named for what they are.

    `numpy_hint` is this exercise's advice for a traced array handed to NumPy (np.asarray, np.fill_diagonal, ...).
    """
    try:
        return jax.jit(fn, static_argnums=static_argnums)(*args)
    except jax.errors.TracerArrayConversionError:
        raise Wrong(f"under jax.jit it hands a traced array to NumPy, which needs real numbers: {numpy_hint}") from None
    except jax.errors.TracerBoolConversionError:
        raise Wrong("under jax.jit it uses an array's value in `if` or bool(): use jnp.where instead") from None
    except jax.errors.ConcretizationTypeError:
        raise Wrong(
            "under jax.jit it turns a traced array into a Python number (float(), int()): keep it an array"
        ) from None
    except Exception:  # anything else (or the stub): call_jitted names it
        pass
    return call_jitted(fn, *args, static_argnums=static_argnums)


def _expect_jax_array(value, hint):
    """The answer returned a JAX array, not a NumPy one (NumPy code cannot run under jax.jit)."""
    if isinstance(value, np.ndarray):
        raise Wrong(f"it returns a NumPy array, so it cannot work under jax.jit: {hint}")


def _check_set_diagonal(set_diagonal):
    rng = np.random.default_rng()
    n = int(rng.integers(3, 7))
    m = jnp.asarray(rng.normal(size=(n, n)), dtype=jnp.float32)
    # value and -value, of size 0.5 to 2: an answer that drops the sign (jnp.abs) fails one of them, and one that is
    # 1% off misses by at least 0.005, far beyond float32 rounding
    size = float(rng.uniform(0.5, 2.0))
    for value in (size, -size):
        _check_set_diagonal_value(set_diagonal, m, value)


def _check_set_diagonal_value(set_diagonal, m, value):
    n = m.shape[0]
    reference = np.asarray(m).copy()
    np.fill_diagonal(reference, value)
    at_hint = "return m.at[rows, cols].set(value) with rows, cols = jnp.diag_indices(n)"
    try:
        result = _call(set_diagonal, m, value)
    except Wrong as wrong:
        if "arr.flat" in str(wrong):  # np.fill_diagonal(m, value) tried to write into the JAX array m
            raise Wrong(f"np.fill_diagonal writes into m, and a JAX array cannot be written: {at_hint}") from None
        raise
    # np.array(m) then np.fill_diagonal, or any NumPy route: it fills a NumPy copy, which jit cannot make of a tracer
    _expect_jax_array(
        result, f"NumPy can only fill a NumPy copy of m, and under jit m has no values to copy; {at_hint}"
    )
    expect_array(result, (n, n), jnp.float32)
    out = np.asarray(result, dtype=np.float64)
    if np.allclose(out, reference, atol=1e-6):
        expect_close(
            _jitted(set_diagonal, m, value, numpy_hint=f"np.fill_diagonal can only fill a NumPy copy of m; {at_hint}"),
            reference,
            what="the result under jax.jit",
        )
        return
    if np.allclose(out, np.asarray(m) + value * np.eye(n), atol=1e-5):
        raise Wrong("it adds value to the diagonal; the diagonal entries should become value (.set, not .add)")
    off = ~np.eye(n, dtype=bool)
    if not np.allclose(out[off], reference[off], atol=1e-6):
        raise Wrong("entries off the diagonal changed: only the diagonal may differ from m")
    diagonal = np.diagonal(out)
    missed = np.flatnonzero(~np.isclose(diagonal, value, rtol=0, atol=1e-6))
    if len(missed) and np.allclose(diagonal[missed], np.diagonal(np.asarray(m))[missed], atol=1e-6):
        raise Wrong(f"diagonal entries {missed.tolist()} still hold m's values: all {n} must become value")
    if np.allclose(diagonal, -value, atol=1e-6):
        raise Wrong(f"for value = {value:.4f} the diagonal holds {-value:.4f}: keep value's sign as it is")
    if np.allclose(diagonal, diagonal[0], atol=1e-6):
        raise Wrong(f"the diagonal holds {diagonal[0]:.4f}, but value is {value:.4f}")
    raise Wrong("the diagonal has wrong values: every diagonal entry should equal value")


def check_set_diagonal(set_diagonal):
    report("set_diagonal", _check_set_diagonal, set_diagonal)


def _noisy_call(noisy_copies, seed, x, n, jitted=False):
    """The answer on a fresh key made from `seed`, under jax.debug_key_reuse(True): a key used twice is refused.

    Each call gets a new key object: the reuse checker marks a key consumed once it has been used, even between
    calls. Any failure other than key reuse is named by the core helpers, which run the answer again without it.
    """
    try:
        with jax.debug_key_reuse(True):
            key = jax.random.key(seed)
            if jitted:
                return jax.jit(noisy_copies, static_argnums=2)(key, x, n)
            return noisy_copies(key, x, n)
    except jax.errors.KeyReuseError as exc:
        raise Wrong(
            f"it uses a key twice ({first_line(exc)}): a key given to a sampler or to split is "
            "used up; split first and use each new key once"
        ) from None
    except Exception:
        pass
    key = jax.random.key(seed)
    if jitted:
        return _jitted(noisy_copies, key, x, n, static_argnums=2, numpy_hint=_NOISE_NUMPY_HINT)
    return _call(noisy_copies, key, x, n)


_NOISE_NUMPY_HINT = "keep jax.random's samples a JAX array (no np.asarray) and add them to x as they are"


def _check_noisy_copies(noisy_copies):
    rng = np.random.default_rng()
    # x sits far from zero, so an answer that scales x (1.01 * x) shifts the noise by about 0.5; and 2**20 noise
    # samples pin the noise's mean and std to within 0.001, so a bias of 0.01 in either is 5 standard errors away.
    x = jnp.asarray(50.0 + rng.normal(size=(65536,)), dtype=jnp.float32)
    n = 16  # few copies of many entries: a loop over copies, unrolled under jit, compiles quickly
    seed, other_seed = (int(s) for s in rng.choice(2**31, size=2, replace=False))
    copies = _noisy_call(noisy_copies, seed, x, n)
    _expect_jax_array(copies, "build it with jax.random and jnp, and return that JAX array as it is")
    expect_array(copies, (n, *x.shape), jnp.float32)
    again = _noisy_call(noisy_copies, seed, x, n)
    expect_same(copies, again, "the same key gave different results: draw randomness only from `key`")
    other = _noisy_call(noisy_copies, other_seed, x, n)
    if np.array_equal(np.asarray(copies), np.asarray(other)):
        raise Wrong("different keys gave the same result: the noise must come from `key`")
    noise = np.asarray(copies, dtype=np.float64) - np.asarray(x, dtype=np.float64)
    # x + noise is rounded to float32 (steps of 4e-6 near 50), so "no noise" and "one number per copy" allow for that
    spread = noise.std(axis=1)
    for i in np.flatnonzero(spread < 1e-3):
        if np.all(np.abs(noise[i]) < 1e-3):
            raise Wrong(f"copy {i} has no noise: every copy needs its own noise")
        raise Wrong(f"every entry of copy {i} got the same noise: draw noise of shape (n, *x.shape)")
    # Independent copies of 65536 samples have correlations of about 0.004 (one standard error) around zero, so 0.03
    # is more than 7 of them: 120 independent pairs never reach it, and a shared key (r = 1) or a shared part of the
    # noise (r = 0.05) does
    centred = noise - noise.mean(axis=1, keepdims=True)
    unit = centred / np.linalg.norm(centred, axis=1, keepdims=True)
    correlation = unit @ unit.T
    np.fill_diagonal(correlation, 0.0)
    pairs = np.argwhere(np.triu(np.abs(correlation) > 0.03))
    if len(pairs):
        i, j = (int(index) for index in pairs[0])  # the first pair, in order
        how = "identical" if np.array_equal(noise[i], noise[j]) else f"correlated (r = {correlation[i, j]:.2f})"
        raise Wrong(f"copies {i} and {j} have {how} noise: give every copy its own key (split key into n keys)")
    mean, std = noise.mean(), noise.std()
    if abs(mean) > 0.005 or abs(std - 1) > 0.005:
        raise Wrong(f"copies minus x have mean {mean:.3f} and std {std:.3f}; expected 0 and 1 (x itself unchanged)")
    # Mean 0 and std 1 do not make it normal: a standard normal lies within 1 of 0 with probability 0.6827 (one
    # standard error 0.0005 at 2**20 samples); a scaled uniform gives 0.577, a scaled Laplace 0.757
    inside = float(np.mean(np.abs(noise) < 1))
    if abs(inside - 0.6827) > 0.005:
        raise Wrong(
            f"the noise has mean 0 and std 1 but is not normal: {inside:.3f} of it lies within 1 of 0, where "
            "standard normal noise has 0.683 (use jax.random.normal)"
        )
    jitted = _noisy_call(noisy_copies, seed, x, n, jitted=True)
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


def _diagnose_norm(result, leaves, reference, what):
    """The known mistake that gives this value, or the value next to the norm; called only when it is wrong."""
    value = float(np.asarray(result))
    squares = [float(np.sum(leaf**2)) for leaf in leaves]
    mistakes = [
        (sum(squares), "it is the sum of squares: take its square root"),
        (sum(np.sqrt(squares)), "it adds up each leaf's norm: add the squares of all leaves first, then take one root"),
        (np.sqrt(sum(float(np.mean(leaf**2)) for leaf in leaves)), "it averages within each leaf: sum the squares"),
        (sum(float(np.sum(np.abs(leaf))) for leaf in leaves), "it sums absolute values (the L1 norm): sum squares"),
        (
            np.sqrt(sum(squares) / sum(leaf.size for leaf in leaves)),
            "it averages over all entries (a root mean square): sum the squares",
        ),
        (np.mean(np.sqrt(squares)), "it averages the leaves' norms: add the squares of all leaves, then take one root"),
    ]
    mistakes += [
        (
            np.sqrt(square),
            f"it uses only one leaf (shape {leaves[index].shape}): sum over every leaf of jax.tree.leaves(tree)",
        )
        for index, square in enumerate(squares)
    ]
    mistakes += [
        (np.sqrt(sum(squares) - square), f"it leaves out a leaf (shape {leaves[index].shape}): use every leaf")
        for index, square in enumerate(squares)
    ]
    for candidate, message in mistakes:
        if np.isclose(value, candidate, rtol=1e-5, atol=1e-5):
            raise Wrong(message)
    raise Wrong(f"{what} has the right shape but wrong values: {value:.6g} where the norm is {reference:.6g}")


def _expect_norm(result, leaves, what):
    reference = np.sqrt(sum(float(np.sum(leaf**2)) for leaf in leaves))
    expect_array(result, (), jnp.float32, what=what)
    if not np.isclose(float(np.asarray(result)), reference, rtol=1e-5, atol=1e-5):
        _diagnose_norm(result, leaves, reference, what)


def _check_tree_l2_norm(tree_l2_norm):
    rng = np.random.default_rng()
    tree = _random_tree(rng)
    leaves = [np.asarray(leaf, dtype=np.float64) for leaf in jax.tree.leaves(tree)]
    try:
        result = _call(tree_l2_norm, tree)
    except Wrong as wrong:  # e.g. `value ** 2` on a list of layers: a container of the tree treated as an array
        if "'NoneType'" in str(wrong):  # a hand-written walk reached the None in "extra"
            raise Wrong(f"{wrong}: None is an empty subtree, not an array; jax.tree.leaves skips it") from None
        if any(f"'{name}'" in str(wrong) for name in ("list", "dict", "tuple")):
            raise Wrong(f"{wrong}: a container is not an array; reach the arrays with jax.tree.leaves(tree)") from None
        raise
    _expect_norm(result, leaves, "the norm")
    numpy_hint = "use jnp.sum and jnp.sqrt on the leaves, not np ones"
    _expect_norm(_jitted(tree_l2_norm, tree, numpy_hint=numpy_hint), leaves, "the norm under jax.jit")
    bare = jnp.asarray(rng.normal(size=(5,)), dtype=jnp.float32)  # a single array is a pytree too
    _expect_norm(_call(tree_l2_norm, bare), [np.asarray(bare, np.float64)], "the norm of a bare array")


def check_tree_l2_norm(tree_l2_norm):
    report("tree_l2_norm", _check_tree_l2_norm, tree_l2_norm)
