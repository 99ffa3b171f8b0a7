"""How much a fit's jampy refinement (jaxjam.inference.refine) improves the emulator at the bins.

For mocks of the M32 demo, NGC 4342 and NGC 5831 (real MGEs, never in training; 701 bins and an
AO-like PSF for the two mocks, :func:`jaxjam.testing.mocks.real_mock`): refine the head on
``--maps`` converged jampy maps over the default prior box, exactly as a fit's pilot does but at
converged settings (:func:`jaxjam.inference.problem.pilot_problem`), then at ``--tests`` random
(q_int, ratio) in that box, with M_BH and M/L at the box's centre, compare the plain and the
refined emulator with converged, padded jampy through the PSF
(:func:`jaxjam.inference.certify.jampy_vrms`): |ΔVrms|/Vrms over the bins.

    python -m benchmarks.refinement.refine_accuracy [--maps 12 --tests 3 --seed 300]

Writes benchmarks/out/refine_accuracy.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from benchmarks._common import machine_info, single_thread_blas, write_json

single_thread_blas()

import numpy as np  # noqa: E402

from jaxjam.core.forward import reached_nodes  # noqa: E402
from jaxjam.emulator.emulator import Emulator  # noqa: E402
from jaxjam.inference import FitConfig  # noqa: E402
from jaxjam.inference.certify import CertifyConfig, jampy_vrms  # noqa: E402
from jaxjam.inference.pool import jampy_pool  # noqa: E402
from jaxjam.inference.problem import build_problem, galaxy_operator, pilot_problem  # noqa: E402
from jaxjam.inference.results import at_draws  # noqa: E402
from jaxjam.reference.jam import CONVERGED  # noqa: E402
from jaxjam.testing.m32 import m32_galaxy  # noqa: E402
from jaxjam.testing.mocks import real_mock  # noqa: E402


def _stats(e) -> dict:
    e = np.asarray(e)[np.isfinite(e)]
    return {"median": float(np.median(e)), "p95": float(np.percentile(e, 95)),
            "max": float(e.max())}  # fmt: skip


def galaxy_errors(emu, name, galaxy, config, pool, rng, n_tests) -> dict:
    operator = galaxy_operator(emu, galaxy, config)
    base = build_problem(emu, galaxy, config, operator)
    nodes = reached_nodes(operator, emu.grid)
    t0 = time.perf_counter()
    refined, info = pilot_problem(pool, emu, galaxy, base, operator, nodes, config)
    t_refine = time.perf_counter() - t0
    box = np.asarray(base.bounds, float)
    theta = np.array([[rng.uniform(*box[0]), rng.uniform(*box[1]), box[2].mean(), box[3].mean()]
                      for _ in range(n_tests)])  # fmt: skip
    truth = np.stack([jampy_vrms(galaxy, t) for t in theta])
    raw, _ = at_draws(emu, base, theta[None])
    ref, _ = at_draws(emu, refined, theta[None])
    row = {"name": name, "n_bins": int(galaxy.kinematics.vrms_kms.size), "refine_s": t_refine,
           "theta": theta.tolist(), "loo_at_bins": info["loo_at_bins"] if info else None,
           "raw": _stats(np.abs(raw[0] / truth - 1)),
           "refined": _stats(np.abs(ref[0] / truth - 1))}  # fmt: skip
    print(f"{name:<8} |dVrms|/Vrms at the bins: median {row['raw']['median']:.2%} -> "
          f"{row['refined']['median']:.2%}, p95 {row['raw']['p95']:.2%} -> "
          f"{row['refined']['p95']:.2%} ({t_refine:.0f} s to refine)", flush=True)  # fmt: skip
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--maps", type=int, default=FitConfig().refine_maps)
    ap.add_argument("--tests", type=int, default=3)
    ap.add_argument("--seed", type=int, default=300)
    ap.add_argument("--workers", type=int, default=2, help="jampy processes")
    args = ap.parse_args()
    emu = Emulator.load()
    config = dataclasses.replace(FitConfig(refine_maps=args.maps, seed=args.seed),
                                 pilot_settings=CONVERGED,
                                 certify=CertifyConfig(workers=args.workers))  # fmt: skip
    rng = np.random.default_rng(args.seed)
    galaxies = {"M32": m32_galaxy(), **{n: real_mock(n, seed=args.seed).galaxy
                                        for n in ("NGC4342", "NGC5831")}}  # fmt: skip
    with jampy_pool(args.workers, None) as pool:
        rows = [galaxy_errors(emu, name, g, config, pool, rng, args.tests)
                for name, g in galaxies.items()]  # fmt: skip
    out = {"machine": machine_info(), "model": str(emu.path), "seed": args.seed,
           "maps": args.maps, "tests_per_galaxy": args.tests, "settings": CONVERGED.to_dict(),
           "galaxies": rows}  # fmt: skip
    write_json(Path(__file__).parents[1] / "out" / "refine_accuracy.json", out)


if __name__ == "__main__":
    main()
