"""Realistic early-type-galaxy photometry as MGEs, and the prior on the JAM parameters.

A photometry is a sum of up to three components, each a 1D profile turned into an MGE by
mgefit's ``fit_1d`` (Cappellari 2002) and given its own flattening:

- a **spheroid**: a Sérsic profile of index n (log-uniform over 0.5–10), optionally a
  core-Sérsic (Graham et al. 2003) with a break radius 3e-3–0.1 R_e and inner slope γ ≤ 0.3,
  or with a central power-law cusp; its q' varies slowly with radius (a gradient plus scatter,
  as in real MGEs such as M32's);
- a **disc** (60% of galaxies): exponential, flattened down to q' = 0.15, D/T up to 0.9 and
  scale lengths 0.2–4 × the spheroid's R_e (S0s and disky ellipticals such as NGC 4342);
- a **nucleus** (40%): a compact Sérsic of size 1e-3–3e-2 R_e holding 0.03–3% of the light;
- for the emulator v2 (off by default, so that the shipped model's training set is regenerated
  bit for bit): an **inner disc** (``p_inner_disc``), a flat exponential of scale 0.005–0.15
  R_e inside a spheroid that may be round (NGC 4342's nuclear disc, NGC 5831's flat inner
  Gaussians), and q_int drawn log-uniformly for a fraction ``q_int_log_fraction`` of the draws,
  which fills the corner of nearly face-on, intrinsically flat models (q' ≈ 0.9, q_int ≈ 0.08)
  where the shipped network is 40–150% off.

Every MGE is returned normalised (R_e = 1, L_tot = 1). Everything is drawn from a
``numpy.random.Generator`` passed in by the caller, so a sample is a pure function of its seed.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import numpy as np

from jaxjam.core.geometry import Q_INT_MIN, RATIO_RANGE
from jaxjam.core.mge import MGE

__all__ = [
    "DESCRIPTOR_NAMES",
    "INNER_DISC_DESCRIPTORS",
    "V1_DESCRIPTOR_KEYS",
    "Photometry",
    "SamplerConfig",
    "descriptor_names",
    "draw_jam_parameters",
    "draw_photometry",
    "profile_descriptors",
]

#: Names of the per-photometry generating parameters stored beside each sample.
DESCRIPTOR_NAMES = (
    "sersic_n",
    "disc_fraction",
    "disc_scale",
    "disc_q",
    "break_radius",
    "inner_slope",
    "nucleus_fraction",
    "nucleus_radius",
    "spheroid_q",
    "qobs_min",
)
#: Appended to :data:`DESCRIPTOR_NAMES` when the sampler draws inner discs.
INNER_DISC_DESCRIPTORS = ("inner_disc_fraction", "inner_disc_scale", "inner_disc_q")


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """Distribution of galaxy photometries and JAM parameters. Ranges are (low, high).

    Radii of the disc and nucleus are in units of the spheroid's Sérsic R_e; the final MGE is
    renormalised to the R_e of the whole galaxy.
    """

    sersic_n: tuple[float, float] = (0.5, 10.0)  # log-uniform
    spheroid_q: tuple[float, float] = (0.3, 1.0)
    q_gradient_per_dex: tuple[float, float] = (-0.12, 0.12)
    q_scatter: float = 0.02
    p_core: float = 0.25
    break_radius: tuple[float, float] = (3e-3, 0.1)  # log-uniform
    core_inner_slope: tuple[float, float] = (0.0, 0.3)
    p_cusp: float = 0.25
    cusp_inner_slope: tuple[float, float] = (0.5, 1.2)
    p_disc: float = 0.6
    disc_fraction: tuple[float, float] = (0.05, 0.9)
    disc_scale: tuple[float, float] = (0.2, 4.0)  # log-uniform, R_d / R_e,spheroid
    disc_q: tuple[float, float] = (0.15, 0.6)
    p_nucleus: float = 0.4
    nucleus_fraction: tuple[float, float] = (3e-4, 3e-2)  # log-uniform
    nucleus_radius: tuple[float, float] = (1e-3, 3e-2)  # log-uniform
    nucleus_n: tuple[float, float] = (0.8, 3.0)
    nucleus_q: tuple[float, float] = (0.5, 1.0)
    q_floor: float = 0.12
    ngauss_spheroid: int = 16
    ngauss_disc: int = 10
    ngauss_nucleus: int = 8
    n_max_gauss: int = 40
    ratio: tuple[float, float] = RATIO_RANGE
    p_inner_disc: float = 0.0
    inner_disc_fraction: tuple[float, float] = (3e-3, 0.15)  # log-uniform, of the total light
    inner_disc_scale: tuple[float, float] = (5e-3, 0.15)  # log-uniform, R_d / R_e,spheroid
    inner_disc_q: tuple[float, float] = (0.12, 0.6)
    ngauss_inner_disc: int = 5
    q_int_log_fraction: float = 0.0

    def __post_init__(self):
        for name in ("p_core", "p_cusp", "p_disc", "p_nucleus", "p_inner_disc",
                     "q_int_log_fraction"):  # fmt: skip
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"SamplerConfig.{name} must be a probability in [0, 1]")
        if self.p_core + self.p_cusp > 1.0:
            raise ValueError("SamplerConfig: p_core + p_cusp must be ≤ 1")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def descriptor_names(config: SamplerConfig = SamplerConfig()) -> tuple[str, ...]:
    """Names of the descriptors a sampler of this config stores, in order."""
    extra = INNER_DISC_DESCRIPTORS if config.p_inner_disc > 0 else ()
    return DESCRIPTOR_NAMES + extra


class Photometry(NamedTuple):
    """A drawn galaxy photometry.

    Attributes
    ----------
    mge : MGE
        Normalised MGE (R_e = 1, L_tot = 1).
    descriptors : ndarray, shape (len(descriptor_names(config)),), float64
        Generating parameters, in the order of :func:`descriptor_names` (0 for absent
        components).
    """

    mge: MGE
    descriptors: np.ndarray


def _log_uniform(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _sersic_b(n):
    # Ciotti & Bertin (1999) asymptotic expansion, accurate to < 1e-4 for n > 0.36.
    return 2 * n - 1 / 3 + 4 / (405 * n) + 46 / (25515 * n**2) + 131 / (1148175 * n**3)


def _profile(r, n, break_radius=0.0, inner_slope=0.0, alpha=4.0):
    """Sérsic (R_e = 1) or core-Sérsic (Graham et al. 2003, eq. 2) profile, up to a constant."""
    b = _sersic_b(n)
    if break_radius <= 0:
        return np.exp(-b * (r ** (1 / n) - 1))
    rb = break_radius
    inner = (1 + (rb / r) ** alpha) ** (inner_slope / alpha)
    outer = np.exp(-b * (((r**alpha + rb**alpha) ** (1 / alpha)) ** (1 / n) - 1))
    return inner * outer


def _fit_1d(radius, profile, ngauss):
    """mgefit's 1D MGE fit → (surf of each Gaussian along the major axis, sigma)."""
    from mgefit import fit_1d

    m = fit_1d(radius, profile, ngauss=ngauss, plot=False, quiet=True)
    counts, sigma = m.sol
    keep = counts > 0
    return counts[keep] / (np.sqrt(2 * np.pi) * sigma[keep]), sigma[keep]


def _fit_radii(n, rmin, dynamic_range=1e-6, npts=200, **kw):
    """Log-spaced radii from rmin to where the profile drops by `dynamic_range` (≤ 100 R_e)."""
    r = np.geomspace(rmin, 100.0, 2000)
    p = _profile(r, n, **kw)
    rmax = r[np.nonzero(p >= dynamic_range * _profile(np.array([1.0]), n, **kw))[0][-1]]
    return np.geomspace(rmin, max(rmax, 10 * rmin), npts)


@functools.cache
def _exponential_disc_mge(ngauss):
    """MGE of an exponential disc with scale length 1 (shape is fixed: fit once, then scale)."""
    r = np.geomspace(1e-3, 25.0, 200)
    return _fit_1d(r, np.exp(-r), ngauss)


def _component_light(surf, sigma, q):
    return float(np.sum(2 * np.pi * surf * sigma**2 * q))


def draw_photometry(rng: np.random.Generator, config: SamplerConfig = SamplerConfig()):
    """Draw one galaxy photometry.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (the only one).
    config : SamplerConfig
        Distribution to draw from.

    Returns
    -------
    Photometry
    """
    c = config
    # --- spheroid
    n = _log_uniform(rng, *c.sersic_n)
    kind = rng.uniform()
    break_radius, inner_slope = 0.0, 0.0
    if kind < c.p_core:
        break_radius = _log_uniform(rng, *c.break_radius)
        inner_slope = rng.uniform(*c.core_inner_slope)
    elif kind < c.p_core + c.p_cusp:
        break_radius = _log_uniform(rng, *c.break_radius)
        inner_slope = rng.uniform(*c.cusp_inner_slope)
    alpha = rng.uniform(2.0, 8.0)
    kw = dict(break_radius=break_radius, inner_slope=inner_slope, alpha=alpha)
    r = _fit_radii(n, 1e-4, **kw)
    s_surf, s_sigma = _fit_1d(r, _profile(r, n, **kw), c.ngauss_spheroid)
    q0 = rng.uniform(*c.spheroid_q)
    grad = rng.uniform(*c.q_gradient_per_dex)
    s_q = q0 + grad * np.log10(s_sigma) + c.q_scatter * rng.standard_normal(s_sigma.size)
    s_q = np.clip(s_q, c.q_floor, 1.0)
    surfs, sigmas, qs = [s_surf], [s_sigma], [s_q]
    l_sph = _component_light(s_surf, s_sigma, s_q)

    # --- disc
    disc_fraction = disc_scale = disc_q = 0.0
    if rng.uniform() < c.p_disc:
        disc_fraction = rng.uniform(*c.disc_fraction)
        disc_scale = _log_uniform(rng, *c.disc_scale)
        disc_q = rng.uniform(*c.disc_q)
        d_surf, d_sigma = _exponential_disc_mge(c.ngauss_disc)
        d_sigma = d_sigma * disc_scale
        d_q = np.clip(disc_q + c.q_scatter * rng.standard_normal(d_sigma.size), c.q_floor, 1.0)
        target = disc_fraction / (1 - disc_fraction) * l_sph
        d_surf = d_surf * target / _component_light(d_surf, d_sigma, d_q)
        surfs.append(d_surf)
        sigmas.append(d_sigma)
        qs.append(d_q)

    # --- inner (nuclear) disc: drawn only when enabled, so the v1 stream is unchanged
    inner = ()
    if c.p_inner_disc > 0:
        inner = (0.0, 0.0, 0.0)
        if rng.uniform() < c.p_inner_disc:
            frac = _log_uniform(rng, *c.inner_disc_fraction)
            scale = _log_uniform(rng, *c.inner_disc_scale)
            q_in = rng.uniform(*c.inner_disc_q)
            i_surf, i_sigma = _exponential_disc_mge(c.ngauss_inner_disc)
            i_sigma = i_sigma * scale
            i_q = np.clip(q_in + c.q_scatter * rng.standard_normal(i_sigma.size), c.q_floor, 1)
            l_rest = sum(_component_light(s, g, q) for s, g, q in zip(surfs, sigmas, qs,
                                                                       strict=True))  # fmt: skip
            i_surf = i_surf * frac / (1 - frac) * l_rest / _component_light(i_surf, i_sigma, i_q)
            surfs.append(i_surf)
            sigmas.append(i_sigma)
            qs.append(i_q)
            inner = (frac, scale, q_in)

    # --- nucleus
    nucleus_fraction = nucleus_radius = 0.0
    if rng.uniform() < c.p_nucleus:
        nucleus_fraction = _log_uniform(rng, *c.nucleus_fraction)
        nucleus_radius = _log_uniform(rng, *c.nucleus_radius)
        n_nuc = rng.uniform(*c.nucleus_n)
        rn = _fit_radii(n_nuc, 1e-3)
        n_surf, n_sigma = _fit_1d(rn, _profile(rn, n_nuc), c.ngauss_nucleus)
        n_sigma = n_sigma * nucleus_radius
        n_q = np.full(n_sigma.size, rng.uniform(*c.nucleus_q))
        l_rest = sum(_component_light(s, g, q) for s, g, q in zip(surfs, sigmas, qs, strict=True))
        target = nucleus_fraction / (1 - nucleus_fraction) * l_rest
        n_surf = n_surf * target / _component_light(n_surf, n_sigma, n_q)
        surfs.append(n_surf)
        sigmas.append(n_sigma)
        qs.append(n_q)

    mge = MGE(np.concatenate(surfs), np.concatenate(sigmas), np.concatenate(qs))
    mge_norm = mge.normalized()[0]
    if mge_norm.n_gauss > c.n_max_gauss:
        raise RuntimeError(f"sampler produced {mge_norm.n_gauss} > {c.n_max_gauss} Gaussians")
    desc = np.array(
        [n, disc_fraction, disc_scale, disc_q, break_radius, inner_slope, nucleus_fraction,
         nucleus_radius, q0, mge_norm.qobs_min, *inner]
    )  # fmt: skip
    return Photometry(mge_norm, desc)


def draw_jam_parameters(rng: np.random.Generator, qobs_min: float, config=SamplerConfig()):
    """Draw (q_int, ratio): q_int uniform over (0.051, q'min) (log-uniform for a fraction
    ``config.q_int_log_fraction`` of the draws), ratio uniform over ``config.ratio``.

    Returns
    -------
    q_int, ratio : float
    """
    log = config.q_int_log_fraction > 0 and rng.uniform() < config.q_int_log_fraction
    lo, hi = (np.log(Q_INT_MIN), np.log(qobs_min)) if log else (Q_INT_MIN, qobs_min)

    def draw():
        v = rng.uniform(lo, hi)
        return float(np.exp(v)) if log else v

    q_int = draw()
    while q_int <= Q_INT_MIN:  # the open lower end; happens with probability ~0
        q_int = draw()
    ratio = rng.uniform(*config.ratio)
    return float(q_int), float(ratio)


#: Radii (R_e) at which :func:`profile_descriptors` measures the circularised log slope.
DESCRIPTOR_RADII = (3e-3, 3e-2, 0.3, 1.0, 3.0)


def profile_descriptors(mge: MGE) -> dict[str, float]:
    """Shape descriptors of an MGE, used to check that samples cover real galaxies.

    Parameters
    ----------
    mge : MGE
        Any MGE (it is normalised first).

    Returns
    -------
    dict
        ``slope_<r>``: logarithmic slope d log Σ / d log R of the circularised profile at
        each radius of :data:`DESCRIPTOR_RADII` (in R_e); ``qobs_min``; ``q_light``: the
        luminosity-weighted mean q' of the Gaussians within 0.1–3 R_e; ``q_inner_min``: the
        smallest q' of the Gaussians of width 3e-3–0.3 R_e; ``q_outer_minus_inner``:
        ``q_light − q_inner_min``; ``q_spread``: the luminosity-weighted sd of q' over
        widths 3e-3–3 R_e.
    """
    m = mge.normalized()[0]
    sig = m.sigma_arcsec * np.sqrt(m.qobs)  # circularised, conserving light
    peak = m.surf_lsun_pc2 * m.sigma_arcsec**2 * m.qobs / sig**2
    out = {}
    for rad in DESCRIPTOR_RADII:
        g = peak * np.exp(-0.5 * (rad / sig) ** 2)
        out[f"slope_{rad:g}"] = float(-(g @ (rad / sig) ** 2) / g.sum())
    out["qobs_min"] = m.qobs_min
    lum = 2 * np.pi * m.surf_lsun_pc2 * m.sigma_arcsec**2 * m.qobs
    w = lum * ((m.sigma_arcsec > 0.1) & (m.sigma_arcsec < 3))
    out["q_light"] = float((w @ m.qobs) / w.sum()) if w.sum() > 0 else float(m.qobs @ lum)
    # v2: flat inner structure in a round galaxy (NGC 5831), round and flat Gaussians at the
    # same radii (NGC 4342)
    inner = lum * ((m.sigma_arcsec > 3e-3) & (m.sigma_arcsec < 0.3))
    out["q_inner_min"] = float(m.qobs[inner > 0].min()) if np.any(inner > 0) else 1.0
    out["q_outer_minus_inner"] = out["q_light"] - out["q_inner_min"]
    w = lum * ((m.sigma_arcsec > 3e-3) & (m.sigma_arcsec < 3))
    mean = (w @ m.qobs) / w.sum()
    out["q_spread"] = float(np.sqrt(w @ (m.qobs - mean) ** 2 / w.sum()))
    return out


#: The descriptors of :func:`profile_descriptors` that the v1 sampler was checked on; the
#: others describe the inner discs the v2 sampler adds.
V1_DESCRIPTOR_KEYS = (*(f"slope_{r:g}" for r in DESCRIPTOR_RADII), "qobs_min", "q_light")
