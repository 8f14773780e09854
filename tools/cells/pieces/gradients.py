# --- piece gradients (tools/cells/pieces/gradients.py): results within bfloat16 noise of float64 references ---
# pieces: fit, reference64


def _expect_gradients_close(outs, refs, names, max_relative, max_scale, max_each_scale, max_shift=None, diagnose=None):
    """Each result within bfloat16 matmul noise of its float64 reference; together, no overall scale or shift.

    On TPU the matrix products (forward and backward) multiply bfloat16-rounded operands. Over 150 simulated draws
    (tests/test_checkers_04.py rounds every matmul operand) single entries moved by up to 1.3% of the largest entry,
    the best-fit scale of all gradients together by up to 1.6e-3 (attention) and 1.2e-3 (train_step), and the mean
    error by up to 2.3e-4. The limits keep a margin of 2.5x or more over that noise and still reject a 1% scale.
    Each result also gets its own scale limit (single gradients are noisier: up to 1.9e-3 for dQ and dK, 2.8e-3 for
    an MLP weight, in 40 simulated draws), so a 1% error in only one of them is caught too.
    `diagnose(out, ref, name)`, if given, runs first on each result and may raise a Wrong that names a known bug.
    """
    for out, ref, name in zip(outs, refs, names, strict=True):
        if diagnose is not None:
            diagnose(_as64(out), ref, name)
        error = _relative_error(out, ref)
        if error > max_relative:
            raise Wrong(f"{name} has the right shape but wrong values (off by {100 * error:.0f}% of its largest entry)")
        # fit out ≈ scale * ref + shift jointly, so a pure shift is not reported as a scale and vice versa
        # (a leaf of one or two entries, such as a bias of size 1, cannot separate the two: fit the scale only)
        each, shift = _scale_and_shift(_as64(out), ref) if ref.size >= 8 else (_fitted_scale(_as64(out), ref), 0.0)
        if abs(each - 1) > max_each_scale:
            raise Wrong(f"{name} is scaled by {each:.4f} compared with the exact one")
        if max_shift is not None and abs(shift) > max_shift:
            raise Wrong(f"{name} is shifted by {shift:+.4f}")
    out_all = np.concatenate([_as64(out).ravel() for out in outs])
    ref_all = np.concatenate([ref.ravel() for ref in refs])
    scale = _fitted_scale(out_all, ref_all)
    if abs(scale - 1) > max_scale:
        raise Wrong(f"the results are scaled by {scale:.4f} compared with the exact ones")
