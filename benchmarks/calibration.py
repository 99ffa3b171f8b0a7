"""Calibration of the posteriors on mock galaxies whose kinematics were made by jampy itself.

Each mock: a photometry drawn by the training-set sampler (a seed the training set never used),
placed at 20 Mpc with R_e = 10″; true (q_int, ratio, log10 M_BH, log10 M/L) drawn from the very
priors used in the fit; a seeing-limited IFU (FWHM 1.5″, 1″ spaxels, field to 1 R_e);
Vrms from ``jam.axi.proj`` with that PSF (padded MGE, nang 15, nlos 120); 3% Gaussian noise.
All mocks are fitted in one ``fit_many`` call. Reported: per parameter, the fraction of mocks
whose truth lies inside the central 68% and 95% credible intervals, with the binomial error.

    python benchmarks/calibration.py [--n 30 --seed 100 --warmup 500 --draws 500]

Writes benchmarks/out/calibration.json and calibration.png.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
from pathlib import Path

import numpy as np
from _common import machine_info, write_json

from jaxjam.constants import pc_per_arcsec
from jaxjam.data_gen.sampler import draw_photometry
from jaxjam.geometry import beta_eq37, inc_from_q_int
from jaxjam.inference import PARAM_NAMES, FitConfig, Galaxy, NUTSConfig, PriorBounds, fit_many
from jaxjam.kinematics import Kinematics
from jaxjam.mge import MGE
from jaxjam.psf import PSF

DIST_MPC, RE_ARCSEC, LUM = 20.0, 10.0, 3e10
PRIOR = PriorBounds(ratio=(0.5, 1.0), log10_mbh=(6.0, 9.0), log10_ml=(0.0, 1.0))
FWHM = 1.5


def physical_mge(norm: MGE) -> MGE:
    re_pc = RE_ARCSEC * pc_per_arcsec(DIST_MPC)
    return MGE(norm.surf_lsun_pc2 * LUM / re_pc**2, norm.sigma_arcsec * RE_ARCSEC, norm.qobs)


def make_mock(rng) -> tuple[Galaxy, np.ndarray]:
    import jampy as jam

    while True:
        mge = physical_mge(draw_photometry(rng).mge)
        qmin = mge.qobs_min
        truth = np.array([rng.uniform(0.051, qmin), rng.uniform(*PRIOR.ratio),
                          rng.uniform(*PRIOR.log10_mbh), rng.uniform(*PRIOR.log10_ml)])  # fmt: skip
        g = np.arange(-RE_ARCSEC, RE_ARCSEC + 1e-9, 1.0)
        xx, yy = np.meshgrid(g, g)
        keep = np.hypot(xx, yy) <= RE_ARCSEC
        x, y = xx[keep], yy[keep]
        p = mge.padded_outer(1e-4, 3.0)
        with contextlib.redirect_stdout(io.StringIO()):
            v = jam.axi.proj((p.surf_lsun_pc2, p.sigma_arcsec, p.qobs),
                             (p.surf_lsun_pc2 * 10 ** truth[3], p.sigma_arcsec, p.qobs),
                             inc_from_q_int(truth[0], qmin), 10 ** truth[2], DIST_MPC, x, y,
                             sigmapsf=FWHM / 2.3548, normpsf=1.0, pixsize=1.0,
                             beta=beta_eq37(truth[1]), nang=15, nlos=120, plot=False,
                             quiet=True).model  # fmt: skip
        if np.all(np.isfinite(v)) and np.all(v > 0):
            err = 0.03 * v
            kin = Kinematics.from_arrays(x, y, v + err * rng.standard_normal(v.size), err)
            return Galaxy(mge, kin, DIST_MPC, PSF((FWHM / 2.3548,), (1.0,), 1.0)), truth


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--draws", type=int, default=500)
    args = ap.parse_args()
    t0 = time.perf_counter()
    mocks = [make_mock(np.random.default_rng([args.seed, i])) for i in range(args.n)]
    t_mock = time.perf_counter() - t0
    cfg = FitConfig(nuts=NUTSConfig(n_warmup=args.warmup, n_samples=args.draws), bounds=PRIOR,
                    seed=args.seed)  # fmt: skip
    results = fit_many([m[0] for m in mocks], cfg)
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
           "prior": PRIOR.to_dict(), "noise": "3% of Vrms", "psf_fwhm_arcsec": FWHM,
           "mock_s": t_mock, "fit_timing": results[0].timing, "coverage": cover,
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
