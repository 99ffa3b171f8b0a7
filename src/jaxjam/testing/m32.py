"""jampy's own M32 black-hole example, the data of ``jaxjam demo`` and of many tests.

Data: jampy's ``examples/jam_mock_kinematics_black_hole.txt`` (found with importlib.resources),
the M32 MGE of Cappellari et al. (2006, Table B1; ``jaxjam/data/m32_mge.txt``), distance
0.7 Mpc and the adaptive-optics PSF σ = (0.04″, 0.4″) with weights (0.7, 0.3) and 0.05″ pixels,
exactly as in ``jampy/examples/jam_black_hole_capfit_example.py``. The posterior is printed
beside the best fit that example's capfit gets on the same data (stored in
``jaxjam/data/m32_capfit.json``, made by :func:`capfit_m32`, or rerun with ``--run-capfit``)
and beside the posterior of emcee over jampy (``jaxjam/data/m32_jampy_emcee.json``).
"""

from __future__ import annotations

import json
from importlib import resources

import numpy as np

from jaxjam.core.kinematics import read_kinematics
from jaxjam.core.mge import read_mge
from jaxjam.core.psf import PSF

__all__ = [
    "M32_DISTANCE_MPC",
    "M32_PSF",
    "capfit_m32",
    "m32_galaxy",
    "stored_capfit",
    "stored_jampy_mcmc",
]

M32_DISTANCE_MPC = 0.7
M32_PSF = PSF(sigma_arcsec=(0.04, 0.4), weights=(0.7, 0.3), pixsize_arcsec=0.05)


def m32_galaxy():
    """jampy's M32 black-hole example as a :class:`jaxjam.inference.Galaxy`."""
    from jaxjam.inference import Galaxy

    mge = read_mge(resources.files("jaxjam") / "data" / "m32_mge.txt")
    kin = read_kinematics(
        resources.files("jampy") / "examples" / "jam_mock_kinematics_black_hole.txt"
    )
    return Galaxy(mge, kin, M32_DISTANCE_MPC, M32_PSF)


def capfit_m32(settings=None) -> dict:
    """Rerun the fit of ``jampy/examples/jam_black_hole_capfit_example.py`` (same start,
    bounds, data and PSF) with padded jampy at ``settings`` (default: converged,
    :data:`jaxjam.reference.jam.CONVERGED`), and return its best fit with the example's scaled
    errors.

    Takes ~50 jampy calls (a few minutes at converged settings).
    """
    import capfit

    from jaxjam.reference.jam import CONVERGED, jampy_version
    from jaxjam.testing.jampy_posterior import jampy_vrms

    settings = CONVERGED if settings is None else settings
    g = m32_galaxy()
    kin = g.kinematics
    bh0, qmin = 2e6, g.mge.qobs_min
    p0 = [0.5, 1.0, bh0, 0.0]
    bounds = [[0.051, 0.5, bh0 / 10, -2], [qmin, 1.0, bh0 * 10, 2]]

    def residuals(pars):
        q, ratio, mbh, lg_ml = pars
        model = jampy_vrms(g, (q, ratio, np.log10(mbh), lg_ml), settings=settings)
        return (kin.vrms_kms - np.nan_to_num(model)) / kin.vrms_err_kms

    res = capfit.capfit(residuals, p0, bounds=bounds, verbose=0, abs_step=0.01)
    dof = kin.vrms_kms.size - int((res.x_err > 0).sum())
    err = res.x_err * np.sqrt(res.chi2 / dof)
    q, ratio, mbh, lg_ml = res.x
    return {
        "q_int": [float(q), float(err[0])],
        "ratio": [float(ratio), float(err[1])],
        "log10_mbh": [float(np.log10(mbh)), float(err[2] / (mbh * np.log(10)))],
        "log10_ml": [float(lg_ml), float(err[3])],
        "chi2": float(res.chi2),
        "n_bins": int(kin.vrms_kms.size),
        "jampy_version": jampy_version(),
        "jampy_settings": settings.to_dict(),
        "source": "start, bounds, data and PSF of jampy/examples/jam_black_hole_capfit_example.py, "
        "padded jampy at the recorded settings (jaxjam.testing.m32.capfit_m32)",
    }


def stored_capfit() -> dict:
    """jampy's capfit best fit on the demo's data (:func:`capfit_m32`, stored)."""
    return json.loads((resources.files("jaxjam") / "data" / "m32_capfit.json").read_text())


def stored_jampy_mcmc() -> dict:
    """Posterior of emcee over jampy on the demo's data, PSF and priors (16 walkers × 2,000
    steps, ``benchmarks/posterior/jampy_mcmc_m32.py``), importance-reweighted to converged jampy
    accuracy
    (``benchmarks/posterior/jampy_mcmc_reweight.py``): ``{param: [median, σ68]}`` plus provenance,
    and
    the unweighted posterior at jampy's default accuracy under ``jampy_default_accuracy``."""
    return json.loads((resources.files("jaxjam") / "data" / "m32_jampy_emcee.json").read_text())
