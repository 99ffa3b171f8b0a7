"""The jampy-in-the-loop log-posterior that the reference sampler (emcee) explores.

Same data, PSF and priors as ``jaxjam fit``'s defaults: uniform in q_int ∈ (0.051, q'min),
ratio, log10 M_BH and log10 M/L within :class:`jaxjam.inference.PriorBounds`, and a Gaussian
likelihood of ``jam.axi.proj``'s PSF-convolved Vrms at jampy's default accuracy.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

__all__ = ["JampyLogPosterior", "jampy_vrms", "start_ball"]


def jampy_vrms(galaxy, theta, psf: bool = True, **jampy_kw) -> np.ndarray:
    """jampy's ``jam.axi.proj`` Vrms (km/s) at a galaxy's bins, shape (n_bins,).

    Parameters
    ----------
    galaxy : jaxjam.inference.Galaxy
        MGE (used as both tracer and potential, scaled by M/L), bins, distance and PSF.
    theta : sequence of 4 floats
        (q_int, ratio, log10 M_BH, log10 M/L).
    psf : bool
        Convolve with the galaxy's PSF (if it has one).
    **jampy_kw
        Passed to ``jam.axi.proj`` (``nang``, ``nlos``, ...).
    """
    import jampy as jam

    from jaxjam.geometry import beta_eq37, inc_from_q_int

    q, ratio, lg_mbh, lg_ml = theta
    m, k, p = galaxy.mge, galaxy.kinematics, galaxy.psf
    if psf and p is not None:
        jampy_kw = {"sigmapsf": list(p.sigma_arcsec), "normpsf": list(p.weights),
                    "pixsize": p.pixsize_arcsec, **jampy_kw}  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        out = jam.axi.proj((m.surf_lsun_pc2, m.sigma_arcsec, m.qobs),
                           (m.surf_lsun_pc2 * 10**lg_ml, m.sigma_arcsec, m.qobs),
                           inc_from_q_int(q, m.qobs_min), 10**lg_mbh, galaxy.distance_mpc,
                           k.x_arcsec, k.y_arcsec, beta=beta_eq37(ratio), plot=False, quiet=True,
                           **jampy_kw)  # fmt: skip
    return out.model


def start_ball(rng, n_walkers: int, bounds) -> np.ndarray:
    """Walker starts, shape (n_walkers, 4): a small ball around jampy's capfit solution of the
    M32 example (``jaxjam/data/m32_capfit.json``), inside the prior bounds."""
    import json
    from importlib import resources

    from jaxjam.inference import PARAM_NAMES

    ref = json.loads((resources.files("jaxjam") / "data" / "m32_capfit.json").read_text())
    centre = np.array([ref[k][0] for k in PARAM_NAMES])
    width = np.array([min(ref[k][1], 0.05) for k in PARAM_NAMES])
    start = centre + width * rng.standard_normal((n_walkers, len(PARAM_NAMES)))
    return np.clip(start, bounds[:, 0] + 1e-3, bounds[:, 1] - 1e-3)


class JampyLogPosterior:
    """Picklable callable ``θ → log p(θ | data)`` (up to a constant) over jampy.

    Parameters
    ----------
    galaxy : jaxjam.inference.Galaxy
        MGE, kinematics, distance and PSF.
    bounds : ndarray, shape (4, 2)
        Prior bounds of (q_int, ratio, log10 M_BH, log10 M/L).
    **jampy_kw
        Passed to ``jam.axi.proj`` (default: jampy's own accuracy settings).
    """

    def __init__(self, galaxy, bounds, **jampy_kw):
        self.galaxy = galaxy
        self.bounds = np.asarray(bounds, float)
        self.jampy_kw = jampy_kw

    def __call__(self, theta) -> float:
        theta = np.asarray(theta, float)
        if np.any(theta <= self.bounds[:, 0]) or np.any(theta >= self.bounds[:, 1]):
            return -np.inf
        k = self.galaxy.kinematics
        v = jampy_vrms(self.galaxy, theta, **self.jampy_kw)
        if not np.all(np.isfinite(v)):
            return -np.inf
        return float(-0.5 * np.sum(((k.vrms_kms - v) / k.vrms_err_kms) ** 2))
