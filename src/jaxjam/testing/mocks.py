"""Mock IFU galaxies: a photometry from the training-set sampler, placed on the sky, observed
by a seeing-limited IFU; the truth drawn from the fit's priors.

Used by the calibration benchmark (kinematics made by jampy) and by the survey benchmark
(kinematics made by the emulator, which is cheap enough for thousands of galaxies).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxjam.inference import PriorBounds

__all__ = [
    "DIST_MPC",
    "FWHM_ARCSEC",
    "REAL_MOCKS",
    "RE_ARCSEC",
    "SURVEY_PRIOR",
    "MockSetup",
    "RealMock",
    "draw_setup",
    "emulator_mock",
    "physical_mge",
    "real_mock",
    "real_photometry",
    "with_noise",
]

DIST_MPC, RE_ARCSEC, LUM_LSUN, FWHM_ARCSEC, SPAXEL_ARCSEC = 20.0, 10.0, 3e10, 1.5, 1.0

#: The survey benchmarks' prior: M_BH within what IFU surveys resolve, Υ within [1, 10].
SURVEY_PRIOR = PriorBounds(ratio=(0.5, 1.0), log10_mbh=(6.0, 9.0), log10_ml=(0.0, 1.0))


class MockSetup(NamedTuple):
    """One mock galaxy before its kinematics are computed.

    Attributes
    ----------
    mge : jaxjam.core.mge.MGE
        Physical MGE (L_sun/pc², arcsec) at ``DIST_MPC`` with R_e = ``RE_ARCSEC``.
    truth : ndarray, shape (4,)
        (q_int, ratio, log10 M_BH, log10 M/L).
    x_arcsec, y_arcsec : ndarray, shape (n_bins,)
        Square spaxels of ``SPAXEL_ARCSEC`` within 1 R_e.
    psf : jaxjam.core.psf.PSF
        Gaussian seeing of FWHM ``FWHM_ARCSEC``.
    """

    mge: object
    truth: np.ndarray
    x_arcsec: np.ndarray
    y_arcsec: np.ndarray
    psf: object


def physical_mge(norm):
    """A normalised MGE (R_e = 1, L = 1) → L_sun/pc² and arcsec at ``DIST_MPC``."""
    from jaxjam.core.constants import pc_per_arcsec
    from jaxjam.core.mge import MGE

    re_pc = RE_ARCSEC * pc_per_arcsec(DIST_MPC)
    return MGE(norm.surf_lsun_pc2 * LUM_LSUN / re_pc**2, norm.sigma_arcsec * RE_ARCSEC, norm.qobs)


def draw_setup(rng, prior) -> MockSetup:
    """Draw a photometry and a truth from ``prior`` (a :class:`PriorBounds` with explicit
    ratio, log10_mbh and log10_ml ranges; q_int is uniform in (0.051, q'min))."""
    import contextlib
    import io

    from jaxjam.core.psf import PSF
    from jaxjam.data_gen.sampler import draw_photometry

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
    from jaxjam.core.kinematics import Kinematics
    from jaxjam.inference import Galaxy

    err = noise_frac * vrms_kms
    noisy = vrms_kms + err * rng.standard_normal(vrms_kms.size)
    kin = Kinematics.from_arrays(setup.x_arcsec, setup.y_arcsec, noisy, err)
    return Galaxy(setup.mge, kin, DIST_MPC, setup.psf)


def emulator_mock(rng, prior, emulator):
    """A mock whose kinematics are the emulator's own Vrms + 3% noise (redrawn until the
    emulator calls the truth physical). Returns ``(galaxy, truth)``."""
    from jaxjam.emulator.emulator import DomainError

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


class RealMock(NamedTuple):
    """A converged-jampy mock of a real galaxy's photometry (see :data:`REAL_MOCKS`).

    Attributes
    ----------
    galaxy : jaxjam.inference.Galaxy
        Photometry in Lsun/pc², bins, noisy Vrms (km/s), distance and PSF.
    truth : ndarray, shape (4,)
        (q_int, ratio, log10 M_BH, log10 M/L); M_BH is the black-hole mass itself.
    vrms_true_kms : ndarray, shape (n_bins,)
        The noiseless converged jampy Vrms.
    settings : dict
        jampy settings of the mock (:data:`jaxjam.reference.jam.CONVERGED`).
    """

    galaxy: object
    truth: np.ndarray
    vrms_true_kms: np.ndarray
    settings: dict


#: The real-photometry mocks of the certified-fits work: mgefit's NGC 4342 (a flat, edge-on
#: S0: AO-like double-Gaussian PSF, 0.2″ spaxels within 3″, 709 bins) and NGC 5831 (seeing
#: of FWHM 1.5″, 0.8″ spaxels within 12″, 709 bins), 2% noise. Photometry scaled to the given
#: total luminosity at the distance; R_e is the MGE's own.
REAL_MOCKS = {
    "NGC4342": dict(distance_mpc=15.3, lum_lsun=2e10, truth=(0.16, 0.85, np.log10(8e8), 0.5),
                    psf=((0.04, 0.4), (0.7, 0.3)), spaxel_arcsec=0.2, radius_arcsec=3.0),
    "NGC5831": dict(distance_mpc=27.0, lum_lsun=5e10, truth=(0.33, 0.8, 8.0, 0.6),
                    psf=((1.5 / 2.3548,), (1.0,)), spaxel_arcsec=0.8, radius_arcsec=12.0),
}  # fmt: skip


def real_photometry(name: str):
    """mgefit's MGE of ``name`` ("NGC4342", "NGC5831") in Lsun/pc² at its mock's distance and
    luminosity (:data:`REAL_MOCKS`)."""
    from jaxjam.core.constants import pc_per_arcsec
    from jaxjam.core.mge import MGE
    from jaxjam.data_gen.real_galaxies import real_galaxy_mges

    spec = REAL_MOCKS[name]
    norm, re_arcsec, _ = real_galaxy_mges()[name].normalized()
    re_pc = re_arcsec * pc_per_arcsec(spec["distance_mpc"])
    return MGE(norm.surf_lsun_pc2 * spec["lum_lsun"] / re_pc**2, norm.sigma_arcsec * re_arcsec,
               norm.qobs)  # fmt: skip


def real_mock(name: str, seed: int = 0, noise_frac: float = 0.02, settings=None) -> RealMock:
    """A mock of a real photometry with converged, padded jampy Vrms and Gaussian noise.

    Parameters
    ----------
    name : str
        A key of :data:`REAL_MOCKS`.
    seed : int
        Seed of the noise.
    noise_frac : float
        1σ error as a fraction of the true Vrms.
    settings : jaxjam.reference.jam.JampySettings, optional
        Default :data:`jaxjam.reference.jam.CONVERGED`.
    """
    from jaxjam.core.kinematics import Kinematics
    from jaxjam.core.psf import PSF
    from jaxjam.inference import Galaxy
    from jaxjam.reference.jam import CONVERGED, vrms_at_bins

    settings = settings or CONVERGED
    spec = REAL_MOCKS[name]
    mge = real_photometry(name)
    h = spec["spaxel_arcsec"]
    g = np.arange(-spec["radius_arcsec"], spec["radius_arcsec"] + 1e-9, h)
    xx, yy = np.meshgrid(g, g)
    keep = np.hypot(xx, yy) <= spec["radius_arcsec"]
    x, y = xx[keep], yy[keep]
    psf = PSF(*spec["psf"], pixsize_arcsec=h)
    q, ratio, lg_mbh, lg_ml = truth = np.array(spec["truth"], float)
    v = vrms_at_bins(mge, spec["distance_mpc"], x, y, q, ratio, 10**lg_ml, 10**lg_mbh, psf,
                     settings=settings)  # fmt: skip
    if not np.all(np.isfinite(v)):
        raise RuntimeError(f"the {name} mock's truth is unphysical at some bins")
    rng = np.random.default_rng(seed)
    err = noise_frac * v
    kin = Kinematics.from_arrays(x, y, v + err * rng.standard_normal(v.size), err)
    return RealMock(Galaxy(mge, kin, spec["distance_mpc"], psf), truth, v, settings.to_dict())
