"""The exact forward layer: from component node maps to Vrms (km/s) at observed bins.

Everything that is fixed during a fit (bins, position angle, PSF, pixel size, photometry,
distance) is folded once into a :class:`BinOperator` by :func:`bin_operator`. Then, with the
components k of :mod:`jaxjam.core.components` (stars, black hole) and their scalings m_k (Υ,
M_BH/L_tot),

    Vrms² = (G L_tot/R_e) · Σ_k m_k (W_k @ C_k + g_in @ C_k,in)

costs one small matmul per component plus the power-law extension at the few points inside the
grid's innermost radius (:func:`jaxjam.core.physics.inner_power_law`). :func:`apply_operator` is
pure
JAX: jit, grad and vmap it freely. Without a PSF every W_k is the same bicubic interpolation
matrix (fast path); with one, it also holds the FFT convolution of :mod:`jaxjam.core.psf`, and the
components differ in how they are extrapolated beyond the grid.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxjam.core.components import DEFAULT, Component
from jaxjam.core.errors import ArgumentError
from jaxjam.core.grid import PolarGrid
from jaxjam.core.mge import MGE
from jaxjam.core.physics import (
    INNER_SLOPE_NODE,
    InnerPoints,
    bins_polar,
    bins_to_model_frame,
    inner_points,
    inner_power_law,
    polar_spline,
)
from jaxjam.core.psf import PSF, convolution_operator
from jaxjam.core.scaling import v2_unit_kms2

__all__ = [
    "BinOperator",
    "apply_operator",
    "bin_operator",
    "bin_values",
    "extend_outward",
    "reached_nodes",
    "vrms_kms",
]


class BinOperator(NamedTuple):
    """Fixed arrays of one galaxy's data set (a pytree).

    Attributes
    ----------
    w : tuple of array, shape (n_bins, n_r * n_theta) each
        Per component (in :mod:`jaxjam.core.components` order), the linear map from its node values
        to dimensionless V² at the bins.
    g_inner : array, shape (n_bins, n_in)
        Weights of the points inside the grid's innermost radius.
    inner : InnerPoints
        Their interpolation data (``n_in`` may be 0).
    unit_kms2 : float
        ``G L_tot / R_e`` in (km/s)².
    lum_lsun : float
        Total luminosity of the MGE at the galaxy's distance, Lsun.
    """

    w: tuple
    g_inner: np.ndarray
    inner: InnerPoints
    unit_kms2: float
    lum_lsun: float

    @property
    def n_bins(self) -> int:
        return self.w[0].shape[0]


def bin_operator(
    grid: PolarGrid,
    mge: MGE,
    distance_mpc: float,
    x_arcsec,
    y_arcsec,
    psf: PSF | None = None,
    pa_deg: float = 0.0,
    step_arcsec: float | None = None,
    components: tuple[Component, ...] = DEFAULT,
) -> BinOperator:
    """Build the fixed forward operator of a data set.

    Parameters
    ----------
    grid : PolarGrid
        The emulator's grid.
    mge : MGE
        Photometry (Lsun/pc², arcsec).
    distance_mpc : float
        Distance, Mpc.
    x_arcsec, y_arcsec : array_like, shape (n_bins,)
        Bin centres on the sky, arcsec.
    psf : PSF, optional
        PSF and pixel size; ``None`` gives the PSF-free fast path.
    pa_deg : float
        Position angle of the projected major axis from the data's +x axis, degrees
        counter-clockwise (:func:`jaxjam.core.physics.bins_to_model_frame`). With a PSF the spaxel
        axes are then at ``pixang = pa_deg`` in the galaxy frame.
    step_arcsec : float, optional
        Cartesian step of the convolution (default ``min(sigma_psf)/4``, as jampy).
    components : tuple of Component
        The model's components (an emulator's
        :attr:`~jaxjam.emulator.emulator.Emulator.components`).

    Returns
    -------
    BinOperator

    Raises
    ------
    ValueError
        For empty, non-finite or mismatched bins, a bin beyond the grid's outer radius, or a
        non-positive distance.
    """
    if not (np.isfinite(distance_mpc) and distance_mpc > 0):
        raise ArgumentError(f"{{distance_mpc}} must be finite and positive, got {distance_mpc}")
    x_arcsec = np.asarray(x_arcsec, float)
    y_arcsec = np.asarray(y_arcsec, float)
    if x_arcsec.ndim != 1 or x_arcsec.shape != y_arcsec.shape or x_arcsec.size == 0:
        raise ValueError(
            "bins must be two non-empty 1D arrays of equal length, got shapes "
            f"{x_arcsec.shape} and {y_arcsec.shape}"
        )
    if not (np.all(np.isfinite(x_arcsec)) and np.all(np.isfinite(y_arcsec))):
        raise ValueError("bin coordinates contain NaN or infinite values")
    x, y = bins_to_model_frame(x_arcsec, y_arcsec, pa_deg)
    re = mge.effective_radius_arcsec()
    r, theta = bins_polar(x, y, re)
    if np.any(r > grid.r_max_re * (1 + 1e-12)):
        raise ValueError(
            f"{np.sum(r > grid.r_max_re)} bin(s) lie beyond the emulator's outer radius "
            f"{grid.r_max_re:g} R_e = {grid.r_max_re * re:.3g} arcsec (max radius "
            f"{r.max() * re:.3g} arcsec)"
        )
    lum = float(mge.luminosity_lsun(distance_mpc))
    unit = float(v2_unit_kms2(lum, re, distance_mpc))
    if psf is not None:
        powers = tuple(c.outer_power for c in components)
        parts = convolution_operator(grid, mge, x, y, psf, step_arcsec, pixang_deg=pa_deg,
                                     outer_powers=powers)  # fmt: skip
        return BinOperator(parts.w, parts.g_inner, parts.inner, unit, lum)
    inside = r < grid.r_min_re
    spline = polar_spline(grid, np.log(np.maximum(r, grid.r_min_re)), theta)
    w = (spline.design.multiply((~inside)[:, None]) @ spline.coef).astype(float)
    idx = np.nonzero(inside)[0]
    if np.any(r[idx] <= 0):
        raise ValueError("a bin at the exact centre needs a PSF (V² diverges with a black hole)")
    g_inner = np.zeros((x.size, idx.size))
    g_inner[idx, np.arange(idx.size)] = 1.0
    inner = inner_points(grid, r[idx], theta[idx])
    return BinOperator(tuple(w for _ in components), g_inner, inner, unit, lum)


def bin_values(op: BinOperator, maps):
    """Each component's dimensionless bin integral ``W_k @ C_k + g_in @ C_k,in`` (pure JAX).

    Parameters
    ----------
    op : BinOperator
    maps : array, shape (n_components, n_r, n_theta)
        Dimensionless component maps (network output or jampy labels).

    Returns
    -------
    array, shape (n_components, n_bins)
    """
    import jax.numpy as jnp

    return jnp.stack([w @ maps[k].ravel() + op.g_inner @ inner_power_law(maps[k], op.inner)
                      for k, w in enumerate(op.w)])  # fmt: skip


def apply_operator(op: BinOperator, maps, scalings):
    """Vrms² (km/s)² at the bins from node maps (pure JAX).

    Parameters
    ----------
    op : BinOperator
    maps : array, shape (n_components, n_r, n_theta)
        Dimensionless component maps (network output or jampy labels).
    scalings : array, shape (n_components,)
        The components' mass scalings (:func:`jaxjam.core.components.scalings`: Υ in Msun/Lsun,
        M_BH/L_tot in Msun/Lsun).

    Returns
    -------
    array, shape (n_bins,)
    """
    return op.unit_kms2 * (scalings @ bin_values(op, maps))


def vrms_kms(op: BinOperator, maps, scalings):
    """Vrms (km/s) at the bins; NaN where the model has no physical solution (V² ≤ 0)."""
    import jax.numpy as jnp

    v2 = apply_operator(op, maps, scalings)
    return jnp.where(v2 > 0, jnp.sqrt(jnp.where(v2 > 0, v2, 1.0)), jnp.nan)


def reached_nodes(op: BinOperator, grid: PolarGrid, tol: float = 1e-7) -> np.ndarray:
    """The grid nodes that a data set's bins depend on, shape (n_r, n_theta), bool.

    The bicubic interpolation is global, but its weights fall geometrically with distance
    (about ×0.1 per node outward). A radial row is reached when some bin gives one of its
    nodes a weight (``W_A`` or ``W_B``) above ``tol`` times the largest weight; the reached rows
    run from the centre to the outermost such row, at every angle. Maps computed at these
    nodes only and extended outward by :func:`extend_outward` give the bins' Vrms to ~``tol``.
    """
    w = np.max([np.abs(np.asarray(wk)).max(0) for wk in op.w], axis=0)
    rows = np.nonzero(w.reshape(grid.shape).max(1) > tol * w.max())[0]
    used = np.zeros(grid.shape, bool)
    used[: max(rows.max() + 1, INNER_SLOPE_NODE + 1)] = True
    return used


def extend_outward(node_map, nodes) -> np.ndarray:
    """Fill the rows outside ``nodes`` (:func:`reached_nodes`) with the outermost reached row
    (their weight at the bins is below the tolerance). Returns a copy, shape (n_r, n_theta)."""
    out = np.array(node_map, float)
    n = int(np.asarray(nodes).any(1).sum())
    out[n:] = out[n - 1]
    return out
