"""Interpolation error of candidate output grids, to choose the model grid's size.

Usage::

    python -m benchmarks.refinement.grid_interpolation [--n-sampled 5] [--out benchmarks/out]

For each test galaxy (M32, NGC 4342, NGC 5831 and sampler draws, random q_int and ratio),
jampy gives V² (= A, and A + 5e-3 B) on a dense (log r, θ) grid over 1e-3–3 R_e and on
candidate coarse grids; the coarse maps are interpolated (bilinear and bicubic in (ln r, θ),
both linear in the node values, as the fit's fixed operator W requires) to the dense nodes.
Reports |ΔVrms|/Vrms (median, p99, max) per grid and scheme over every dense node (the dense
and the coarse grids span the same radii) and per map its worst node; writes
``grid_interpolation.json`` (or ``--name``).

The radial range, the candidates and the jampy settings can be chosen, e.g. for the v2 grid
(from 1e-4 R_e, converged labels)::

    python -m benchmarks.refinement.grid_interpolation --n-sampled 2 --r-min-re 1e-4 --dense 230,46
    \
        --candidates 64x16 80x16 80x24 96x24 96x32 --labels 30,120 \
        --name grid_interpolation_v2.json
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from benchmarks._common import machine_info, parse_settings, single_thread_blas, write_json

single_thread_blas()

import numpy as np  # noqa: E402

CANDIDATES = [(32, 8), (48, 12), (64, 16), (96, 16)]
DENSE = (190, 46)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n-sampled", type=int, default=5)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", default="benchmarks/out")
    ap.add_argument("--name", default="grid_interpolation.json", help="output file in --out")
    ap.add_argument("--r-min-re", type=float, default=1e-3, help="innermost radius, R_e")
    ap.add_argument("--dense", default=None, metavar="N_R,N_THETA",
                    help=f"the dense reference grid [default: {DENSE[0]},{DENSE[1]}]")  # fmt: skip
    ap.add_argument("--candidates", nargs="+", default=None, metavar="N_RxN_THETA",
                    help="coarse grids [default: 32x8 48x12 64x16 96x16]")  # fmt: skip
    ap.add_argument("--labels", default=None, metavar="NANG,NLOS",
                    help="jampy settings of every map [default: the training labels]")  # fmt: skip
    args = ap.parse_args()
    dense_shape = tuple(int(v) for v in args.dense.split(",")) if args.dense else DENSE
    candidates = ([tuple(int(v) for v in c.split("x")) for c in args.candidates]
                  if args.candidates else CANDIDATES)  # fmt: skip

    from scipy.interpolate import RegularGridInterpolator

    from benchmarks._galaxies import benchmark_galaxies
    from jaxjam.core.grid import PolarGrid
    from jaxjam.data_gen.jam_labels import LabelConfig, component_maps

    labels = LabelConfig(**parse_settings(args.labels)) if args.labels else LabelConfig()
    r_max = PolarGrid().r_max_re
    dense = PolarGrid(*dense_shape, args.r_min_re, r_max)
    pts = np.stack(np.meshgrid(dense.log_r, dense.theta_rad, indexing="ij"), -1).reshape(-1, 2)
    errs = {f"{nr}x{nt}/{m}": [] for nr, nt in candidates for m in ("linear", "cubic")}
    worst = []
    for name, mge, q, ratio in benchmark_galaxies(args.n_sampled, args.seed):
        ref = component_maps(mge, q, ratio, dense, labels)
        if not ref.physical:
            continue
        coarse = {}
        for nr, nt in candidates:
            g = PolarGrid(nr, nt, args.r_min_re, r_max)
            coarse[nr, nt] = g, component_maps(mge, q, ratio, g, labels)
        for f_bh in (0.0, 5e-3):
            v_ref = np.sqrt(ref["A"] + f_bh * ref["B"])
            for nr, nt in candidates:
                g, c = coarse[nr, nt]
                for method in ("linear", "cubic"):
                    interp = RegularGridInterpolator(
                        (g.log_r, g.theta_rad), c["A"] + f_bh * c["B"], method=method
                    )
                    v = np.sqrt(np.clip(interp(pts).reshape(dense.shape), 0, None))
                    e = np.abs(v / v_ref - 1)
                    errs[f"{nr}x{nt}/{method}"].append(e)
                    i, j = np.unravel_index(np.argmax(e), e.shape)
                    worst.append({"galaxy": name, "f_bh": f_bh, "grid": f"{nr}x{nt}",
                                  "method": method, "p99": float(np.percentile(e, 99)),
                                  "max": float(e.max()), "r_of_max_re": float(
                                      dense.r_re[i]),
                                  "theta_of_max_deg": float(np.degrees(dense.theta_rad[j])),
                                  "vrms_at_max_over_peak": float(
                                      v_ref[i, j] / v_ref.max())})  # fmt: skip
        print(f"{name}: done")
    result = {"machine": machine_info(), "dense": dense.to_dict(),
              "labels": dataclasses.asdict(labels), "per_map": worst, "errors": {}}  # fmt: skip
    for key, e in errs.items():
        e = np.array(e)
        stats = {
            "median": float(np.median(e)),
            "p99": float(np.percentile(e, 99)),
            "max": float(np.max(e)),
        }
        result["errors"][key] = stats
        print(
            f"{key:14s} median {stats['median']:.1e}  p99 {stats['p99']:.1e}  "
            f"max {stats['max']:.1e}"
        )
    write_json(Path(args.out) / args.name, result)


if __name__ == "__main__":
    main()
