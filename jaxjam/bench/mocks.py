"""Mock IFU galaxies: a photometry from the training-set sampler, placed on the sky, observed
by a seeing-limited IFU; the truth drawn from the fit's priors.

Used by the calibration benchmark (kinematics made by jampy) and by the survey benchmark
(kinematics made by the emulator, which is cheap enough for thousands of galaxies).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "DIST_MPC",
    "FWHM_ARCSEC",
    "RE_ARCSEC",
    "MockSetup",
    "draw_setup",
    "emulator_mock",
    "physical_mge",
    "with_noise",
]

DIST_MPC, RE_ARCSEC, LUM_LSUN, FWHM_ARCSEC, SPAXEL_ARCSEC = 20.0, 10.0, 3e10, 1.5, 1.0


class MockSetup(NamedTuple):
    """One mock galaxy before its kinematics are computed.

    Attributes
    ----------
    mge : jaxjam.mge.MGE
        Physical MGE (L_sun/pc², arcsec) at ``DIST_MPC`` with R_e = ``RE_ARCSEC``.
    truth : ndarray, shape (4,)
        (q_int, ratio, log10 M_BH, log10 M/L).
    x_arcsec, y_arcsec : ndarray, shape (n_bins,)
        Square spaxels of ``SPAXEL_ARCSEC`` within 1 R_e.
    psf : jaxjam.psf.PSF
        Gaussian seeing of FWHM ``FWHM_ARCSEC``.
    """

    mge: object
    truth: np.ndarray
    x_arcsec: np.ndarray
    y_arcsec: np.ndarray
    psf: object


def physical_mge(norm):
    """A normalised MGE (R_e = 1, L = 1) → L_sun/pc² and arcsec at ``DIST_MPC``."""
    from jaxjam.constants import pc_per_arcsec
    from jaxjam.mge import MGE

    re_pc = RE_ARCSEC * pc_per_arcsec(DIST_MPC)
    return MGE(norm.surf_lsun_pc2 * LUM_LSUN / re_pc**2, norm.sigma_arcsec * RE_ARCSEC, norm.qobs)


def draw_setup(rng, prior) -> MockSetup:
    """Draw a photometry and a truth from ``prior`` (a :class:`PriorBounds` with explicit
    ratio, log10_mbh and log10_ml ranges; q_int is uniform in (0.051, q'min))."""
    import contextlib
    import io

    from jaxjam.data_gen.sampler import draw_photometry
    from jaxjam.psf import PSF

    with contextlib.redirect_stdout(io.StringIO()):
        mge = physical_mge(draw_photometry(rng).mge)
    truth = np.array([rng.uniform(0.051, mge.qobs_min), rng.uniform(*prior.ratio),
                      rng.uniform(*prior.log10_mbh), rng.uniform(*prior.log10_ml)])  # fmt: skip
    g = np.arange(-RE_ARCSEC, RE_ARCSEC + 1e-9, SPAXEL_ARCSEC)
    xx, yy = np.meshgrid(g, g)
    keep = np.hypot(xx, yy) <= RE_ARCSEC
    psf = PSF((FWHM_ARCSEC / 2.3548,), (1.0,), SPAXEL_ARCSEC)
    return MockSetup(mge, truth, xx[keep], yy[keep], psf)


def with_noise(setup: MockSetup, vrms_kms, rng, noise_frac: float = 0.03):
    """A :class:`~jaxjam.inference.Galaxy` with Gaussian noise of ``noise_frac`` × Vrms."""
    from jaxjam.inference import Galaxy
    from jaxjam.kinematics import Kinematics

    err = noise_frac * vrms_kms
    noisy = vrms_kms + err * rng.standard_normal(vrms_kms.size)
    kin = Kinematics.from_arrays(setup.x_arcsec, setup.y_arcsec, noisy, err)
    return Galaxy(setup.mge, kin, DIST_MPC, setup.psf)


def emulator_mock(rng, prior, emulator):
    """A mock whose kinematics are the emulator's own Vrms + 3% noise (redrawn until the
    emulator calls the truth physical). Returns ``(galaxy, truth)``."""
    from jaxjam.emulator import DomainError

    while True:
        s = draw_setup(rng, prior)
        q, ratio, lg_mbh, lg_ml = s.truth
        try:
            v = emulator.predict_vrms(s.mge, DIST_MPC, q, ratio, 10**lg_ml, 10**lg_mbh,
                                      s.x_arcsec, s.y_arcsec, psf=s.psf)  # fmt: skip
        except DomainError:
            continue
        if np.all(np.isfinite(v)) and np.all(v > 0):
            return with_noise(s, v, rng), s.truth
