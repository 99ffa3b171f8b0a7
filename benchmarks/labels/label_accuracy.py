"""Resolution of the jampy labels: nang and nlos against a converged reference.

Usage::

    python -m benchmarks.labels.label_accuracy [--n-sampled 12] [--out benchmarks/out]

For M32, NGC 4342, NGC 5831 (mgefit) and sampler draws, each with a random (q_int, ratio),
the A and B maps on the default 64×16 grid are computed with

- ``labels``: the settings used for training (nang=15, nlos=120);
- ``nlos60``: nang=15, nlos=60;
- ``jampy_default``: jampy's defaults (nang=15, nlos=30);
- ``nang30``: nang=30, nlos=120;

and compared with a converged reference (nang=30, nlos=200). The error is |ΔVrms|/Vrms for
M_BH = 0 and for M_BH/M* = 5e-3, split inside and outside 0.1 R_e. Writes
``label_accuracy.json`` (or ``--name``).

The grid, the settings and the reference can be chosen, e.g. for the v2 labels (a grid from
1e-4 R_e, against jampy's nang 45/nlos 800 on the real MGEs only)::

    python -m benchmarks.labels.label_accuracy --n-sampled 0 --grid 80,24,1e-4,3 \
        --settings nang20=20,120 nang30=30,120 nang30_nlos300=30,300 \
        --reference 45,800 --name label_accuracy_v2.json

``--only NAME ...`` measures only some galaxies (``M32``, ``NGC4342``, ``NGC5831``,
``sampled0``, ...); each galaxy's row records its errors with the black hole too.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks._common import (
    machine_info,
    parse_grid,
    parse_settings,
    single_thread_blas,
    write_json,
)

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
    ap.add_argument("--name", default="label_accuracy.json", help="output file in --out")
    ap.add_argument("--grid", default=None, metavar="N_R,N_THETA,R_MIN_RE,R_MAX_RE",
                    help="output grid [default: jaxjam's PolarGrid()]")  # fmt: skip
    ap.add_argument("--settings", nargs="+", default=None, metavar="NAME=NANG,NLOS",
                    help="settings compared [default: the four above]")  # fmt: skip
    ap.add_argument("--reference", default=None, metavar="NANG,NLOS",
                    help="the converged reference [default: 30,200]")  # fmt: skip
    ap.add_argument(
        "--only",
        nargs="+",
        default=None,
        metavar="NAME",
        help="measure only these galaxies (e.g. sampled0 sampled3) [default: all]",
    )
    args = ap.parse_args()
    settings, reference = SETTINGS, REFERENCE
    if args.settings:
        settings = dict(item.split("=") for item in args.settings)
        settings = {key: parse_settings(vals) for key, vals in settings.items()}
    if args.reference:
        reference = parse_settings(args.reference)

    from benchmarks._galaxies import benchmark_galaxies
    from jaxjam.core.grid import PolarGrid
    from jaxjam.data_gen.jam_labels import LabelConfig, component_maps

    grid = parse_grid(args.grid) if args.grid else PolarGrid()
    inner = (grid.r_re < 0.1)[:, None] * np.ones(grid.shape, bool)
    errors = {k: {"nobh": [], "bh": []} for k in settings}
    masks = []
    per_galaxy = []
    cost = {k: 0.0 for k in [*settings, "reference"]}
    for name, mge, q, ratio in benchmark_galaxies(args.n_sampled, args.seed):
        if args.only and name not in args.only:
            continue
        t = time.perf_counter()
        ref = component_maps(mge, q, ratio, grid, LabelConfig(**reference))
        cost["reference"] += time.perf_counter() - t
        if not ref.physical:
            print(f"{name}: unphysical draw, skipped")
            continue
        masks.append(inner)
        v_ref = np.sqrt(ref["A"])
        vb_ref = np.sqrt(ref["A"] + 5e-3 * ref["B"])
        line = [f"{name:10s} q_int={q:.3f} ratio={ratio:.2f}"]
        row = {"name": name, "q_int": q, "ratio": ratio}
        for key, kw in settings.items():
            t = time.perf_counter()
            m = component_maps(mge, q, ratio, grid, LabelConfig(**kw))
            cost[key] += time.perf_counter() - t
            e = np.abs(np.sqrt(np.clip(m["A"], 0, None)) / v_ref - 1)
            eb = np.abs(np.sqrt(np.clip(m["A"] + 5e-3 * m["B"], 0, None)) / vb_ref - 1)
            errors[key]["nobh"].append(e)
            errors[key]["bh"].append(eb)
            worst = np.unravel_index(np.argmax(e), e.shape)
            line.append(
                f"{key}: max {e.max():.1e} at r={grid.r_re[worst[0]]:.2g}, BH max {eb.max():.1e}"
            )
            row[key] = {
                "max": float(e.max()),
                "median": float(np.median(e)),
                "bh_max": float(eb.max()),
                "bh_p99": float(np.percentile(eb, 99)),
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
        "reference": reference,
        "settings": settings,
        "n_galaxies": len(masks),
        "seconds": cost,
        "per_galaxy": per_galaxy,
        "errors": {},
    }
    print(
        f"\n|dVrms|/Vrms against nang={reference['nang']}, nlos={reference['nlos']} "
        f"over {len(masks)} galaxies x {grid.n_r * grid.n_theta} nodes"
    )
    for key in settings:
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
    write_json(Path(args.out) / args.name, result)


if __name__ == "__main__":
    main()
