"""The jampy-in-the-loop log-posterior that the reference sampler (emcee) explores.

Same data, PSF and priors as ``jaxjam fit``'s defaults: uniform in q_int ∈ (0.051, q'min),
ratio, log10 M_BH and log10 M/L within :class:`jaxjam.inference.PriorBounds`, and a Gaussian
likelihood of ``jam.axi.proj``'s PSF-convolved Vrms at jampy's default accuracy.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

__all__ = ["JampyLogPosterior"]


class JampyLogPosterior:
    """Picklable callable ``θ → log p(θ | data)`` (up to a constant) over jampy.

    Parameters
    ----------
    galaxy : jaxjam.inference.Galaxy
        MGE, kinematics, distance and PSF.
    bounds : ndarray, shape (4, 2)
        Prior bounds of (q_int, ratio, log10 M_BH, log10 M/L).
    """

    def __init__(self, galaxy, bounds):
        self.galaxy = galaxy
        self.bounds = np.asarray(bounds, float)

    def model_vrms(self, theta) -> np.ndarray:
        """jampy's Vrms (km/s) at the bins, shape (n_bins,)."""
        import jampy as jam

        from jaxjam.geometry import beta_eq37, inc_from_q_int

        q, ratio, lg_mbh, lg_ml = theta
        m, k, psf = self.galaxy.mge, self.galaxy.kinematics, self.galaxy.psf
        kw = (
            {"sigmapsf": list(psf.sigma_arcsec), "normpsf": list(psf.weights),
             "pixsize": psf.pixsize_arcsec}
            if psf is not None
            else {}
        )  # fmt: skip
        with contextlib.redirect_stdout(io.StringIO()):
            out = jam.axi.proj((m.surf_lsun_pc2, m.sigma_arcsec, m.qobs),
                               (m.surf_lsun_pc2 * 10**lg_ml, m.sigma_arcsec, m.qobs),
                               inc_from_q_int(q, m.qobs_min), 10**lg_mbh,
                               self.galaxy.distance_mpc, k.x_arcsec, k.y_arcsec,
                               beta=beta_eq37(ratio), plot=False, quiet=True, **kw)  # fmt: skip
        return out.model

    def __call__(self, theta) -> float:
        theta = np.asarray(theta, float)
        if np.any(theta <= self.bounds[:, 0]) or np.any(theta >= self.bounds[:, 1]):
            return -np.inf
        k = self.galaxy.kinematics
        v = self.model_vrms(theta)
        if not np.all(np.isfinite(v)):
            return -np.inf
        return float(-0.5 * np.sum(((k.vrms_kms - v) / k.vrms_err_kms) ** 2))
