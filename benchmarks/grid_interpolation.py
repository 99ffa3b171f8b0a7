"""Interpolation error of candidate output grids, to choose the model grid's size.

Usage::

    python benchmarks/grid_interpolation.py [--n-sampled 5] [--out benchmarks/out]

For each test galaxy (M32, NGC 4342, NGC 5831 and sampler draws, random q_int and ratio),
jampy gives V² (= A, and A + 5e-3 B) on a dense (log r, θ) grid over 1e-3–3 R_e and on
candidate coarse grids; the coarse maps are interpolated (bilinear and bicubic in (ln r, θ),
both linear in the node values, as the fit's fixed operator W requires) to the dense nodes.
Reports |ΔVrms|/Vrms (median, p99, max) per grid and scheme, excluding the outermost 2% of
radii where the dense grid's nodes extrapolate, and writes ``grid_interpolation.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine_info, single_thread_blas, write_json

single_thread_blas()

import numpy as np  # noqa: E402

CANDIDATES = [(32, 8), (48, 12), (64, 16), (96, 16)]
DENSE = (190, 46)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n-sampled", type=int, default=5)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", default="benchmarks/out")
    args = ap.parse_args()

    from _galaxies import benchmark_galaxies
    from scipy.interpolate import RegularGridInterpolator

    from jaxjam.data_gen.jam_labels import component_maps
    from jaxjam.grid import PolarGrid

    dense = PolarGrid(*DENSE)
    pts = np.stack(np.meshgrid(dense.log_r, dense.theta_rad, indexing="ij"), -1).reshape(-1, 2)
    errs = {f"{nr}x{nt}/{m}": [] for nr, nt in CANDIDATES for m in ("linear", "cubic")}
    for name, mge, q, ratio in benchmark_galaxies(args.n_sampled, args.seed):
        ref = component_maps(mge, q, ratio, dense)
        if not ref.physical:
            continue
        for f_bh in (0.0, 5e-3):
            v_ref = np.sqrt(ref["A"] + f_bh * ref["B"])
            for nr, nt in CANDIDATES:
                g = PolarGrid(nr, nt)
                c = component_maps(mge, q, ratio, g)
                for method in ("linear", "cubic"):
                    interp = RegularGridInterpolator(
                        (g.log_r, g.theta_rad), c["A"] + f_bh * c["B"], method=method
                    )
                    v = np.sqrt(np.clip(interp(pts).reshape(dense.shape), 0, None))
                    errs[f"{nr}x{nt}/{method}"].append(np.abs(v / v_ref - 1))
        print(f"{name}: done")
    result = {"machine": machine_info(), "dense": DENSE, "errors": {}}
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
    write_json(Path(args.out) / "grid_interpolation.json", result)


if __name__ == "__main__":
    main()
