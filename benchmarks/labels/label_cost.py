"""Where a v2 training label's time goes inside jampy, by nang (planning input of issue 15).

One v2 sample is three ``jam.axi.proj`` calls (stars; stars + black hole; stars + one halo
Gaussian) on the 128 × 32 grid from 1e-4 R_e (``configs/generate_v2.json``). This script labels
the real MGEs (M32, NGC 4342, NGC 5831) and ``--n-sampled`` sampler draws at each ``--nang``
(nlos 120) under cProfile and splits the time into jampy's parts:

- ``solve``: the dense LU solve of the spectral Jeans system (``numpy.linalg.solve``). The
  system has N = nrad × nang unknowns with nrad = nang × log10(r_max/r_min) (jampy's
  heuristic), so its cost grows as nang⁶ and as the cube of the decades the radial range spans;
- ``interpolate``: the barycentric interpolation of the solution to the line-of-sight points
  (nodes × nlos);
- ``density``: the tracer density at the grid and LOS points;
- ``other``: the rest (potential, projection, Python).

    python -m benchmarks.labels.label_cost [--nang 20 24 26 30] [--n-sampled 2]

Writes ``benchmarks/out/label_cost.json``. One process, one BLAS thread.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
from pathlib import Path

from benchmarks._common import machine_info, single_thread_blas, write_json

single_thread_blas()

import numpy as np  # noqa: E402

PARTS = {  # profile entry (file suffix, function name) → part
    ("numpy/linalg/_linalg.py", "solve"): "solve",
    ("barycentric_interpolator_2d.py", "__call__"): "interpolate",
    ("mge_gradients.py", "mge_density"): "density",
}


def _split(profile: cProfile.Profile) -> dict[str, float]:
    stats = pstats.Stats(profile).stats
    out = dict.fromkeys(PARTS.values(), 0.0)
    for (path, _, func), (_, _, _, cumtime, _) in stats.items():
        for (suffix, name), part in PARTS.items():
            if func == name and path.endswith(suffix):
                out[part] += cumtime
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--nang", type=int, nargs="+", default=[20, 24, 26, 30])
    ap.add_argument("--n-sampled", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--config", default=str(Path(__file__).parents[2] / "configs/generate_v2.json"))
    ap.add_argument("--out", default="benchmarks/out")
    args = ap.parse_args()

    from benchmarks._galaxies import benchmark_galaxies
    from jaxjam.data_gen.config import GeneratorConfig
    from jaxjam.data_gen.jam_labels import LabelConfig, component_maps
    from jaxjam.reference.jam import jampy_version

    config = GeneratorConfig.from_dict(json.loads(Path(args.config).read_text()))
    inputs = {c.input_name: 0.0 for c in config.model_components if c.input_name}  # s = R_e
    rows = []
    for name, mge, q, ratio in benchmark_galaxies(args.n_sampled, args.seed):
        row = {"name": name, "n_gauss": mge.n_gauss, "q_int": q, "ratio": ratio}
        for nang in args.nang:
            labels = LabelConfig(nang=nang, nlos=config.labels.nlos)
            profile = cProfile.Profile()
            t = time.perf_counter()
            profile.enable()
            component_maps(mge, q, ratio, config.grid, labels, components=config.model_components,
                           inputs=inputs)  # fmt: skip
            profile.disable()
            total = time.perf_counter() - t
            parts = _split(profile)
            row[f"nang{nang}"] = {"seconds": total, **parts,
                                  "other": total - sum(parts.values())}  # fmt: skip
            print(f"{name:10s} nang {nang}: {total:5.2f} s  "
                  + "  ".join(f"{k} {v:5.2f}" for k, v in parts.items()))  # fmt: skip
        rows.append(row)
    summary = {}
    for nang in args.nang:
        per = [r[f"nang{nang}"] for r in rows]
        summary[f"nang{nang}"] = {k: float(np.median([p[k] for p in per])) for k in per[0]}
    print("\nmedian seconds per sample (3 jampy calls):")
    for key, s in summary.items():
        print(f"  {key}: " + "  ".join(f"{k} {v:.2f}" for k, v in s.items()))
    write_json(Path(args.out) / "label_cost.json",
               {"machine": machine_info(), "jampy": jampy_version(), "grid": config.grid.to_dict(),
                "nlos": config.labels.nlos, "components": [c.name for c in config.model_components],
                "per_galaxy": rows, "median": summary})  # fmt: skip


if __name__ == "__main__":
    main()
