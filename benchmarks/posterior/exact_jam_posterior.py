"""JAM's own posterior of a calibration mock by quadrature, beside the certified fit's.

At fixed (q_int, ratio) jampy's V² is linear in Υ and M_BH, so two converged, padded jampy
calls give JAM's likelihood exactly on the whole (M_BH, M/L) plane
(:mod:`jaxjam.inference.planes`). On a grid of (q_int, ratio) those planes' integrals are JAM's
2-D marginal posterior (uniform priors, the fit's default box); with each plane's exact
conditional moments, this is JAM's posterior without any sampler or emulator. The grid must
cover the posterior: the script prints the mass on its edges.

    python -m benchmarks.posterior.exact_jam_posterior [--index 3 --seed 300 --q 0.066,0.090,9
        --ratio 0.82,0.92,11 --split-mbh 7.8 --fit]

``--fit`` also runs the default certified fit of the same mock (seed ``seed + index``, as in
``benchmarks/survey/survey_throughput.py``) and prints its NUTS and reweighted moments. Writes
benchmarks/out/exact_jam_posterior_<seed>_<index>.json. About 3 minutes for 99 planes on 2 cores
(plus the fit's 3–6 minutes).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks._common import machine_info, single_thread_blas, write_json

single_thread_blas()

import numpy as np  # noqa: E402

from benchmarks.posterior.calibration import make_mock  # noqa: E402


def _axis(text: str) -> np.ndarray:
    lo, hi, n = text.split(",")
    return np.linspace(float(lo), float(hi), int(n))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--index", type=int, default=3)
    ap.add_argument("--seed", type=int, default=300)
    ap.add_argument("--q", default="0.066,0.090,9", help="q_int grid: lo,hi,n")
    ap.add_argument("--ratio", default="0.82,0.92,11", help="ratio grid: lo,hi,n")
    ap.add_argument("--split-mbh", type=float, default=7.8,
                    help="report JAM's mass above this log10 M_BH")  # fmt: skip
    ap.add_argument("--fit", action="store_true", help="also run the default certified fit")
    ap.add_argument("--out", default="benchmarks/out")
    args = ap.parse_args()

    from jaxjam.inference import FitConfig, fit
    from jaxjam.inference.planes import integrate, jampy_plane
    from jaxjam.inference.pool import jampy_pool
    from jaxjam.inference.priors import PARAM_NAMES, PriorBounds
    from jaxjam.reference.jam import CONVERGED

    galaxy, truth = make_mock(np.random.default_rng([args.seed, args.index]))
    bounds = PriorBounds().resolve(galaxy.mge.qobs_min)
    q_ax, r_ax = _axis(args.q), _axis(args.ratio)
    points = [(q, r) for q in q_ax for r in r_ax]
    t0 = time.perf_counter()
    with jampy_pool(None) as pool:
        planes = pool.map(jampy_plane, [(galaxy, q, r, CONVERGED) for q, r in points],
                          "jampy planes", True)  # fmt: skip
    t_planes = time.perf_counter() - t0
    k = galaxy.kinematics
    low, high = bounds.copy(), bounds.copy()
    low[2, 1] = high[2, 0] = args.split_mbh
    whole = [integrate(p, k, bounds) for p in planes]
    z = np.array([i.log_z_jampy for i in whole]).reshape(len(q_ax), len(r_ax))
    z_high = np.array([integrate(p, k, high).log_z_jampy for p in planes]).reshape(z.shape)
    p = np.exp(z - z.max())
    p /= p.sum()
    qq, rr = np.meshgrid(q_ax, r_ax, indexing="ij")
    cond = np.array([i.moments_jampy for i in whole]).reshape(*z.shape, 2, 2)
    first = [np.sum(p * qq), np.sum(p * rr), *(np.sum(p * cond[..., j, 0]) for j in range(2))]
    second = [np.sum(p * qq**2), np.sum(p * rr**2),
              *(np.sum(p * cond[..., j, 1]) for j in range(2))]  # fmt: skip
    mean = np.array(first)
    sd = np.sqrt(np.array(second) - mean**2)
    edges = {"q_low": p[0].sum(), "q_high": p[-1].sum(), "ratio_low": p[:, 0].sum(),
             "ratio_high": p[:, -1].sum()}  # fmt: skip
    frac_high = float(np.sum(np.exp(z_high - z.max())) / np.sum(np.exp(z - z.max())))
    result = {"machine": machine_info(), "seed": args.seed, "index": args.index,
              "truth": dict(zip(PARAM_NAMES, np.asarray(truth, float).tolist(), strict=True)),
              "n_bins": int(k.vrms_kms.size), "q_grid": q_ax.tolist(), "ratio_grid": r_ax.tolist(),
              "jam_mean": dict(zip(PARAM_NAMES, mean.tolist(), strict=True)),
              "jam_sd": dict(zip(PARAM_NAMES, sd.tolist(), strict=True)),
              f"jam_p_log10_mbh_above_{args.split_mbh:g}": frac_high,
              "edge_mass": {k: float(v) for k, v in edges.items()},
              "truth_z_jam": {n: float((t - m) / s) for n, t, m, s in
                              zip(PARAM_NAMES, truth, mean, sd, strict=True)},
              "planes_s": t_planes}  # fmt: skip
    moments = [f"{n} {m:.4f} ± {s:.4f}" for n, m, s in zip(PARAM_NAMES, mean, sd, strict=True)]
    print(f"JAM (quadrature over {len(points)} planes, {t_planes:.0f} s): " + ", ".join(moments))
    print(f"JAM's mass above log10 M_BH {args.split_mbh:g}: {frac_high:.3f}; on the grid's "
          f"edges: {', '.join(f'{k} {v:.1e}' for k, v in edges.items())}")  # fmt: skip
    if args.fit:
        res = fit(galaxy, FitConfig(seed=args.seed + args.index), progress=False, warn=False)
        th = np.stack([res.datatree["posterior"][n].values.ravel() for n in PARAM_NAMES], -1)
        c = res.certificate
        result["fit"] = {"certified": res.certified, "k_hat": c["k_hat"],
                         "nuts_mean": dict(zip(PARAM_NAMES, th.mean(0).tolist(), strict=True)),
                         "nuts_sd": dict(zip(PARAM_NAMES, th.std(0).tolist(), strict=True)),
                         "nuts_p_above": float(np.mean(th[:, 2] > args.split_mbh)),
                         "reweighted_mean": c.get("jam_mean"), "reweighted_sd": c.get("jam_sd"),
                         "plane_agreement": c.get("plane_agreement"),
                         "overdispersed_max_log_excess": (c.get("overdispersed") or {}).get(
                             "max_log_excess"),
                         "timing": res.timing, "certify_s": c["seconds"]}  # fmt: skip
        f = result["fit"]
        print(f"fit: certified {res.certified} (k̂ {c['k_hat']:.2f}), {res.timing['total_s']:.0f} s")
        for n in PARAM_NAMES:
            rw = f"; reweighted {f['reweighted_mean'][n]:.4f} ± {f['reweighted_sd'][n]:.4f}" \
                if f["reweighted_mean"] else ""  # fmt: skip
            print(f"  {n}: NUTS {f['nuts_mean'][n]:.4f} ± {f['nuts_sd'][n]:.4f}{rw}; JAM "
                  f"{result['jam_mean'][n]:.4f} ± {result['jam_sd'][n]:.4f}")  # fmt: skip
    path = Path(args.out) / f"exact_jam_posterior_{args.seed}_{args.index}.json"
    write_json(path, result)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
