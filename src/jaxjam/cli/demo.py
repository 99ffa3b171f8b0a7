"""``jaxjam demo``: fit jampy's own M32 black-hole example with the shipped emulator.

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
    "run_demo",
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

    from jaxjam.cli.bench.jampy_posterior import jampy_vrms
    from jaxjam.reference.jam import CONVERGED, jampy_version

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
        "padded jampy at the recorded settings (jaxjam.cli.demo.capfit_m32)",
    }


def _stored_capfit() -> dict:
    return json.loads((resources.files("jaxjam") / "data" / "m32_capfit.json").read_text())


def stored_jampy_mcmc() -> dict:
    """Posterior of emcee over jampy on the demo's data, PSF and priors (16 walkers × 2,000
    steps, ``benchmarks/jampy_mcmc_m32.py``), importance-reweighted to converged jampy accuracy
    (``benchmarks/jampy_mcmc_reweight.py``): ``{param: [median, σ68]}`` plus provenance, and
    the unweighted posterior at jampy's default accuracy under ``jampy_default_accuracy``."""
    return json.loads((resources.files("jaxjam") / "data" / "m32_jampy_emcee.json").read_text())


def run_demo(out_dir=None, seed: int = 0, run_capfit: bool = False, n_warmup: int = 1000,
             n_samples: int = 1000, progress: bool = True,
             config=None) -> tuple[object, str]:  # fmt: skip
    """Fit M32 with NUTS on the shipped model; return the result and a comparison table.

    Parameters
    ----------
    out_dir : path, optional
        Where to write the ``jaxjam fit`` outputs.
    seed : int
        PRNG seed of the fit.
    run_capfit : bool
        Rerun jampy's capfit example instead of reading the stored result.
    n_warmup, n_samples : int
        Per chain (4 chains).
    config : FitConfig, optional
        Other fit settings (refinement, certificate); its sampler settings are replaced by
        ``n_warmup``, ``n_samples`` and its seed by ``seed``. Default: ``FitConfig()``.
    """
    import dataclasses

    from jaxjam.inference import FitConfig, NUTSConfig, fit
    from jaxjam.inference.priors import PARAM_NAMES
    from jaxjam.inference.report import save_fit

    cfg = dataclasses.replace(config or FitConfig(), seed=seed,
                              nuts=NUTSConfig(n_warmup=n_warmup, n_samples=n_samples))  # fmt: skip
    result = fit(m32_galaxy(), cfg, progress=progress)
    if out_dir is not None:
        save_fit(result, out_dir)
    ref = capfit_m32() if run_capfit else _stored_capfit()
    mcmc = stored_jampy_mcmc()
    s = result.summary
    lines = [
        f"M32 (jampy's black-hole example): {ref['n_bins']} bins, AO PSF, D = 0.7 Mpc",
        f"NUTS: 4 chains x ({n_warmup} warm-up + {n_samples} draws), seed {seed}; "
        f"{result.timing['total_s']:.1f} s wall ({result.timing['compile_s']:.1f} s compile, "
        f"{result.timing['sample_s']:.1f} s sampling, "
        f"{result.timing['refine_s'] + result.timing['certify_s']:.1f} s jampy)",
        "",
        f"{'parameter':<11} {'jaxjam mean ± sd':>20} {'94% HDI':>20} {'R-hat':>6} "
        f"{'ESS':>6}   {'jampy capfit':>16}   {'emcee over jampy':>16}",
    ]
    for name in PARAM_NAMES:
        r = s.loc[name]
        hdi = f"[{r['hdi94_lb']:.3f}, {r['hdi94_ub']:.3f}]"
        cf = f"{ref[name][0]:.3f} ± {ref[name][1]:.3f}"
        mc = f"{mcmc[name][0]:.3f} ± {mcmc[name][1]:.3f}"
        lines.append(f"{name:<11} {r['mean']:>11.3f} ± {r['sd']:<6.3f} {hdi:>20} "
                     f"{r['r_hat']:>6.3f} {r['ess_bulk']:>6.0f}   {cf:>16}   {mc:>16}")  # fmt: skip
    lines += ["", f"emcee over jampy: median ± half the 16-84% range, {mcmc['walkers']} walkers x "
              f"{mcmc['steps']} steps, autocorrelation time {mcmc['autocorr_time_steps']:.0f} "
              "steps (benchmarks/jampy_mcmc_m32.py), reweighted to jampy nlos "
              f"{mcmc['jampy_settings']['nlos']} (benchmarks/jampy_mcmc_reweight.py)"]  # fmt: skip
    table = result.datatree["posterior"].attrs.get("table", "none")
    if table != "none":
        t = json.loads(table)
        lines.append(f"sampled on a {t['nodes'][0]} x {t['nodes'][1]} Chebyshev table of the "
                     f"network (rank {t['rank']}): its log-likelihood is within "
                     f"{t['at_draws']['max_abs_dlogl']:.1e} of the network's at all "
                     f"{t['at_draws']['n_draws']} draws")  # fmt: skip
    from jaxjam.inference.certify import verdict

    lines += ["", verdict(result.certificate)]
    c = result.certificate
    if c and c.get("jam_mean"):
        lines.append(
            "posterior reweighted to jampy (jam_mean ± jam_sd in summary.csv): "
            + ", ".join(f"{k} {c['jam_mean'][k]:.3f} ± {c['jam_sd'][k]:.3f}" for k in PARAM_NAMES)
        )
    if result.problems:
        lines += ["", "warnings: " + "; ".join(result.problems)]
    return result, "\n".join(lines)
