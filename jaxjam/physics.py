"""The exact layer between the grid maps and observed bins (PSF-free part).

Unconvolved V² at the bins is a fixed linear function of the node values: fold each bin into
the first quadrant, convert to (ln r, θ) and interpolate with a tensor-product cubic spline on
the polar grid: SciPy's ``make_interp_spline`` in ln r (not-a-knot ends) and in θ (clamped,
zero slope at 0° and 90°, where unconvolved V² is even by symmetry). The weights are built once
per galaxy as a dense matrix W (n_bins × n_nodes), by applying the splines to the identity,
so each likelihood evaluation is a single matmul ``W @ v2_nodes`` (DESIGN.md, "the exact part
is one fixed matrix").
"""

from __future__ import annotations

import numpy as np

from jaxjam.grid import PolarGrid

__all__ = ["bins_to_model_frame", "interpolation_matrix"]


def bins_to_model_frame(x_arcsec, y_arcsec, pa_deg: float = 0.0):
    """Rotate observed bins into the galaxy frame (x along the projected major axis).

    Parameters
    ----------
    x_arcsec, y_arcsec : array_like, shape (n_bins,)
        Bin coordinates on the sky, arcsec.
    pa_deg : float
        Angle of the galaxy's projected major axis, degrees counter-clockwise from the data's
        +x axis. 0 means the data are already in jampy's frame.

    Returns
    -------
    x, y : ndarray, shape (n_bins,)
        Coordinates along the major and minor axes, arcsec.
    """
    pa = np.radians(pa_deg)
    x = np.asarray(x_arcsec, float)
    y = np.asarray(y_arcsec, float)
    return x * np.cos(pa) + y * np.sin(pa), -x * np.sin(pa) + y * np.cos(pa)


def interpolation_matrix(grid: PolarGrid, x_re, y_re) -> np.ndarray:
    """Bicubic interpolation weights from the polar grid nodes to points.

    Parameters
    ----------
    grid : PolarGrid
        The model grid.
    x_re, y_re : array_like, shape (n,)
        Points in the galaxy frame, in units of R_e (any quadrant).

    Returns
    -------
    ndarray, shape (n, n_r * n_theta)
        ``W`` such that ``W @ values.ravel()`` interpolates node values (C order, radius
        major) at the points.

    Raises
    ------
    ValueError
        If a point lies outside the grid's radial range.
    """
    from scipy.interpolate import make_interp_spline

    x = np.abs(np.asarray(x_re, float))
    y = np.abs(np.asarray(y_re, float))
    r = np.hypot(x, y)
    if not np.all(np.isfinite(r)):
        raise ValueError("bin coordinates must be finite")
    bad = (r < grid.r_min_re) | (r > grid.r_max_re)
    if np.any(bad):
        raise ValueError(
            f"{bad.sum()} bin(s) lie outside the emulator's radial range "
            f"[{grid.r_min_re:g}, {grid.r_max_re:g}] R_e (radii from {r.min():.3g} to "
            f"{r.max():.3g} R_e)"
        )
    w_r = make_interp_spline(grid.log_r, np.eye(grid.n_r), k=3)(np.log(r))
    w_t = make_interp_spline(grid.theta_rad, np.eye(grid.n_theta), k=3,
                             bc_type="clamped")(np.arctan2(y, x))  # fmt: skip
    return (w_r[:, :, None] * w_t[:, None, :]).reshape(r.size, -1)
