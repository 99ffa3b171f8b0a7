"""The jampy reference wrapper: unconvolved component maps A and B on the model's polar grid.

For a normalised MGE (R_e = 1, L_tot = 1), an intrinsic axial ratio ``q_int`` and an anisotropy
``ratio`` (eq. 37 of Cappellari 2026), jampy's ``jam.axi.proj`` (moment 'zz', no PSF) is run at
the grid nodes to give

- ``A``: V_rms² per unit M/L of the stellar potential, in units of G L_tot / R_e;
- ``B``: V_rms² per unit black-hole mass M_BH/L_tot, in the same units,

so that ``V² = (G L_tot/R_e) (Υ A + (M_BH/L_tot) B)`` (see :mod:`jaxjam.scaling`).

jampy's Jeans solution is linear in the potential except for its outer Robin boundary
condition (Cappellari 2026, eqs. 21–22), which depends on log-slopes of the circular velocity.
A black hole alone (zero stellar potential) therefore gives a B that is off by up to
~1e-4 for M_BH/M* ~ 1e-2. B is instead taken as jampy's linear response at a reference black
hole, ``B = (V²(Υ=1, M_ref) − A)/M_ref`` with ``M_ref = 3e-3 L_tot``, which reproduces direct
jampy calls to ≲ 1e-6 for M_BH/(Υ L_tot) ≤ 1e-2 (measured in ``tests/test_jam_labels.py``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxjam.constants import pc_per_arcsec
from jaxjam.geometry import beta_eq37, check_q_int, check_ratio, inc_from_q_int
from jaxjam.grid import PolarGrid
from jaxjam.mge import MGE
from jaxjam.scaling import v2_unit_kms2

__all__ = [
    "STATUS_A_NONPOSITIVE",
    "STATUS_B_NONPOSITIVE",
    "STATUS_NONFINITE",
    "STATUS_OK",
    "ComponentMaps",
    "JampyScale",
    "LabelConfig",
    "component_maps",
    "jampy_version",
]


@dataclasses.dataclass(frozen=True)
class JampyScale:
    """Physical scale at which jampy is run for a normalised MGE.

    The Jeans solution in units of G L_tot/R_e is scale free, but jampy's line-of-sight
    quadrature places its nodes in absolute parsecs (``lambertw(1/lims)`` in ``vmom_proj``),
    so its output depends slightly on distance and size: ~1% at the default ``nlos=30``,
    < 0.1% at ``nlos=120`` (``benchmarks/label_accuracy.py``). Labels use a typical
    early-type galaxy (R_e = 10 arcsec at 10 Mpc, 485 pc); tests pass a galaxy's own scale to
    compare with direct jampy calls bit for bit.
    """

    distance_mpc: float = 10.0
    re_arcsec: float = 10.0
    lum_lsun: float = 1e10

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


STATUS_OK = 0
STATUS_A_NONPOSITIVE = 1  # V² <= 0 somewhere for the stellar potential: unphysical
# A > 0, but jampy's linear response to a black hole of bh_max_fraction makes V² <= 0
# somewhere (in practice near the outer edge, where B oscillates): a warning, not unphysical.
STATUS_B_NONPOSITIVE = 2
STATUS_NONFINITE = 3


@dataclasses.dataclass(frozen=True)
class LabelConfig:
    """Settings of the jampy label computation.

    Parameters
    ----------
    nang : int
        jampy's angular resolution of the spectral Jeans solver (jampy's default, 15).
    nlos : int
        Points of jampy's line-of-sight quadrature. jampy's default of 30 leaves Vrms errors of
        0.2% (median) and 5% (p99) over 1e-3–3 R_e against a converged reference; thin,
        nearly face-on galaxies (q_int < 0.1) need ~120 points to stay below ~1%
        (``benchmarks/label_accuracy.py``). 120 costs ~1.4× the time of 60, since jampy's
        dense Jeans solve dominates.
    pad_surf_factor, pad_sigma_factor : float
        The negligible outer Gaussian added against jampy 9.0.2's near-round MGE error
        (see :meth:`jaxjam.mge.MGE.padded_outer`).
    bh_ref_fraction : float
        Reference black-hole mass, in units of L_tot (with Υ = 1), at which B is taken as
        jampy's linear response.
    bh_max_fraction : float
        Largest M_BH/(Υ L_tot) for which a sample is checked to be physical. B itself can be
        negative far from the black hole, where jampy's linear response to it oscillates
        around zero (its spectral solution near the outer boundary); only V² matters.
    """

    nang: int = 15
    nlos: int = 120
    pad_surf_factor: float = 1e-4
    pad_sigma_factor: float = 3.0
    bh_ref_fraction: float = 3e-3
    bh_max_fraction: float = 1e-2

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ComponentMaps:
    """Output of :func:`component_maps`.

    Attributes
    ----------
    A, B : ndarray, shape (n_r, n_theta), float64
        Dimensionless V² maps per unit M/L and per unit M_BH/L_tot (units of G L_tot/R_e).
    status : int
        ``STATUS_OK`` (0) for a physical solution; otherwise the reason it is not.
    inc_deg : float
        Inclination used, degrees.
    """

    A: np.ndarray
    B: np.ndarray
    status: int
    inc_deg: float

    @property
    def physical(self) -> bool:
        """True when V² > 0 at every node for both components."""
        return self.status == STATUS_OK


def jampy_version() -> str:
    import jampy

    return jampy.__version__


def _check_normalized(mge: MGE) -> None:
    re = mge.effective_radius_arcsec()
    lum = mge.luminosity_arcsec2()
    if abs(re - 1) > 1e-6 or abs(lum - 1) > 1e-6:
        raise ValueError(
            "component_maps needs a normalised MGE (R_e = 1, L_tot = 1); got "
            f"R_e = {re:.6g}, L_tot = {lum:.6g}. Use `mge.normalized()[0]`."
        )


def _physical_mge(mge_norm: MGE, scale: JampyScale):
    """Normalised MGE → jampy units (Lsun/pc², arcsec) at a physical scale."""
    re_pc = scale.re_arcsec * pc_per_arcsec(scale.distance_mpc)
    return (
        np.asarray(mge_norm.surf_lsun_pc2) * scale.lum_lsun / re_pc**2,
        np.asarray(mge_norm.sigma_arcsec) * scale.re_arcsec,
        np.asarray(mge_norm.qobs),
    )


def component_maps(
    mge_norm: MGE,
    q_int: float,
    ratio: float,
    grid: PolarGrid = PolarGrid(),
    config: LabelConfig = LabelConfig(),
    scale: JampyScale = JampyScale(),
) -> ComponentMaps:
    """Compute the A and B maps with jampy on the polar grid.

    Parameters
    ----------
    mge_norm : MGE
        Normalised MGE (R_e = 1, L_tot = 1), i.e. ``MGE.normalized()[0]``. Not padded: the
        padding of ``config`` is applied here.
    q_int : float
        Intrinsic axial ratio of the flattest Gaussian, in (0.051, q'min].
    ratio : float
        Anisotropy ratio of eq. (37), in [0.5, 1.5].
    grid : PolarGrid
        Output grid (radii in R_e).
    config : LabelConfig
        jampy settings.
    scale : JampyScale
        Physical scale of the jampy call (see :class:`JampyScale`).

    Returns
    -------
    ComponentMaps

    Raises
    ------
    ValueError
        Before jampy is called, for a non-normalised MGE, q_int outside the range this MGE
        allows (an inclination below its limit), ratio outside [0.5, 1.5], or NaN.
    """
    import jampy as jam

    _check_normalized(mge_norm)
    check_q_int(q_int, mge_norm.qobs_min)
    check_ratio(ratio)
    inc = float(inc_from_q_int(q_int, mge_norm.qobs_min))

    padded = mge_norm.padded_outer(config.pad_surf_factor, config.pad_sigma_factor)
    surf, sigma, qobs = _physical_mge(padded, scale)
    x_re, y_re = grid.nodes_xy_re()
    x = (x_re * scale.re_arcsec).ravel()
    y = (y_re * scale.re_arcsec).ravel()
    beta = beta_eq37(ratio)
    unit = v2_unit_kms2(scale.lum_lsun, scale.re_arcsec, scale.distance_mpc)
    m_ref = config.bh_ref_fraction * scale.lum_lsun

    def second_moment(mbh):
        out = jam.axi.proj(
            [surf, sigma, qobs], [surf, sigma, qobs], inc, mbh, scale.distance_mpc, x, y,
            beta=beta, moment="zz", ml=1, plot=False, quiet=True, interp=False,
            nang=config.nang, nlos=config.nlos,
        )  # fmt: skip
        return np.asarray(out.vel2[2, 2], float).reshape(grid.shape)

    v2_star = second_moment(0.0)
    v2_bh = second_moment(m_ref)
    A = v2_star / unit
    B = (v2_bh - v2_star) / m_ref * scale.lum_lsun / unit

    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(B))):
        status = STATUS_NONFINITE
    elif np.min(A) <= 0:
        status = STATUS_A_NONPOSITIVE
    elif np.min(A + config.bh_max_fraction * B) <= 0:
        status = STATUS_B_NONPOSITIVE
    else:
        status = STATUS_OK
    return ComponentMaps(A=A, B=B, status=status, inc_deg=inc)
