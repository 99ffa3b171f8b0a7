"""The exact layer between the grid maps and observed bins: geometry and interpolation.

Unconvolved V² at the bins is a fixed linear function of the node values: fold each bin into
the first quadrant, convert to (ln r, θ) and interpolate with a tensor-product cubic spline on
the polar grid: SciPy's ``make_interp_spline`` in ln r (not-a-knot ends) and in θ (clamped,
zero slope at 0° and 90°, where unconvolved V² is even by symmetry). The weights are built once
per galaxy as a dense matrix W (n_bins × n_nodes), by applying the splines to the identity,
so each likelihood evaluation is a single matmul ``W @ v2_nodes`` (DESIGN.md, "the exact part
is one fixed matrix").

Inside the grid's innermost radius r_min (1e-3 R_e by default, 0.03″ for M32) the maps are
extended as power laws in r along each angle, with the slope measured between nodes 0 and
:data:`INNER_SLOPE_NODE` at that angle: the inner profile of both the stellar and the
black-hole term depends on the cusp and on the anisotropy, so no fixed shape fits. This part is
not linear in the node values, but it touches only the few points inside r_min, so it costs a
handful of operations per likelihood evaluation (:func:`inner_power_law`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxjam.core.errors import ArgumentError
from jaxjam.core.grid import PolarGrid

__all__ = [
    "INNER_SLOPE_NODE",
    "InnerPoints",
    "PolarSpline",
    "bins_polar",
    "bins_to_model_frame",
    "inner_points",
    "inner_power_law",
    "inner_power_law_rows",
    "interpolation_matrix",
    "polar_spline",
]

INNER_SLOPE_NODE = 4
"""Radial node paired with node 0 to measure the inner power-law slope (Δ ln r ≈ 0.5)."""


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

    Raises
    ------
    ValueError
        For a position angle that is not finite.
    """
    if not np.all(np.isfinite(pa_deg)):
        raise ArgumentError(f"{{pa_deg}} must be a finite angle in degrees, got {pa_deg}")
    pa = np.radians(pa_deg)
    x = np.asarray(x_arcsec, float)
    y = np.asarray(y_arcsec, float)
    return x * np.cos(pa) + y * np.sin(pa), -x * np.sin(pa) + y * np.cos(pa)


def bins_polar(x, y, re_arcsec: float):
    """Galaxy-frame bins → radius in R_e and angle from the major axis folded into [0, π/2].

    Parameters
    ----------
    x, y : ndarray, shape (n_bins,)
        Major- and minor-axis coordinates (:func:`bins_to_model_frame`), arcsec.
    re_arcsec : float
        Effective radius, arcsec.

    Returns
    -------
    r_re, theta : ndarray, shape (n_bins,)
    """
    return np.hypot(x, y) / re_arcsec, np.arctan2(np.abs(y), np.abs(x))


class PolarSpline(NamedTuple):
    """The grid's tensor-product interpolating spline, as a sparse design and dense coefficients.

    ``values(points) = design @ coef @ node_values.ravel()``, where ``design`` holds the 16
    non-zero B-spline products per point and ``coef`` (``kron`` of the radial and angular spline
    inverses) maps node values to B-spline coefficients. Keeping them apart lets
    :mod:`jaxjam.core.psf` contract the design with a PSF sparsely before touching the dense part.

    Attributes
    ----------
    design : scipy.sparse.csr_array, shape (n_points, n_coef_r * n_coef_theta)
    coef : ndarray, shape (n_coef_r * n_coef_theta, n_r * n_theta)
    """

    design: object
    coef: np.ndarray


def _spline_parts(grid: PolarGrid):
    from scipy.interpolate import make_interp_spline

    s_r = make_interp_spline(grid.log_r, np.eye(grid.n_r), k=3)
    s_t = make_interp_spline(grid.theta_rad, np.eye(grid.n_theta), k=3, bc_type="clamped")
    return s_r, s_t


def polar_spline(grid: PolarGrid, log_r, theta_rad) -> PolarSpline:
    """Spline design of points given by ln(r/R_e) and θ (radians, in [0, π/2]).

    Radii outside the grid are clamped to its ends (callers that extrapolate rescale rows).

    Parameters
    ----------
    grid : PolarGrid
    log_r, theta_rad : array_like, shape (n,)

    Returns
    -------
    PolarSpline
    """
    from scipy.interpolate import BSpline
    from scipy.sparse import csr_array

    s_r, s_t = _spline_parts(grid)
    lr = np.clip(np.asarray(log_r, float), grid.log_r[0], grid.log_r[-1])
    th = np.clip(np.asarray(theta_rad, float), 0.0, np.pi / 2)
    d_r = BSpline.design_matrix(lr, s_r.t, 3)
    d_t = BSpline.design_matrix(th, s_t.t, 3)
    n, nt = lr.size, s_t.c.shape[0]
    ir, it = d_r.indices.reshape(n, 4), d_t.indices.reshape(n, 4)
    vr, vt = d_r.data.reshape(n, 4), d_t.data.reshape(n, 4)
    idx = (ir[:, :, None] * nt + it[:, None, :]).reshape(n, 16)
    val = (vr[:, :, None] * vt[:, None, :]).reshape(n, 16)
    design = csr_array(
        (val.ravel(), idx.ravel(), np.arange(0, 16 * n + 1, 16)), shape=(n, s_r.c.shape[0] * nt)
    )
    return PolarSpline(design, np.kron(s_r.c, s_t.c))


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
    x = np.abs(np.asarray(x_re, float))
    y = np.abs(np.asarray(y_re, float))
    r = np.hypot(x, y)
    if not np.all(np.isfinite(r)):
        raise ValueError("bin coordinates must be finite")
    bad = (r < grid.r_min_re * (1 - 1e-12)) | (r > grid.r_max_re * (1 + 1e-12))
    if np.any(bad):
        raise ValueError(
            f"{bad.sum()} bin(s) lie outside the emulator's radial range "
            f"[{grid.r_min_re:g}, {grid.r_max_re:g}] R_e (radii from {r.min():.3g} to "
            f"{r.max():.3g} R_e)"
        )
    spline = polar_spline(grid, np.log(r), np.arctan2(y, x))
    return spline.design @ spline.coef


class InnerPoints(NamedTuple):
    """Points inside the grid's innermost radius, where the maps are extended as power laws.

    Attributes
    ----------
    theta_weights : array, shape (n_in, n_theta)
        Angular spline weights at each point's angle.
    dlogr : array, shape (n_in,)
        ``ln(r / r_min)`` of each point (negative).
    slope_dlogr : float
        ``ln(r_k / r_min)`` between node 0 and node :data:`INNER_SLOPE_NODE`.
    """

    theta_weights: np.ndarray
    dlogr: np.ndarray
    slope_dlogr: float


def inner_points(grid: PolarGrid, r_re, theta_rad) -> InnerPoints:
    """Interpolation data of points with ``r < r_min`` (radii in R_e, angles in [0, π/2])."""
    from scipy.interpolate import make_interp_spline

    s_t = make_interp_spline(grid.theta_rad, np.eye(grid.n_theta), k=3, bc_type="clamped")
    th = np.clip(np.asarray(theta_rad, float), 0.0, np.pi / 2)
    return InnerPoints(
        s_t(th).reshape(th.size, grid.n_theta),
        np.log(np.asarray(r_re, float) / grid.r_min_re),
        float(grid.log_r[INNER_SLOPE_NODE] - grid.log_r[0]),
    )


def inner_power_law(nodes, inner: InnerPoints):
    """Power-law extension of a positive map inside r_min (pure JAX).

    Parameters
    ----------
    nodes : array, shape (n_r, n_theta)
        Node values (A or B).
    inner : InnerPoints

    Returns
    -------
    array, shape (n_in,)
        Values at the inner points; the slope is clipped to [-3, 3].
    """
    return inner_power_law_rows(nodes[0], nodes[INNER_SLOPE_NODE], inner)


def inner_power_law_rows(row_0, row_k, inner: InnerPoints):
    """:func:`inner_power_law` from the two node rows it uses: ``row_0`` (radius r_min) and
    ``row_k`` (node :data:`INNER_SLOPE_NODE`), each shape (n_theta,)."""
    import jax.numpy as jnp

    tiny = 1e-30
    v0 = inner.theta_weights @ row_0
    vk = inner.theta_weights @ row_k
    slope = jnp.log(jnp.maximum(vk, tiny) / jnp.maximum(v0, tiny)) / inner.slope_dlogr
    return v0 * jnp.exp(jnp.clip(slope, -3.0, 3.0) * inner.dlogr)
