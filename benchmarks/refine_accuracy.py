"""How much the per-galaxy jampy refinement (jaxjam.inference.refine) improves the emulator.

For M32, NGC 4342 and NGC 5831 (real MGEs, never in training) and ``--n`` photometries drawn by
the training-set sampler with a seed it never used: refine the head on ``--maps`` jampy maps
over the default prior box, then at ``--tests`` random (q_int, ratio) in that box that are not
design points, compare the plain and the refined emulator with jampy (training-set settings):
|ΔVrms|/Vrms per node for M_BH = 0 and M_BH/M* = 3e-3, over the whole grid.

    python benchmarks/refine_accuracy.py [--n 5 --maps 12 --tests 3 --seed 300]

Writes benchmarks/out/refine_accuracy.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from _common import machine_info, write_json

from jaxjam.data_gen.jam_labels import component_maps
from jaxjam.data_gen.real_galaxies import real_galaxy_mges
from jaxjam.emulator.emulator import Emulator
from jaxjam.emulator.evaluation import vrms_errors
from jaxjam.emulator.network import with_head
from jaxjam.inference import FitConfig, PriorBounds
from jaxjam.inference.refine import refine_head
from jaxjam.testing.mocks import SURVEY_PRIOR, draw_setup


def _maps(emu, state, mge, q_int, ratio):
    A, B, _ = emu.maps_fn(state, emu.features(mge), jnp.float32(q_int), jnp.float32(ratio),
                          jnp.float32(mge.qobs_min))  # fmt: skip
    return np.asarray(A, float), np.asarray(B, float)


def galaxy_errors(emu, name, mge, rng, n_maps, n_tests, seed) -> dict:
    bounds = PriorBounds().resolve(mge.qobs_min)
    t0 = time.perf_counter()
    ref = refine_head(emu, mge, bounds, n_maps, seed)
    t_refine = time.perf_counter() - t0
    state = with_head(emu.state, jnp.asarray(ref.kernel), jnp.asarray(ref.bias))
    norm, *_ = mge.normalized()
    raw, refined = [], []
    while len(raw) < n_tests:
        q_int, ratio = rng.uniform(*bounds[0]), rng.uniform(*bounds[1])
        truth = component_maps(norm, q_int, ratio, emu.grid)
        if not truth.physical:
            continue
        for errs, st in ((raw, emu.state), (refined, state)):
            A, B = _maps(emu, st, mge, q_int, ratio)
            errs.append(np.concatenate([vrms_errors(A, B, truth.A, truth.B, f).ravel()
                                        for f in (0.0, 3e-3)]))  # fmt: skip

    def stats(e):
        e = np.concatenate(e)
        e = e[np.isfinite(e)]
        return {"median": float(np.median(e)), "p95": float(np.percentile(e, 95)),
                "max": float(e.max())}  # fmt: skip

    row = {"name": name, "refine_s": t_refine, **ref.info(), "raw": stats(raw),
           "refined": stats(refined)}  # fmt: skip
    print(f"{name:<12} |dVrms|/Vrms median {row['raw']['median']:.2%} -> "
          f"{row['refined']['median']:.2%}, p95 {row['raw']['p95']:.2%} -> "
          f"{row['refined']['p95']:.2%} ({t_refine:.1f} s)", flush=True)  # fmt: skip
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=5, help="sampler photometries besides the real ones")
    ap.add_argument("--maps", type=int, default=FitConfig().refine_maps)
    ap.add_argument("--tests", type=int, default=3)
    ap.add_argument("--seed", type=int, default=300)
    args = ap.parse_args()
    emu = Emulator.load()
    rng = np.random.default_rng(args.seed)
    galaxies = dict(real_galaxy_mges())
    for i in range(args.n):
        galaxies[f"sampler_{i}"] = draw_setup(np.random.default_rng([args.seed, i]),
                                              SURVEY_PRIOR).mge  # fmt: skip
    rows = [galaxy_errors(emu, name, mge, rng, args.maps, args.tests, args.seed)
            for name, mge in galaxies.items()]  # fmt: skip
    out = {"machine": machine_info(), "model": str(emu.path),
           "data_manifest_hash": emu.metadata.get("data_manifest_hash"), "seed": args.seed,
           "maps": args.maps, "tests_per_galaxy": args.tests, "galaxies": rows}  # fmt: skip
    write_json(Path(__file__).parent / "out" / "refine_accuracy.json", out)


if __name__ == "__main__":
    main()
