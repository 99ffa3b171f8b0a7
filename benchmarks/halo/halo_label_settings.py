"""Which jampy settings a halo label needs, and what it costs (design input of issue 15).

The halo label of ``tests/test_components.py`` (jampy's linear response to one spherical
Gaussian of the potential, per unit mass) at nang 20 and nang 30 (nlos 120), with the stars and
black hole, on a grid from 1e-4 R_e, for a real MGE (mgefit's M32, NGC 4342, NGC 5831 by
index 0, 1, 2) at a random (q_int, ratio) (seed 7). Reports the halo map's and the total
Vrms's difference between the two settings (halo 0.1 and 1 L_tot) and the seconds per sample.

    python -m benchmarks.halo.halo_label_settings [--galaxy 1] [--grid 128,32,1e-4,3]

Writes ``benchmarks/out/halo_label_settings_GALAXY.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks._common import machine_info, parse_grid, single_thread_blas, write_json

single_thread_blas()

import numpy as np  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--galaxy", type=int, default=1, help="0 M32, 1 NGC 4342, 2 NGC 5831")
    ap.add_argument("--grid", default="128,32,1e-4,3", metavar="N_R,N_THETA,R_MIN_RE,R_MAX_RE")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default="benchmarks/out")
    args = ap.parse_args()

    import test_components as tc

    from benchmarks._galaxies import benchmark_galaxies
    from jaxjam.data_gen.jam_labels import LabelConfig, component_maps

    grid = parse_grid(args.grid)
    name, mge, q, ratio = benchmark_galaxies(0, args.seed)[args.galaxy]
    maps, seconds = {}, {}
    for nang in (20, 30):
        t = time.perf_counter()
        maps[nang] = component_maps(mge, q, ratio, grid, LabelConfig(nang=nang, nlos=120),
                                    components=tc.THREE)  # fmt: skip
        seconds[f"nang{nang}_stars_bh_halo"] = time.perf_counter() - t
    result = {"machine": machine_info(), "galaxy": name, "q_int": q, "ratio": ratio,
              "grid": grid.to_dict(), "seconds": seconds, "errors": {}}  # fmt: skip
    halo = {n: np.sqrt(np.clip(maps[n]["H"], 1e-300, None)) for n in maps}
    e = np.abs(halo[20] / halo[30] - 1)
    result["errors"]["halo_map"] = {"p99": float(np.percentile(e, 99)), "max": float(e.max())}
    for f in (0.1, 1.0):
        v = {n: np.sqrt(np.clip(maps[n]["A"] + f * maps[n]["H"], 0, None)) for n in maps}
        e = np.abs(v[20] / v[30] - 1)
        result["errors"][f"total_halo_{f}_ltot"] = {"p99": float(np.percentile(e, 99)),
                                                     "max": float(e.max())}  # fmt: skip
    print(name, result["seconds"], result["errors"])
    write_json(Path(args.out) / f"halo_label_settings_{args.galaxy}.json", result)


if __name__ == "__main__":
    main()
