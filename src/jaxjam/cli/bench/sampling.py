"""Sampling speed: the M32 demo fit with NUTS, and a short run of the jampy-in-the-loop sampler.

ESS per second of the jampy sampler (emcee over ``jam.axi.proj``) needs its autocorrelation
time τ, which a run of a few steps cannot measure. Two figures are therefore reported:

- an **upper bound** on jampy's ESS/s, taking τ = 1 (every walker step an independent draw):
  ``n_walkers / seconds_per_step``. The ratio of jaxjam's ESS/s to it is a strict lower bound
  on the speed-up;
- an **estimate** with τ from a long reference run (``benchmarks/posterior/jampy_mcmc_m32.py``)
when its
  JSON is given.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np

from jaxjam.reference.jam import CONVERGED, JampySettings

__all__ = ["demo_fit", "jampy_sampler"]


def demo_fit(n_warmup: int, n_samples: int, seed: int, progress: bool, emulator=None,
             quick: bool = False) -> dict:  # fmt: skip
    """Time the M32 demo fit (4 chains) and measure its ESS (``quick``: a smoke run of the
    plain network, without refinement)."""
    from jaxjam.inference import FitConfig, NUTSConfig, fit
    from jaxjam.inference.certify import CertifyConfig
    from jaxjam.testing.m32 import m32_galaxy

    # the sampler's speed: the certificate's jampy calls are counted by `jaxjam demo` instead
    cfg = FitConfig(nuts=NUTSConfig(n_warmup=n_warmup, n_samples=n_samples), seed=seed,
                    certify=CertifyConfig(enabled=False))  # fmt: skip
    if quick:
        cfg = dataclasses.replace(cfg, refine_maps=0)
    res = fit(m32_galaxy(), cfg, emulator, progress=progress, warn=False)
    ess = res.summary["ess_bulk"]
    stats = res.datatree["sample_stats"]
    return {
        **res.timing,
        "n_chains": cfg.nuts.n_chains,
        "n_warmup": n_warmup,
        "n_draws": n_samples,
        "seed": seed,
        "ess_bulk": {k: float(v) for k, v in ess.items()},
        "r_hat_max": float(res.summary["r_hat"].max()),
        "min_ess_bulk": float(ess.min()),
        "min_ess_bulk_per_s_total": float(ess.min() / res.timing["total_s"]),
        "min_ess_bulk_per_s_sampling": float(ess.min() / res.timing["sample_s"]),
        "mean_leapfrog_steps": float(stats["n_steps"].values.mean()),
        "divergences": int(stats["diverging"].values.sum()),
        "posterior_mean": {k: float(v) for k, v in res.summary["mean"].items()},
    }


def _jampy_worker_init() -> None:
    """Keep jampy's worker processes off the accelerator: each one imports JAX (through
    jaxjam), and sixteen processes that each open the GPU run it out of memory."""
    os.environ["JAX_PLATFORMS"] = "cpu"


def jampy_sampler(n_walkers: int, n_steps: int, seed: int, workers: int,
                  reference_json=None, progress: bool = False,
                  settings: JampySettings = CONVERGED) -> dict:  # fmt: skip
    """Run emcee over jampy on the M32 example for ``n_steps`` and time it.

    Walkers (at least 8, emcee's 2 × n_dim) start in a small ball around jampy's capfit
    solution; ``workers`` processes evaluate jampy in parallel (1: in this process).
    """
    from multiprocessing import get_context

    import emcee

    from jaxjam.inference import PARAM_NAMES, PriorBounds
    from jaxjam.testing.jampy_posterior import JampyLogPosterior, start_ball
    from jaxjam.testing.m32 import m32_galaxy

    galaxy = m32_galaxy()
    bounds = PriorBounds().resolve(galaxy.mge.qobs_min)
    start = start_ball(np.random.default_rng(seed), n_walkers, bounds)
    logp = JampyLogPosterior(galaxy, bounds, settings)
    with contextlib.ExitStack() as stack:
        pool = None
        if workers > 1:
            pool = stack.enter_context(get_context("spawn").Pool(workers, _jampy_worker_init))
        sampler = emcee.EnsembleSampler(n_walkers, len(PARAM_NAMES), logp, pool=pool)
        sampler.random_state = np.random.RandomState(seed).get_state()
        state = sampler.run_mcmc(start, 1, progress=False)  # start-up of the worker processes
        t0 = time.perf_counter()
        sampler.run_mcmc(state, n_steps, progress=progress)
        wall = time.perf_counter() - t0
    per_step = wall / n_steps
    out = {
        "n_walkers": n_walkers,
        "n_steps": n_steps,
        "workers": workers,
        "seed": seed,
        "jampy_settings": settings.to_dict(),
        "wall_s": wall,
        "seconds_per_step": per_step,
        "seconds_per_jampy_call": per_step * workers / n_walkers,
        "ess_per_s_upper_bound": n_walkers / per_step,
        "ess_per_s_estimate": None,
        "autocorr_time_source": None,
    }
    if reference_json is not None:
        refrun = json.loads(Path(reference_json).read_text())
        tau = float(np.nanmax(refrun["autocorr_time_steps"]))
        if np.isfinite(tau) and tau > 0:
            out["ess_per_s_estimate"] = n_walkers / (tau * per_step)
            out["autocorr_time_steps"] = tau
            out["autocorr_time_source"] = str(reference_json)
    return out
