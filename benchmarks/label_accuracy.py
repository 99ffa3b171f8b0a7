"""Resolution of the jampy labels: nang and nlos against a converged reference.

Usage::

    python benchmarks/label_accuracy.py [--n-sampled 12] [--out benchmarks/out]

For M32, NGC 4342, NGC 5831 (mgefit) and sampler draws, each with a random (q_int, ratio),
the A and B maps on the default 64×16 grid are computed with

- ``labels``: the settings used for training (nang=15, nlos=120);
- ``nlos60``: nang=15, nlos=60;
- ``jampy_default``: jampy's defaults (nang=15, nlos=30);
- ``nang30``: nang=30, nlos=120;

and compared with a converged reference (nang=30, nlos=200). The error is |ΔVrms|/Vrms for
M_BH = 0 and for M_BH/M* = 5e-3, split inside and outside 0.1 R_e. Writes
``label_accuracy.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine_info, single_thread_blas, write_json

single_thread_blas()

import numpy as np  # noqa: E402

SETTINGS = {
    "labels": {"nang": 15, "nlos": 120},
    "nlos60": {"nang": 15, "nlos": 60},
    "jampy_default": {"nang": 15, "nlos": 30},
    "nang30": {"nang": 30, "nlos": 120},
}
REFERENCE = {"nang": 30, "nlos": 200}


def _stats(err):
    return {
        "median": float(np.median(err)),
        "p99": float(np.percentile(err, 99)),
        "max": float(np.max(err)),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n-sampled", type=int, default=12)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default="benchmarks/out")
    args = ap.parse_args()

    from _galaxies import benchmark_galaxies

    from jaxjam.data_gen.jam_labels import LabelConfig, component_maps
    from jaxjam.grid import PolarGrid

    grid = PolarGrid()
    inner = (grid.r_re < 0.1)[:, None] * np.ones(grid.shape, bool)
    errors = {k: {"nobh": [], "bh": []} for k in SETTINGS}
    masks = []
    per_galaxy = []
    cost = {k: 0.0 for k in [*SETTINGS, "reference"]}
    for name, mge, q, ratio in benchmark_galaxies(args.n_sampled, args.seed):
        t = time.perf_counter()
        ref = component_maps(mge, q, ratio, grid, LabelConfig(**REFERENCE))
        cost["reference"] += time.perf_counter() - t
        if not ref.physical:
            print(f"{name}: unphysical draw, skipped")
            continue
        masks.append(inner)
        v_ref = np.sqrt(ref["A"])
        vb_ref = np.sqrt(ref["A"] + 5e-3 * ref["B"])
        line = [f"{name:10s} q_int={q:.3f} ratio={ratio:.2f}"]
        row = {"name": name, "q_int": q, "ratio": ratio}
        for key, kw in SETTINGS.items():
            t = time.perf_counter()
            m = component_maps(mge, q, ratio, grid, LabelConfig(**kw))
            cost[key] += time.perf_counter() - t
            e = np.abs(np.sqrt(np.clip(m["A"], 0, None)) / v_ref - 1)
            eb = np.abs(np.sqrt(np.clip(m["A"] + 5e-3 * m["B"], 0, None)) / vb_ref - 1)
            errors[key]["nobh"].append(e)
            errors[key]["bh"].append(eb)
            worst = np.unravel_index(np.argmax(e), e.shape)
            line.append(f"{key}: max {e.max():.1e} at r={grid.r_re[worst[0]]:.2g}")
            row[key] = {
                "max": float(e.max()),
                "median": float(np.median(e)),
                "r_of_max_re": float(grid.r_re[worst[0]]),
                "theta_of_max_deg": float(np.degrees(grid.theta_rad[worst[1]])),
                "vrms_at_max_over_peak": float(v_ref[worst] / v_ref.max()),
            }
        print("  ".join(line))
        per_galaxy.append(row)
    inner_all = np.array(masks)
    result = {
        "machine": machine_info(),
        "grid": grid.to_dict(),
        "reference": REFERENCE,
        "settings": SETTINGS,
        "n_galaxies": len(masks),
        "seconds": cost,
        "per_galaxy": per_galaxy,
        "errors": {},
    }
    print(
        f"\n|dVrms|/Vrms against nang={REFERENCE['nang']}, nlos={REFERENCE['nlos']} "
        f"over {len(masks)} galaxies x {grid.n_r * grid.n_theta} nodes"
    )
    for key in SETTINGS:
        result["errors"][key] = {}
        for bh in ("nobh", "bh"):
            e = np.array(errors[key][bh])
            res = {
                "all": _stats(e),
                "r<0.1Re": _stats(e[inner_all]),
                "r>=0.1Re": _stats(e[~inner_all]),
            }
            result["errors"][key][bh] = res
            a = res["all"]
            print(
                f"  {key:14s} {'M_BH/M*=5e-3' if bh == 'bh' else 'no BH':13s} "
                f"median {a['median']:.1e}"
                f"  p99 {a['p99']:.1e}  max {a['max']:.1e}   (r>=0.1Re p99 "
                f"{res['r>=0.1Re']['p99']:.1e})  cost {cost[key]:.1f} s"
            )
    write_json(Path(args.out) / "label_accuracy.json", result)


if __name__ == "__main__":
    main()
