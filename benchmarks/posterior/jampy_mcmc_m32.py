"""jampy-in-the-loop MCMC on the M32 example: the reference posterior for ``jaxjam demo``.

emcee (affine-invariant ensemble) over padded ``jam.axi.proj`` (:mod:`jaxjam.reference.jam`) at
jampy's default accuracy (nang 15, nlos 30; ``jampy_mcmc_reweight.py`` then reweights to the
converged settings), with the
same data, PSF and priors as ``jaxjam fit``'s defaults (uniform in q_int ∈ (0.051, q'min),
ratio ∈ [0.5, 1], log10 M_BH ∈ [4, 10.5], log10 M/L ∈ [−1, 1.5]). Walkers start in a small
ball around jampy's capfit solution (``src/jaxjam/data/m32_capfit.json``). The chain is saved in an
HDF5 backend after every step: a killed run resumes where it stopped when rerun.

    python -m benchmarks.posterior.jampy_mcmc_m32 [--steps 3000 --walkers 16 --workers 2 --seed 0]

Writes benchmarks/out/jampy_mcmc_m32.h5 (chain) and jampy_mcmc_m32.json (medians, 68%
intervals, autocorrelation times, ESS per second).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from benchmarks._common import machine_info, write_json
from jaxjam.inference import PARAM_NAMES, PriorBounds
from jaxjam.reference.jam import JampySettings
from jaxjam.testing.jampy_posterior import JampyLogPosterior, start_ball
from jaxjam.testing.m32 import m32_galaxy

#: jampy's own default accuracy, padded: fast enough for 32,000 calls.
DEFAULT_ACCURACY = JampySettings(nang=15, nlos=30)

G = m32_galaxy()
BOUNDS = PriorBounds().resolve(G.mge.qobs_min)
log_prob = JampyLogPosterior(G, BOUNDS, DEFAULT_ACCURACY)


def main():
    import emcee

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--walkers", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    outdir = Path(__file__).parents[1] / "out"
    outdir.mkdir(exist_ok=True)
    backend = emcee.backends.HDFBackend(outdir / "jampy_mcmc_m32.h5")
    done = backend.iteration if (outdir / "jampy_mcmc_m32.h5").exists() else 0
    rng = np.random.default_rng(args.seed)
    start = None
    if done == 0:
        backend.reset(args.walkers, len(PARAM_NAMES))
        start = start_ball(rng, args.walkers, BOUNDS)
    from multiprocessing import Pool

    t0 = time.perf_counter()
    with Pool(args.workers) as pool:
        sampler = emcee.EnsembleSampler(args.walkers, len(PARAM_NAMES), log_prob, pool=pool,
                                        backend=backend)  # fmt: skip
        sampler.random_state = np.random.RandomState(args.seed + done).get_state()
        sampler.run_mcmc(start, max(args.steps - done, 0), progress=True)
    wall = time.perf_counter() - t0
    chain = backend.get_chain(discard=backend.iteration // 3, flat=True)
    tau = backend.get_autocorr_time(discard=backend.iteration // 3, quiet=True)
    n_eff = chain.shape[0] / np.max(tau)
    res = {"machine": machine_info(), "steps": backend.iteration, "walkers": args.walkers,
           "wall_s_this_run": wall, "steps_this_run": args.steps - done,
           "autocorr_time_steps": tau.tolist(), "ess_min": float(n_eff),
           "ess_per_s": float(n_eff / wall) if args.steps > done else None,
           "posterior": {k: {"median": float(np.median(chain[:, i])),
                             "p16": float(np.percentile(chain[:, i], 16)),
                             "p84": float(np.percentile(chain[:, i], 84))}
                         for i, k in enumerate(PARAM_NAMES)}}  # fmt: skip
    write_json(outdir / "jampy_mcmc_m32.json", res)
    print(json.dumps(res["posterior"], indent=1))


if __name__ == "__main__":
    main()
