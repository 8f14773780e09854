# --- piece fit (tools/cells/pieces/fit.py): how far an answer is from its reference, as a scale, shift or error ---
# pieces: reference64


def _fitted_scale(out, ref):
    """The least-squares scale of out ≈ scale * ref (no shift): 1 for a right answer."""
    return float((out * ref).sum() / max((ref * ref).sum(), 1e-30))


def _scale_and_shift(out, reference):
    """The least-squares fit out ≈ scale * reference + shift: (1, 0) for a right answer, whatever its noise."""
    design = np.stack([reference.ravel(), np.ones(reference.size)], axis=1)
    (scale, shift), *_ = np.linalg.lstsq(design, out.ravel(), rcond=None)
    return float(scale), float(shift)


def _relative_error(out, ref):
    """The largest entry error, as a fraction of the reference's largest entry."""
    return float(np.abs(_as64(out) - ref).max() / max(np.abs(ref).max(), 1e-30))
