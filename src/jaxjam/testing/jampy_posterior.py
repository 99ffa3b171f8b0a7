"""The jampy-in-the-loop log-posterior that the reference sampler (emcee) explores.

Same data, PSF and priors as ``jaxjam fit``'s defaults: uniform in q_int ∈ (0.051, q'min),
ratio, log10 M_BH and log10 M/L within :class:`jaxjam.inference.PriorBounds`, and a Gaussian
likelihood of padded jampy's PSF-convolved Vrms (:func:`jaxjam.reference.jam.vrms_at_bins`, through
:func:`jaxjam.inference.certify.jampy_vrms`) at the given
:class:`~jaxjam.reference.jam.JampySettings`
(default: converged).
"""

from __future__ import annotations

import numpy as np

from jaxjam.inference.certify import jampy_vrms as _galaxy_vrms
from jaxjam.reference.jam import CONVERGED, JampySettings

__all__ = ["JampyLogPosterior", "jampy_vrms", "start_ball"]


def jampy_vrms(galaxy, theta, psf: bool = True, settings: JampySettings = CONVERGED) -> np.ndarray:
    """Padded jampy's Vrms (km/s) at a galaxy's bins, shape (n_bins,).

    Parameters
    ----------
    galaxy : jaxjam.inference.Galaxy
        MGE (used as both tracer and potential, scaled by M/L), bins, distance and PSF.
    theta : sequence of 4 floats
        (q_int, ratio, log10 M_BH, log10 M/L).
    psf : bool
        Convolve with the galaxy's PSF (if it has one).
    settings : JampySettings
        jampy's accuracy (default: converged).
    """
    if not psf:
        galaxy = galaxy._replace(psf=None)
    return _galaxy_vrms(galaxy, theta, settings)


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
    settings : JampySettings
        jampy's accuracy (default: converged).
    """

    def __init__(self, galaxy, bounds, settings: JampySettings = CONVERGED):
        self.galaxy = galaxy
        self.bounds = np.asarray(bounds, float)
        self.settings = settings

    def __call__(self, theta) -> float:
        theta = np.asarray(theta, float)
        if np.any(theta <= self.bounds[:, 0]) or np.any(theta >= self.bounds[:, 1]):
            return -np.inf
        k = self.galaxy.kinematics
        v = jampy_vrms(self.galaxy, theta, settings=self.settings)
        if not np.all(np.isfinite(v)):
            return -np.inf
        return float(-0.5 * np.sum(((k.vrms_kms - v) / k.vrms_err_kms) ** 2))
