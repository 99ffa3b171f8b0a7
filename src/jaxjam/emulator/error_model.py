"""The emulator's own error as a correlated, low-rank term of the likelihood.

On held-out maps the emulator's relative Vrms error is smooth: over an IFU-like radial range
about 80% of its variance lies in six modes, quadratic in log r times (1, cos 2θ). Added to the
likelihood as independent per-bin noise it would average away as 1/√n_bins, which it does not,
and the posteriors would be overconfident. So the model's relative error at the bins is

    δv / v = Σ_k c_k φ_k(ℓ, θ) + u,    c_k ~ N(0, s_k²),    u ~ N(0, s_u²) per bin,

with φ = P_j(ℓ) · (1, cos 2θ) for the Legendre polynomials P_0..P_2, ℓ ∈ [−1, 1] the log
radius rescaled over the data's own radial range, and θ the angle from the projected major
axis. The mode amplitudes s_k and the residual s_u are measured on a held-out store by
:func:`measure` (``jaxjam evaluate``), in several radial windows of the grid, and stored in the
checkpoint's ``test_metrics``; a fit uses the window that matches its bins (:func:`select`). The
likelihood marginalises the c_k analytically (Woodbury identity: a 6 × 6 solve per step).
"""

from __future__ import annotations

import numpy as np

__all__ = ["N_MODES", "WINDOWS", "basis", "bin_modes", "measure", "select"]

N_MODES = 6
# radial windows, as fractions (start, stop) of the grid's nodes, on which the amplitudes are
# measured: the full range, halves, quarters and an IFU-like middle
WINDOWS = ((0, 1), (0, 0.5), (0.25, 0.75), (0.5, 1), (0, 0.25), (0.375, 0.625), (0.75, 1))


def basis(ell, theta):
    """The six error modes.

    Parameters
    ----------
    ell : array_like
        Rescaled log radius, in [−1, 1].
    theta : array_like
        Angle from the projected major axis, radians (same shape as ``ell``).

    Returns
    -------
    ndarray, shape (*ell.shape, 6)
        ``[P0, P1, P2, P0 c, P1 c, P2 c]`` with ``c = cos 2θ``.
    """
    ell = np.asarray(ell, float)
    c = np.cos(2 * np.asarray(theta, float))
    p = [np.ones_like(ell), ell, 1.5 * ell**2 - 0.5]
    return np.stack([*p, *(q * c for q in p)], axis=-1)


def _rescale(log_r, lo=None, hi=None):
    lo = log_r.min() if lo is None else lo
    hi = log_r.max() if hi is None else hi
    if hi - lo < 1e-12:
        return np.zeros_like(log_r)
    return np.clip(2 * (log_r - lo) / (hi - lo) - 1, -1.0, 1.0)


def _bin_range(r_re, grid):
    """Log-radius range of a data set's bins: the 2nd to 98th percentile, so that a central
    bin (clipped to the grid's r_min) or a few outliers do not stretch ℓ over radii that hold
    almost no data."""
    log_r = np.log(np.clip(np.asarray(r_re, float), grid.r_min_re, grid.r_max_re))
    if log_r.size < 10:
        return log_r, log_r.min(), log_r.max()
    return log_r, *np.percentile(log_r, [2, 98])


def measure(rel_err, grid, windows=WINDOWS) -> dict:
    """Mode amplitudes and residual of signed relative Vrms errors, per radial window.

    Parameters
    ----------
    rel_err : ndarray, shape (n_maps, n_r, n_theta)
        ``Vrms_emulator / Vrms_jampy − 1`` on the grid nodes (maps with any unphysical node
        excluded by the caller).
    grid : jaxjam.core.grid.PolarGrid
    windows : sequence of (start, stop)
        Radial ranges as fractions of the grid's nodes, each fitted on its own ℓ (a fit uses
        the window that best matches its bins' radial range: :func:`select`).

    Returns
    -------
    dict
        ``windows`` (node index ranges); per window ``mode_std`` (6 floats: RMS over maps of
        each mode's coefficient) and ``residual_std`` (RMS of what the modes leave);
        ``n_maps``.
    """
    rel_err = np.asarray(rel_err, float)
    n, n_r, _ = rel_err.shape
    log_r = np.log(grid.r_re)
    out = {"windows": [], "mode_std": [], "residual_std": [], "n_maps": int(n),
           "basis": "Legendre P0..P2 of rescaled log r, times (1, cos 2 theta)"}  # fmt: skip
    for f_lo, f_hi in windows:
        lo, hi = round(f_lo * n_r), round(f_hi * n_r)
        if hi - lo < 3:
            continue
        ell = _rescale(log_r[lo:hi])
        X = basis(*np.meshgrid(ell, grid.theta_rad, indexing="ij")).reshape(-1, N_MODES)
        Y = rel_err[:, lo:hi, :].reshape(n, -1).T
        coef, *_ = np.linalg.lstsq(X, Y, rcond=None)
        out["windows"].append([int(lo), int(hi)])
        out["mode_std"].append(np.sqrt(np.mean(coef**2, axis=1)).tolist())
        out["residual_std"].append(float(np.sqrt(np.mean((Y - X @ coef) ** 2))))
    return out


def select(error_model: dict, r_re, grid) -> tuple[list, float]:
    """``(mode_std, residual_std)`` of the measured window that best overlaps the bins'
    radial range (2nd to 98th percentile; largest intersection over union, in node units)."""
    _, lo, hi = _bin_range(r_re, grid)
    step = (np.log(grid.r_max_re) - np.log(grid.r_min_re)) / (grid.n_r - 1)
    a = (lo - np.log(grid.r_min_re)) / step
    b = (hi - np.log(grid.r_min_re)) / step + 1

    def iou(w):
        inter = max(0.0, min(b, w[1]) - max(a, w[0]))
        return inter / (max(b, w[1]) - min(a, w[0]))

    best = int(np.argmax([iou(w) for w in error_model["windows"]]))
    return error_model["mode_std"][best], error_model["residual_std"][best]


def bin_modes(r_re, theta, grid, mode_std) -> np.ndarray:
    """The scaled error modes at a data set's bins.

    Parameters
    ----------
    r_re : array_like, shape (n_bins,)
        Bin radii in units of R_e (model frame).
    theta : array_like, shape (n_bins,)
        Angles from the projected major axis, radians.
    grid : jaxjam.core.grid.PolarGrid
        Radii are clipped to the grid's range; ℓ spans the 2nd to 98th percentile of the bins'
        log radii (clipped to ±1 beyond).
    mode_std : sequence of 6 floats

    Returns
    -------
    ndarray, shape (n_bins, 6)
        ``φ_k(ℓ, θ) · s_k``: multiplied by the model Vrms, the columns of the low-rank factor
        of the model-error covariance.
    """
    log_r, lo, hi = _bin_range(r_re, grid)
    return basis(_rescale(log_r, lo, hi), theta) * np.asarray(mode_std, float)
