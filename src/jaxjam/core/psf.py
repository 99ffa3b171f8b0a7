"""PSF and pixel convolution of the model, as jampy does it, collapsed into fixed matrices.

jampy (``jam.axi.proj``, Cappellari 2008, Appendix A) convolves the flux-weighted second
moment Σ·V² and the surface brightness Σ with the PSF + pixel kernel on a Cartesian grid of
step ``min(sigmapsf)/4`` (FFT), divides the two images and interpolates the ratio bilinearly
at the bins. Every step is linear in the node values of V², and Σ is fixed during a fit, so

    V²_conv(bins) = (G L_tot / R_e) · [Υ · W_A @ A.ravel() + (M_BH / L_tot) · W_B @ B.ravel()]

with two fixed matrices W_A, W_B (n_bins × n_nodes) built once per galaxy by
:func:`convolution_operator`. :func:`convolve_fft` is the same computation written as a pure,
differentiable JAX function of the node values (FFT route); the tests check that the two
agree and that both reproduce jampy's own PSF-convolved Vrms.

Cells inside the grid's innermost radius r_min use the power-law extension of
:mod:`jaxjam.core.physics` (a few cells, evaluated per step; they are kept out of W). Beyond r_max,
where only the PSF's outer wings reach, A is held at its edge value and B falls as r_max/r.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from jaxjam.core.errors import ArgumentError
from jaxjam.core.grid import PolarGrid
from jaxjam.core.mge import MGE
from jaxjam.core.physics import InnerPoints, inner_points, inner_power_law, polar_spline

__all__ = [
    "MAX_GRID_CELLS",
    "PSF",
    "CartesianGrid",
    "ConvolutionParts",
    "check_step_arcsec",
    "convolution_operator",
    "convolve_fft",
    "psf_kernel",
]

#: Most cells of the Cartesian convolution grid (4096 × 4096). A fit's operator needs about
#: 2 kB per cell while it is built (~30 GiB here); a PSF Gaussian far narrower than the field
#: of the bins would otherwise ask for terabytes.
MAX_GRID_CELLS = 4096**2


def check_step_arcsec(step_arcsec) -> float:
    """``step_arcsec`` as a float, refused unless finite and > 0 (jampy reads 0 as its default)."""
    step = float(step_arcsec)
    if not (np.isfinite(step) and step > 0):
        raise ValueError(
            f"step_arcsec must be finite and > 0, got {step_arcsec} (None for jampy's default, "
            "min(sigmapsf)/4)"
        )
    return step


@dataclasses.dataclass(frozen=True)
class PSF:
    """A PSF as a sum of circular Gaussians, plus square pixels (jampy's conventions).

    Parameters
    ----------
    sigma_arcsec : tuple of float, shape (n_psf,)
        Dispersions of the Gaussians, arcsec (jampy's ``sigmapsf``).
    weights : tuple of float, shape (n_psf,)
        Their relative weights, summing to 1 (jampy's ``normpsf``).
    pixsize_arcsec : float
        Side of the square spaxels, arcsec (jampy's ``pixsize``). Their orientation in the
        galaxy frame (jampy's ``pixang``) follows from the position angle of the data.
    """

    sigma_arcsec: tuple[float, ...]
    weights: tuple[float, ...]
    pixsize_arcsec: float

    def __post_init__(self):
        sig = np.atleast_1d(np.asarray(self.sigma_arcsec, float))
        w = np.atleast_1d(np.asarray(self.weights, float))
        object.__setattr__(self, "sigma_arcsec", tuple(float(v) for v in sig))
        object.__setattr__(self, "weights", tuple(float(v) for v in w))
        if sig.size == 0 or sig.size != w.size:
            raise ValueError(
                f"PSF needs one weight per Gaussian: got {sig.size} sigma(s) and {w.size} weight(s)"
            )
        if not np.all(np.isfinite(sig)) or np.any(sig <= 0):
            raise ArgumentError(
                f"PSF sigmas{{sigma_ref}} must be finite and positive arcsec, got {sig.tolist()}",
                sigma_ref="",
            )
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ArgumentError(
                f"PSF weights{{weights_ref}} must be finite and non-negative, got {w.tolist()}",
                weights_ref="",
            )
        if abs(w.sum() - 1) > 1e-3:
            raise ArgumentError(
                f"PSF weights{{weights_ref}} must sum to 1, got {w.tolist()} (sum {w.sum():.6g})",
                weights_ref="",
            )
        if not (np.isfinite(self.pixsize_arcsec) and self.pixsize_arcsec > 0):
            raise ArgumentError(
                f"{{pixsize_arcsec}} must be finite and positive, got {self.pixsize_arcsec}"
            )

    @property
    def default_step_arcsec(self) -> float:
        """jampy's default Cartesian step, ``min(sigma)/4``."""
        return min(self.sigma_arcsec) / 4

    @property
    def reach_arcsec(self) -> float:
        """Half-width of the kernel, ``3 max(sigma) + pixsize/√2`` (as jampy)."""
        return 3 * max(self.sigma_arcsec) + self.pixsize_arcsec / np.sqrt(2)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def psf_kernel(psf: PSF, step_arcsec: float, pixang_deg: float = 0.0) -> np.ndarray:
    """PSF ⊗ pixel kernel on a square grid (Cappellari 2008, eq. A6), as in jampy.

    ``pixang_deg`` is jampy's ``pixang``: the angle of the spaxel axes from the galaxy's
    projected major axis (equal to the position angle that rotated the bins).

    Returns
    -------
    ndarray, shape (2 nk + 1, 2 nk + 1)
        Unnormalised kernel (the normalisation cancels in the ratio), nk = ceil(reach/step).
    """
    from scipy.special import erf

    step_arcsec = check_step_arcsec(step_arcsec)
    nk = int(np.ceil(psf.reach_arcsec / step_arcsec))
    if (2 * nk + 1) ** 2 > MAX_GRID_CELLS:
        raise ValueError(
            f"the PSF kernel would have {2 * nk + 1:,} × {2 * nk + 1:,} cells (reach "
            f"{psf.reach_arcsec:.3g} arcsec at a step of {step_arcsec:.3g} arcsec), more than "
            f"{MAX_GRID_CELLS:,}: use a larger step_arcsec"
        )
    k = np.linspace(-nk, nk, 2 * nk + 1) * step_arcsec
    xg, yg = np.meshgrid(k, k)
    if pixang_deg != 0:
        t = np.radians(pixang_deg)
        xg, yg = xg * np.cos(t) - yg * np.sin(t), xg * np.sin(t) + yg * np.cos(t)
    dx = psf.pixsize_arcsec / 2
    sp = np.sqrt(2) * np.asarray(psf.sigma_arcsec)
    xg, yg = xg[..., None], yg[..., None]
    per = (erf((dx - xg) / sp) + erf((dx + xg) / sp)) * (erf((dx - yg) / sp) + erf((dx + yg) / sp))
    return per @ np.asarray(psf.weights)


class CartesianGrid(NamedTuple):
    """Cell-centred Cartesian grid in the galaxy frame, symmetric about the centre (arcsec).

    Attributes
    ----------
    x_1d, y_1d : ndarray, shapes (nx,), (ny,)
        Cell centres along the major and minor axes, arcsec.
    step_arcsec : float
    """

    x_1d: np.ndarray
    y_1d: np.ndarray
    step_arcsec: float

    @classmethod
    def covering(cls, x_arcsec, y_arcsec, psf: PSF, step_arcsec: float | None = None):
        """Grid covering the bins plus the kernel's reach (jampy's construction, but a box).

        Raises
        ------
        ValueError
            For a step that is not finite and > 0, or a grid of more than
            :data:`MAX_GRID_CELLS` cells (a PSF Gaussian far narrower than the bins' field).
        """
        step = psf.default_step_arcsec if step_arcsec is None else check_step_arcsec(step_arcsec)
        mx = psf.reach_arcsec
        half_x = float(np.max(np.abs(x_arcsec))) + mx
        half_y = float(np.max(np.abs(y_arcsec))) + mx
        nx = int(np.ceil(half_x / step))
        ny = int(np.ceil(half_y / step))
        if 4 * nx * ny > MAX_GRID_CELLS:
            why = (f"jampy's default step min(sigmapsf)/4 = {step:.3g} arcsec"
                   if step_arcsec is None else f"step_arcsec = {step:.3g}")  # fmt: skip
            raise ArgumentError(
                f"the PSF convolution grid would have {2 * ny:,} × {2 * nx:,} cells "
                f"(~{4 * nx * ny * 2e3 / 2**30:,.0f} GiB to build), more than the "
                f"{MAX_GRID_CELLS:,} allowed: {why} over bins reaching "
                f"{half_x - mx:.3g} × {half_y - mx:.3g} arcsec plus the kernel's reach "
                f"{mx:.3g} arcsec. Check {{sigmapsf}} (is {min(psf.sigma_arcsec):g} arcsec meant?)"
                "{or_step}",
                or_step=", or pass a larger step_arcsec",
            )
        return cls(
            np.linspace(0.5 - nx, nx - 0.5, 2 * nx) * step,
            np.linspace(0.5 - ny, ny - 0.5, 2 * ny) * step,
            step,
        )

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)``, the image shape."""
        return (self.y_1d.size, self.x_1d.size)

    def bilinear(self, x_arcsec, y_arcsec):
        """Bilinear weights at points: (flat cell indices, weights), each shape (n, 4)."""
        fx = (np.asarray(x_arcsec) - self.x_1d[0]) / self.step_arcsec
        fy = (np.asarray(y_arcsec) - self.y_1d[0]) / self.step_arcsec
        ix = np.clip(np.floor(fx).astype(int), 0, self.x_1d.size - 2)
        iy = np.clip(np.floor(fy).astype(int), 0, self.y_1d.size - 2)
        tx, ty = fx - ix, fy - iy
        nx = self.x_1d.size
        idx = np.stack([iy * nx + ix, iy * nx + ix + 1, (iy + 1) * nx + ix, (iy + 1) * nx + ix + 1])
        w = np.stack([(1 - tx) * (1 - ty), tx * (1 - ty), (1 - tx) * ty, tx * ty])
        return idx.T, w.T


class _Cells(NamedTuple):
    surf: np.ndarray  # (ny*nx,) MGE surface brightness, Lsun/pc²
    den: np.ndarray  # (ny*nx,) PSF ⊗ Σ
    spline_design: object  # sparse (ny*nx, n_coef); rows of inner cells are zero
    coef: np.ndarray  # (n_coef, n_nodes)
    outer: np.ndarray  # (ny*nx,) r_max / r beyond the grid's outer radius, else 1
    kernel: np.ndarray
    inner_idx: np.ndarray  # (n_in,) flat indices of cells inside r_min
    inner: InnerPoints


def _cells(grid: PolarGrid, mge: MGE, cart: CartesianGrid, psf: PSF, pixang_deg) -> _Cells:
    from scipy.signal import fftconvolve

    re = mge.effective_radius_arcsec()
    xc, yc = np.meshgrid(cart.x_1d, cart.y_1d)
    xc, yc = xc.ravel(), yc.ravel()
    r = np.hypot(xc, yc) / re
    spline = polar_spline(grid, np.log(r), np.arctan2(np.abs(yc), np.abs(xc)))
    surf = mge.surface_brightness(xc, yc)
    kernel = psf_kernel(psf, cart.step_arcsec, pixang_deg)
    den = fftconvolve(surf.reshape(cart.shape), kernel, mode="same").ravel()
    inside = r < grid.r_min_re
    design = spline.design.multiply((~inside)[:, None]).tocsr()
    idx = np.nonzero(inside)[0]
    inner = inner_points(grid, r[idx], np.arctan2(np.abs(yc[idx]), np.abs(xc[idx])))
    outer = np.where(r > grid.r_max_re, grid.r_max_re / r, 1.0)
    return _Cells(surf, den, design, spline.coef, outer, kernel, idx, inner)


class ConvolutionParts(NamedTuple):
    """PSF-convolved V² at bins, as fixed arrays (see :func:`jaxjam.core.forward.apply_operator`).

    Attributes
    ----------
    w : tuple of ndarray, shape (n_bins, n_nodes) each
        Linear maps of each component's node values (cells outside r_min), in the order of
        ``outer_powers``.
    g_inner : ndarray, shape (n_bins, n_in)
        Weights of the cells inside r_min, whose values come from the power-law extension.
    inner : InnerPoints
        Those cells' interpolation data.
    """

    w: tuple
    g_inner: np.ndarray
    inner: InnerPoints


def convolution_operator(
    grid: PolarGrid,
    mge: MGE,
    x_arcsec,
    y_arcsec,
    psf: PSF,
    step_arcsec: float | None = None,
    pixang_deg: float = 0.0,
    chunk: int = 32,
    outer_powers: tuple[float, ...] = (0.0, 1.0),
) -> ConvolutionParts:
    """The fixed arrays from component node values to PSF-convolved V² at bins.

    Parameters
    ----------
    grid : PolarGrid
        The model grid of the A and B maps.
    mge : MGE
        The galaxy's photometry (Σ weights the convolution).
    x_arcsec, y_arcsec : array_like, shape (n_bins,)
        Bin centres in the galaxy frame (x along the projected major axis), arcsec.
    psf : PSF
        PSF and pixel size.
    step_arcsec : float, optional
        Cartesian step (default ``min(sigma)/4``, as jampy).
    pixang_deg : float
        jampy's ``pixang`` (see :func:`psf_kernel`).
    chunk : int
        Bins per block (bounds memory at ``chunk × n_cells`` floats).
    outer_powers : tuple of float
        Per component, how its map is extrapolated beyond the grid's outer radius:
        ``(r_max/r)**p`` times the edge value (:attr:`jaxjam.core.components.Component.outer_power`;
        default: the stars' 0 and the black hole's 1).

    Returns
    -------
    ConvolutionParts
        ``V²_conv / unit = Σ_k m_k (W_k @ C_k.ravel() + g_inner @ C_k,in)``, with ``C_k,in``
        the power-law extensions at the inner cells, ``m_k`` the components' scalings
        (:func:`jaxjam.core.components.scalings`) and ``unit = G L_tot/R_e``
        (:func:`jaxjam.core.scaling.v2_unit_kms2`).
    """
    x = np.asarray(x_arcsec, float)
    y = np.asarray(y_arcsec, float)
    cart = CartesianGrid.covering(x, y, psf, step_arcsec)
    c = _cells(grid, mge, cart, psf, pixang_deg)
    idx, w = cart.bilinear(x, y)
    ny, nx = cart.shape
    kern = c.kernel
    nk = kern.shape[0] // 2
    powers = sorted(set(float(p) for p in outer_powers))
    # Σ · (outer factor) · spline design, once per distinct outer power
    sd = {p: c.spline_design.multiply((c.surf * c.outer**p)[:, None]).tocsr() for p in powers}
    is_inner = np.zeros(ny * nx, bool)
    is_inner[c.inner_idx] = True
    inner_pos = np.full(ny * nx, -1)
    inner_pos[c.inner_idx] = np.arange(c.inner_idx.size)
    # Bins in chunks of neighbours (tiles of ~the kernel's size): each chunk then touches only
    # the box its kernels cover, not the whole grid (701 AO bins of NGC 4342: 28 s → a few).
    iy0, ix0 = np.divmod(idx[:, 0], nx)
    tile = max(2 * nk + 1, 1)
    order = np.lexsort((ix0, ix0 // tile, iy0 // tile))
    wk = {p: np.zeros((x.size, c.coef.shape[0])) for p in powers}
    g_in = np.zeros((x.size, c.inner_idx.size))
    for start in range(0, x.size, chunk):
        bins = order[start : start + chunk]
        cy, cx = np.divmod(idx[bins], nx)  # (n, 4) cells of each bin
        # the box of real cells the chunk's kernels reach: [y0, y1) × [x0, x1)
        y0, y1 = max(cy.min() - nk, 0), min(cy.max() + nk + 1, ny)
        x0, x1 = max(cx.min() - nk, 0), min(cx.max() + nk + 1, nx)
        g = np.zeros((bins.size, y1 - y0 + 2 * nk, x1 - x0 + 2 * nk))  # kernel never clipped
        for j, b in enumerate(bins):
            for cell, wt in zip(idx[b], w[b], strict=True):
                iy, ix = divmod(int(cell), nx)
                g[j, iy - y0 : iy - y0 + 2 * nk + 1, ix - x0 : ix - x0 + 2 * nk + 1] += (
                    wt / c.den[cell]
                ) * kern
        g = g[:, nk : nk + y1 - y0, nk : nk + x1 - x0].reshape(bins.size, -1)
        cells = (np.arange(y0, y1)[:, None] * nx + np.arange(x0, x1)[None, :]).ravel()
        for p in powers:
            wk[p][bins] = (sd[p][cells].T @ g.T).T
        inner = is_inner[cells]
        g_in[np.ix_(bins, inner_pos[cells[inner]])] = g[:, inner] * c.surf[cells[inner]]
    at_nodes = {p: wk[p] @ c.coef for p in powers}
    return ConvolutionParts(tuple(at_nodes[float(p)] for p in outer_powers), g_in, c.inner)


def convolve_fft(
    grid: PolarGrid,
    mge: MGE,
    x_arcsec,
    y_arcsec,
    psf: PSF,
    step_arcsec=None,
    pixang_deg=0.0,
    outer_powers: tuple[float, ...] = (0.0, 1.0),
):
    """The FFT route as a pure JAX function of the node values (reference implementation).

    Returns
    -------
    callable
        ``f(maps, scalings)`` → dimensionless convolved V² at the bins, shape (n_bins,);
        ``maps`` has shape (n_components, n_r, n_theta) and ``scalings`` (n_components,)
        (:func:`jaxjam.core.components.scalings`), one per entry of ``outer_powers``. Linear in
        its inputs, jit- and grad-compatible. Multiply by ``G L_tot/R_e`` for (km/s)².
    """
    import jax.numpy as jnp
    from jax.scipy.signal import fftconvolve

    x = np.asarray(x_arcsec, float)
    y = np.asarray(y_arcsec, float)
    cart = CartesianGrid.covering(x, y, psf, step_arcsec)
    c = _cells(grid, mge, cart, psf, pixang_deg)
    design = c.spline_design.tocsr()
    cols = jnp.asarray(design.indices.reshape(-1, 16))
    vals = jnp.asarray(design.data.reshape(-1, 16))
    coef = jnp.asarray(c.coef)
    surf = jnp.asarray(c.surf)
    outer = [jnp.asarray(c.outer ** float(p)) for p in outer_powers]
    kern, den = jnp.asarray(c.kernel), jnp.asarray(c.den)
    idx, w = cart.bilinear(x, y)
    idx, w = jnp.asarray(idx), jnp.asarray(w)
    inner = InnerPoints(*(jnp.asarray(a) for a in c.inner[:2]), c.inner.slope_dlogr)

    def at_cells(nodes):
        v = jnp.sum(vals * (coef @ nodes.ravel())[cols], axis=1)
        return v.at[c.inner_idx].set(inner_power_law(nodes, inner))

    def f(maps, scalings):
        v2 = sum(scalings[k] * outer[k] * at_cells(maps[k]) for k in range(len(outer)))
        num = fftconvolve((surf * v2).reshape(cart.shape), kern, mode="same").ravel()
        return jnp.sum(w * (num / den)[idx], axis=1)

    return f
