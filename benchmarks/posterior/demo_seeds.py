"""The M32 demo fit over several seeds, against the converged JAM posterior.

One seed's medians carry the sampler's Monte Carlo noise (about 0.04σ) and, on M32, the luck
of how long its chains spend in the posterior's low-ratio tail. This fits the demo's data
with the shipped model and the default settings for each seed, and reports each posterior
median's offset from emcee over jampy (reweighted to nlos 120: ``src/jaxjam/data/
m32_jampy_emcee.json``) in units of jampy's posterior width, with R-hat, ESS and timings.

    python -m benchmarks.posterior.demo_seeds [--seeds 0,1,2,3] [--refine-maps 20]

Writes benchmarks/out/demo_seeds.json.
"""

from __future__ import annotations

import argparse
import json
from importlib import resources

import numpy as np

from benchmarks._common import machine_info, write_json
from jaxjam.emulator.emulator import Emulator
from jaxjam.inference import PARAM_NAMES, FitConfig, fit
from jaxjam.testing.m32 import m32_galaxy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2,3")
    ap.add_argument("--refine-maps", type=int, default=FitConfig().refine_maps)
    args = ap.parse_args()
    ref = json.loads((resources.files("jaxjam") / "data" / "m32_jampy_emcee.json").read_text())
    emu = Emulator.load()
    runs = []
    for seed in (int(s) for s in args.seeds.split(",")):
        r = fit(m32_galaxy(), FitConfig(seed=seed, refine_maps=args.refine_maps), emu,
                progress=False, warn=False)  # fmt: skip
        post = r.datatree["posterior"]
        offset = {k: (float(np.median(post[k].values)) - ref[k][0]) / ref[k][1]
                  for k in PARAM_NAMES}  # fmt: skip
        steps = float(r.datatree["sample_stats"]["n_steps"].mean())
        runs.append({"seed": seed, "offset_sigma": offset, "timing_s": r.timing,
                     "r_hat_max": float(r.summary["r_hat"].max()),
                     "ess_bulk_min": float(r.summary["ess_bulk"].min()),
                     "leapfrog_steps_per_draw": steps})  # fmt: skip
        print(f"seed {seed}: " + "  ".join(f"{k} {v:+.2f}σ" for k, v in offset.items())
              + f"  R-hat ≤ {runs[-1]['r_hat_max']:.3f}  ESS ≥ {runs[-1]['ess_bulk_min']:.0f}"
              + f"  {r.timing['total_s']:.1f} s", flush=True)  # fmt: skip
    mean = {k: float(np.mean([r["offset_sigma"][k] for r in runs])) for k in PARAM_NAMES}
    print("mean: " + "  ".join(f"{k} {v:+.2f}σ" for k, v in mean.items()))
    write_json("benchmarks/out/demo_seeds.json",
               {"machine": machine_info(), "refine_maps": args.refine_maps,
                "reference": ref["source"], "runs": runs, "mean_offset_sigma": mean})  # fmt: skip


if __name__ == "__main__":
    main()
