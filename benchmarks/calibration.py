"""Calibration of the posteriors on mock galaxies whose kinematics were made by jampy itself.

Each mock: a photometry drawn by the training-set sampler (a seed the training set never used),
placed at 20 Mpc with R_e = 10″; true (q_int, ratio, log10 M_BH, log10 M/L) drawn from the very
priors used in the fit, kept where JAM is physical at the bins; a seeing-limited IFU (FWHM
1.5″, 1″ spaxels, field to 1 R_e); Vrms from converged, padded jampy with that PSF
(:func:`jaxjam.reference.vrms_at_bins` at :data:`jaxjam.reference.CONVERGED`); 3%
Gaussian noise. All mocks are fitted in one ``fit_many`` call. Reported: per parameter, the
fraction of mocks whose truth lies inside the central 68% and 95% credible intervals, with the
binomial error.

    python benchmarks/calibration.py [--n 30 --seed 100 --warmup 500 --draws 500]
                                     [--refine-maps 12] [--galaxies-per-step 1]

Writes benchmarks/out/calibration.json and calibration.png.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _common import machine_info, write_json

from jaxjam.bench.mocks import DIST_MPC, FWHM_ARCSEC, draw_setup, with_noise
from jaxjam.bench.survey import SURVEY_PRIOR as PRIOR
from jaxjam.inference import PARAM_NAMES, FitConfig, NUTSConfig, fit_many
from jaxjam.reference import CONVERGED, vrms_at_bins


def make_mock(rng):
    """A mock IFU galaxy (:mod:`jaxjam.bench.mocks`) whose Vrms is jampy's, + 3% noise."""
    while True:
        s = draw_setup(rng, PRIOR)
        q, ratio, lg_mbh, lg_ml = s.truth
        # converged, padded jampy (jaxjam.reference); the truth must be physical where the data
        # are (NaN where V² ≤ 0 at a bin), as the fit's likelihood judges it
        v = vrms_at_bins(s.mge, DIST_MPC, s.x_arcsec, s.y_arcsec, q, ratio, 10**lg_ml,
                         10**lg_mbh, s.psf, settings=CONVERGED)  # fmt: skip
        if np.all(np.isfinite(v)) and np.all(v > 0):
            return with_noise(s, v, rng), s.truth


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--refine-maps", type=int, default=FitConfig().refine_maps,
                    help="jampy maps refining the emulator per mock (0: none)")  # fmt: skip
    ap.add_argument("--galaxies-per-step", type=int, default=1,
                    help="fit_many batching (0: all vmapped in lockstep)")  # fmt: skip
    args = ap.parse_args()
    t0 = time.perf_counter()
    mocks = [make_mock(np.random.default_rng([args.seed, i])) for i in range(args.n)]
    t_mock = time.perf_counter() - t0
    cfg = FitConfig(nuts=NUTSConfig(n_warmup=args.warmup, n_samples=args.draws), bounds=PRIOR,
                    seed=args.seed, refine_maps=args.refine_maps)  # fmt: skip
    results = fit_many([m[0] for m in mocks], cfg, galaxies_per_step=args.galaxies_per_step or None)
    truth = np.array([m[1] for m in mocks])
    cover = {}
    for j, name in enumerate(PARAM_NAMES):
        row = {}
        for level in (0.68, 0.95):
            inside = []
            for r, t in zip(results, truth, strict=True):
                s = r.datatree["posterior"][name].values.ravel()
                lo, hi = np.quantile(s, [(1 - level) / 2, (1 + level) / 2])
                inside.append(lo <= t[j] <= hi)
            sigma = float(np.sqrt(level * (1 - level) / args.n))
            row[f"{level:.2f}"] = {"coverage": float(np.mean(inside)), "binomial_sigma": sigma}
        cover[name] = row
    out = {"machine": machine_info(), "n_mocks": args.n, "seed": args.seed,
           "prior": PRIOR.to_dict(), "noise": "3% of Vrms", "psf_fwhm_arcsec": FWHM_ARCSEC,
           "mock_s": t_mock, "fit_timing": results[0].timing, "coverage": cover,
           "fit_config": cfg.to_dict(),
           "refinement": [r.datatree["posterior"].attrs["jampy_refinement"] for r in results],
           "truth": truth.tolist(),
           "posterior_median": [[float(np.median(r.datatree["posterior"][k].values))
                                 for k in PARAM_NAMES] for r in results],
           "problems": [r.problems for r in results]}  # fmt: skip
    outdir = Path(__file__).parent / "out"
    write_json(outdir / "calibration.json", out)
    print(f"{'parameter':<10} {'68% coverage':>14} {'95% coverage':>14}")
    for name, row in cover.items():
        a, b = row["0.68"], row["0.95"]
        print(
            f"{name:<10} {a['coverage']:>8.2f} ± {a['binomial_sigma']:.2f}"
            f" {b['coverage']:>8.2f} ± {b['binomial_sigma']:.2f}"
        )


if __name__ == "__main__":
    main()
