"""The jampy reference: every call of jampy's ``jam.axi.proj`` in jaxjam goes through here.

jaxjam's ground truth is Cappellari's JAM (``jam.axi.proj``, moment 'zz', the eq.-37
anisotropy), converged and padded. This module owns the three things that make a jampy call
that truth (``../shared/DESIGN.md``, "The reference model"):

- **Padding.** jampy 9.0.2 changes its answer when a negligible outer Gaussian is appended to
  an MGE whose outermost Gaussians are round (−0.8% to −2.3% in the mean at the bins of
  mgefit's NGC 5831 and NGC 4342). Every MGE that jampy sees here is padded
  (:func:`padded`), which gives the converged answer.
- **M/L and M_BH.** ``jam.axi.proj(..., mbh=M, ml=Υ)`` models a black hole of Υ·M. Calls here
  take the black-hole mass itself (``mbh_msun``) and pass ``mbh = mbh_msun / ml``.
- **Named settings** (:class:`JampySettings`), measured on real photometry by
  ``benchmarks/labels/reference_settings.py`` against nang 45 / nlos 800:

  - :data:`LABELS` (nang 15, nlos 120): the shipped model's training labels; 0.2% p99 on M32
    but 2–8% at p99 on NGC 5831's grid;
  - :data:`CONVERGED` (nang 30, nlos 120): refinement maps and certificates. At IFU bins
    through the PSF: ≤ 0.016% (M32's 175 AO bins) and ≤ 0.033% (the NGC 4342 mock's 701 AO
    bins) at worst, no worse than nlos 300 at 60% of its cost; on the grid ≤ 0.01% (M32),
    0.07–0.2% p99 (NGC 5831), 0.1–0.2% (NGC 4342) (DESIGN.md's table). 3–4 s a call, 6–10×
    :data:`LABELS`;
  - :data:`REFERENCE` (nang 45, nlos 800): for measuring the others only.

Two kinds of call:

- :func:`grid_maps`: the component maps A (per unit M/L) and B (per unit black-hole mass) on
  the model's polar grid, without PSF, for a normalised MGE (the training labels, the
  refinement maps and, through the exact layer, a certificate's truth);
- :func:`vrms_at_bins`: jampy's own PSF- and pixel-convolved Vrms at a galaxy's bins (mocks,
  the jampy-in-the-loop reference sampler, tests).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io

import numpy as np

from jaxjam.core.components import DEFAULT, Component
from jaxjam.core.constants import pc_per_arcsec
from jaxjam.core.errors import ArgumentError
from jaxjam.core.geometry import beta_eq37, check_q_int, check_ratio, inc_from_q_int
from jaxjam.core.grid import PolarGrid
from jaxjam.core.mge import MGE
from jaxjam.core.scaling import v2_unit_kms2

__all__ = [
    "CONVERGED",
    "LABELS",
    "REFERENCE",
    "STATUS_A_NONPOSITIVE",
    "STATUS_B_NONPOSITIVE",
    "STATUS_NONFINITE",
    "STATUS_OK",
    "ComponentMaps",
    "JampyScale",
    "JampySettings",
    "grid_maps",
    "jampy_version",
    "padded",
    "vrms_at_bins",
]


@dataclasses.dataclass(frozen=True)
class JampySettings:
    """Accuracy settings of a jampy call, and the padding and black-hole conventions used.

    Parameters
    ----------
    nang : int
        jampy's angular resolution of the spectral Jeans solver (jampy's default, 15). It
        dominates the accuracy for real photometry, and the cost (the solve is dense).
    nlos : int
        Points of jampy's line-of-sight quadrature (jampy's default, 30). It matters mostly for
        thin, nearly face-on galaxies (q_int < 0.1).
    pad_surf_factor, pad_sigma_factor : float
        The negligible outer Gaussian appended to every MGE
        (:meth:`jaxjam.core.mge.MGE.padded_outer`).
    bh_ref_fraction : float
        For :func:`grid_maps`: reference black-hole mass, in units of L_tot (with Υ = 1), at
        which B is taken as jampy's linear response.
    bh_max_fraction : float
        For :func:`grid_maps`: largest M_BH/(Υ L_tot) for which a map is checked to be
        physical. B itself can be negative far from the black hole, where jampy's linear
        response to it oscillates around zero; only V² matters.
    """

    nang: int = 15
    nlos: int = 120
    pad_surf_factor: float = 1e-4
    pad_sigma_factor: float = 3.0
    bh_ref_fraction: float = 3e-3
    bh_max_fraction: float = 1e-2

    def __post_init__(self):
        if int(self.nang) < 4 or int(self.nlos) < 4:
            raise ValueError(f"jampy settings need nang, nlos ≥ 4, got {self.nang}, {self.nlos}")
        if not (0 < self.pad_surf_factor < 1e-2 and self.pad_sigma_factor > 1):
            raise ValueError("the padding Gaussian must be negligible: 0 < pad_surf_factor < "
                             "1e-2 and pad_sigma_factor > 1")  # fmt: skip

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


#: The shipped model's training labels (and jampy's default nang).
LABELS = JampySettings(nang=15, nlos=120)
#: Converged: refinement maps and certificates.
CONVERGED = JampySettings(nang=30, nlos=120)
#: The reference against which the others were measured (too slow for anything else).
REFERENCE = JampySettings(nang=45, nlos=800)


@dataclasses.dataclass(frozen=True)
class JampyScale:
    """Physical scale at which jampy is run for a normalised MGE.

    The Jeans solution in units of G L_tot/R_e is scale free, but jampy's line-of-sight
    quadrature places its nodes in absolute parsecs (``lambertw(1/lims)`` in ``vmom_proj``),
    so its output depends slightly on distance and size: ~1% at the default ``nlos=30``,
    < 0.1% at ``nlos=120`` (``benchmarks/labels/label_accuracy.py``). Labels use a typical
    early-type galaxy (R_e = 10 arcsec at 10 Mpc, 485 pc); a galaxy's own scale gives direct
    jampy calls bit for bit.
    """

    distance_mpc: float = 10.0
    re_arcsec: float = 10.0
    lum_lsun: float = 1e10

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


STATUS_OK = 0
STATUS_A_NONPOSITIVE = 1  # V² <= 0 somewhere for the stellar potential
# A > 0, but a component's response at its largest checked scaling (the black hole's
# bh_max_fraction) makes V² <= 0 somewhere (in practice near the outer edge, where B
# oscillates): a warning, not unphysical.
STATUS_B_NONPOSITIVE = 2
STATUS_NONFINITE = 3


@dataclasses.dataclass(frozen=True)
class ComponentMaps:
    """Output of :func:`grid_maps`.

    Attributes
    ----------
    maps : ndarray, shape (n_components, n_r, n_theta), float64
        Dimensionless V² maps per unit of each component's scaling (units of G L_tot/R_e), in
        the order of ``components``: A per unit M/L, B per unit M_BH/L_tot.
    status : int
        ``STATUS_OK`` (0) for a physical solution at every node; otherwise the reason not.
    inc_deg : float
        Inclination used, degrees.
    components : tuple of Component
    """

    maps: np.ndarray
    status: int
    inc_deg: float
    components: tuple = DEFAULT

    def __getitem__(self, symbol: str) -> np.ndarray:
        """A component's map by its symbol (``maps["A"]``)."""
        for c, m in zip(self.components, self.maps, strict=True):
            if c.symbol == symbol:
                return m
        raise KeyError(f"no component {symbol!r} in {[c.symbol for c in self.components]}")

    @property
    def physical(self) -> bool:
        """True when V² > 0 at every node for both components."""
        return self.status == STATUS_OK


def jampy_version() -> str:
    import jampy

    return jampy.__version__


def padded(mge: MGE, settings: JampySettings = CONVERGED) -> MGE:
    """The MGE with the settings' negligible outer Gaussian appended (what jampy sees)."""
    return mge.padded_outer(settings.pad_surf_factor, settings.pad_sigma_factor)


def _proj(lum, inc_deg, mbh, distance_mpc, x, y, ratio, ml, settings, pot=None, **kw):
    """One quiet ``jam.axi.proj`` call (moment 'zz'; the potential is the tracer, or ``pot``)."""
    import jampy as jam

    pot = lum if pot is None else pot
    with contextlib.redirect_stdout(io.StringIO()):
        return jam.axi.proj(lum, pot, inc_deg, mbh, distance_mpc, x, y, beta=beta_eq37(ratio),
                            moment="zz", ml=ml, plot=False, quiet=True, nang=int(settings.nang),
                            nlos=int(settings.nlos), **kw)  # fmt: skip


def vrms_at_bins(
    mge: MGE,
    distance_mpc: float,
    x_arcsec,
    y_arcsec,
    q_int: float,
    ratio: float,
    ml: float,
    mbh_msun: float,
    psf=None,
    pixang_deg: float = 0.0,
    settings: JampySettings = CONVERGED,
    step_arcsec: float | None = None,
) -> np.ndarray:
    """jampy's Vrms (km/s) at bins, PSF- and pixel-convolved as jampy does.

    Parameters
    ----------
    mge : MGE
        Photometry (Lsun/pc², arcsec), unpadded (it is padded here); also the potential,
        scaled by ``ml``.
    distance_mpc : float
        Distance, Mpc.
    x_arcsec, y_arcsec : array_like, shape (n_bins,)
        Bins in the galaxy frame (x along the projected major axis), arcsec.
    q_int, ratio : float
        Intrinsic axial ratio of the flattest Gaussian and eq.-37 anisotropy ratio.
    ml : float
        Mass-to-light ratio Υ, Msun/Lsun.
    mbh_msun : float
        Black-hole mass itself, Msun (passed to jampy as ``mbh_msun / ml``).
    psf : jaxjam.core.psf.PSF, optional
        PSF and pixel size; ``None`` for no convolution.
    pixang_deg : float
        Angle of the spaxels' axes in the galaxy frame, degrees (jampy's ``pixang``).
    settings : JampySettings
    step_arcsec : float, optional
        jampy's ``step`` of the convolution grid (default: jampy's, min σ_PSF/4).

    Returns
    -------
    ndarray, shape (n_bins,)
        Vrms, km/s; NaN where jampy's V² ≤ 0 (no physical solution there).
    """
    check_q_int(q_int, mge.qobs_min)
    check_ratio(ratio)
    if not (np.isfinite(ml) and ml > 0 and np.isfinite(mbh_msun) and mbh_msun >= 0):
        raise ArgumentError(
            f"{{ml}} must be positive and {{mbh_msun}} non-negative, got {ml}, {mbh_msun}"
        )
    p = padded(mge, settings)
    lum = (p.surf_lsun_pc2, p.sigma_arcsec, p.qobs)
    kw = {}
    if psf is not None:
        kw = {"sigmapsf": list(psf.sigma_arcsec), "normpsf": list(psf.weights),
              "pixsize": float(psf.pixsize_arcsec), "pixang": float(pixang_deg)}  # fmt: skip
    if step_arcsec is not None:
        from jaxjam.core.psf import check_step_arcsec

        kw["step"] = check_step_arcsec(step_arcsec)  # jampy would read 0 as its default
    inc = float(inc_from_q_int(q_int, mge.qobs_min))
    out = _proj(lum, inc, mbh_msun / ml, distance_mpc, np.asarray(x_arcsec, float),
                np.asarray(y_arcsec, float), ratio, ml, settings, **kw)  # fmt: skip
    vrms = np.asarray(out.model, float)  # jampy returns sqrt(clip(V², 0))
    return np.where(vrms > 0, vrms, np.nan)


def _check_normalized(mge: MGE) -> None:
    re = mge.effective_radius_arcsec()
    lum = mge.luminosity_arcsec2()
    if abs(re - 1) > 1e-6 or abs(lum - 1) > 1e-6:
        raise ValueError(
            "grid_maps needs a normalised MGE (R_e = 1, L_tot = 1); got "
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


def grid_maps(
    mge_norm: MGE,
    q_int: float,
    ratio: float,
    grid: PolarGrid = PolarGrid(),
    settings: JampySettings = LABELS,
    scale: JampyScale = JampyScale(),
    nodes: np.ndarray | None = None,
    components: tuple[Component, ...] = DEFAULT,
    inputs: dict[str, float] | None = None,
) -> ComponentMaps:
    """The component maps by jampy on the polar grid (no PSF), by each component's label.

    For the stars ``A`` is jampy's V² for Υ = 1 and no black hole; for the black hole ``B`` is
    its linear response, ``(V²(Υ=1, M_ref) − A)/M_ref`` with ``M_ref = settings.bh_ref_fraction
    · L_tot``, which reproduces direct jampy calls to ≲ 1e-6 for M_BH/(Υ L_tot) ≤ 1e-2
    (jampy's outer boundary condition makes a black hole alone slightly nonlinear). Each jampy
    call is made once however many labels use it.

    Parameters
    ----------
    mge_norm : MGE
        Normalised MGE (R_e = 1, L_tot = 1), i.e. ``MGE.normalized()[0]``; padded here.
    q_int : float
        Intrinsic axial ratio of the flattest Gaussian, in (0.051, q'min].
    ratio : float
        Anisotropy ratio of eq. (37), in [0.5, 1.5].
    grid : PolarGrid
        Output grid (radii in R_e).
    settings : JampySettings
    scale : JampyScale
        Physical scale of the jampy call (see :class:`JampyScale`).
    nodes : ndarray of bool, shape (n_r, n_theta), optional
        Only compute these nodes (the others are NaN); default all. A certificate needs only
        the nodes that its bins reach.
    components : tuple of Component
        The maps to compute (:mod:`jaxjam.core.components`), the first the stars'.
    inputs : dict, optional
        The per-sample inputs of components that have one, by ``input_name``
        (``{"log10_width_re": 0.3}`` for :data:`~jaxjam.core.components.HALO`).

    Returns
    -------
    ComponentMaps
        With ``status`` judged over the computed nodes.

    Raises
    ------
    ValueError
        Before jampy is called, for a non-normalised MGE, q_int outside the range this MGE
        allows (an inclination below its limit), ratio outside [0.5, 1.5], NaN, or a missing
        or non-finite component input.
    """
    _check_normalized(mge_norm)
    inputs = dict(inputs or {})
    for c in components:
        if c.input_name is not None and not np.isfinite(inputs.get(c.input_name, np.nan)):
            raise ValueError(f"component {c.name!r} needs a finite input {c.input_name!r} "
                             f"(inputs={{{c.input_name!r}: value}}), got {inputs}")  # fmt: skip
    check_q_int(q_int, mge_norm.qobs_min)
    check_ratio(ratio)
    inc = float(inc_from_q_int(q_int, mge_norm.qobs_min))

    lum = _physical_mge(padded(mge_norm, settings), scale)
    x_re, y_re = grid.nodes_xy_re()
    sel = np.ones(grid.shape, bool) if nodes is None else np.asarray(nodes, bool)
    if sel.shape != grid.shape or not sel.any():
        raise ValueError(f"nodes must be a non-empty boolean mask of shape {grid.shape}")
    x = x_re[sel] * scale.re_arcsec
    y = y_re[sel] * scale.re_arcsec
    unit = v2_unit_kms2(scale.lum_lsun, scale.re_arcsec, scale.distance_mpc)
    calls = {}

    def second_moment(mbh_msun=0.0, extra=None):
        """jampy's V² (Υ = 1) with a black hole and extra potential Gaussians (surf in Msun/pc²,
        sigma in arcsec, q), computed once per distinct call."""
        key = (float(mbh_msun), None if extra is None else np.asarray(extra, float).tobytes())
        if key not in calls:
            pot = None
            if extra is not None:
                pot = tuple(
                    np.concatenate([a, np.atleast_1d(e)]) for a, e in zip(lum, extra, strict=True)
                )
            out = _proj(lum, inc, mbh_msun, scale.distance_mpc, x, y, ratio, 1, settings, pot,
                        interp=False)  # fmt: skip
            full = np.full(grid.shape, np.nan)
            full[sel] = np.asarray(out.vel2[2, 2], float)
            calls[key] = full
        return calls[key]

    def label(c):
        if c.input_name is None:
            return c.label(second_moment, scale, settings)
        return c.label(second_moment, scale, settings, float(inputs[c.input_name]))

    maps = np.stack([label(c) / unit for c in components])
    at = maps[:, sel]
    if not np.all(np.isfinite(at)):
        status = STATUS_NONFINITE
    elif np.min(at[0]) <= 0:
        status = STATUS_A_NONPOSITIVE
    elif any(np.min(at[0] + c.max_weight(settings) * at[k]) <= 0
             for k, c in enumerate(components) if c.max_weight is not None):  # fmt: skip
        status = STATUS_B_NONPOSITIVE
    else:
        status = STATUS_OK
    return ComponentMaps(maps=maps, status=status, inc_deg=inc, components=tuple(components))
