"""Speed of a fit on jampy's M32 example, side by side with jampy on the same bins and PSF.

Measures, in one run:
- one jampy ``jam.axi.proj`` call at the 175 M32 bins with the AO PSF (median of repeats);
- one gradient of the log-posterior (batch 1, jitted, steady state) and its ratio to jampy;
- the full demo fit (4 chains x (warm-up + draws)), compile and sampling times separately,
  and ESS per second.

    python benchmarks/fit_speed.py [--warmup 1000 --draws 1000 --repeats 20]

Writes benchmarks/out/fit_speed.json. Timings on a loaded machine are pessimistic: the JSON
records the 1-minute load average at the start.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from _common import machine_info, write_json

from jaxjam.demo import M32_DISTANCE_MPC, m32_galaxy
from jaxjam.emulator import Emulator
from jaxjam.geometry import beta_eq37, inc_from_q_int
from jaxjam.inference import FitConfig, NUTSConfig, build_problem, fit
from jaxjam.inference.likelihood import log_posterior
from jaxjam.inference.priors import to_unconstrained


def _median_time(fn, repeats):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)), float(np.percentile(ts, 16)), float(np.percentile(ts, 84))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    out = {"machine": machine_info(), "load_avg_1min": os.getloadavg()[0]}
    g = m32_galaxy()
    mge, kin = g.mge, g.kinematics
    theta = (0.4, 0.85, 6.3, 0.15)

    import jampy as jam

    lum = (mge.surf_lsun_pc2, mge.sigma_arcsec, mge.qobs)
    pot = (mge.surf_lsun_pc2 * 10 ** theta[3], mge.sigma_arcsec, mge.qobs)

    def jampy_call():
        jam.axi.proj(lum, pot, inc_from_q_int(theta[0], mge.qobs_min), 10 ** theta[2],
                     M32_DISTANCE_MPC, kin.x_arcsec, kin.y_arcsec, sigmapsf=[0.04, 0.4],
                     normpsf=[0.7, 0.3], pixsize=0.05, beta=beta_eq37(theta[1]), plot=False,
                     quiet=True)  # fmt: skip

    jampy_call()
    t_j = _median_time(jampy_call, max(3, args.repeats // 4))
    out["jampy_call_s"] = {"median": t_j[0], "p16": t_j[1], "p84": t_j[2]}

    emu = Emulator.load()
    prob = build_problem(emu, g, FitConfig())
    u = to_unconstrained(jnp.asarray(theta, jnp.float32), prob.bounds)
    grad = jax.jit(jax.grad(lambda v: log_posterior(emu.maps_fn, emu._state, prob, v)))
    t0 = time.perf_counter()
    jax.block_until_ready(grad(u))
    out["gradient_compile_s"] = time.perf_counter() - t0
    t_g = _median_time(lambda: jax.block_until_ready(grad(u)), args.repeats * 10)
    out["gradient_s"] = {"median": t_g[0], "p16": t_g[1], "p84": t_g[2]}
    out["gradient_speedup_vs_jampy"] = t_j[0] / t_g[0]

    cfg = FitConfig(nuts=NUTSConfig(n_warmup=args.warmup, n_samples=args.draws), seed=0)
    res = fit(g, cfg, emu, progress=True, warn=False)
    ess = res.summary["ess_bulk"]
    out["fit"] = {
        **res.timing,
        "n_chains": 4,
        "n_warmup": args.warmup,
        "n_draws": args.draws,
        "ess_bulk": ess.to_dict(),
        "min_ess_bulk_per_s_sampling": float(ess.min() / res.timing["sample_s"]),
        "min_ess_bulk_per_s_total": float(ess.min() / res.timing["total_s"]),
        "mean_tree_depth": float(res.datatree["sample_stats"]["tree_depth"].values.mean()),
        "mean_leapfrog_steps": float(res.datatree["sample_stats"]["n_steps"].values.mean()),
        "divergences": int(res.datatree["sample_stats"]["diverging"].values.sum()),
    }
    path = Path(__file__).parent / "out" / "fit_speed.json"
    write_json(path, out)
    print(f"jampy call {t_j[0] * 1e3:.1f} ms; gradient {t_g[0] * 1e6:.0f} µs "
          f"({out['gradient_speedup_vs_jampy']:.0f}x); fit {res.timing['total_s']:.1f} s total, "
          f"{res.timing['compile_s']:.1f} s compile, {res.timing['sample_s']:.1f} s sampling; "
          f"min ESS/s {out['fit']['min_ess_bulk_per_s_total']:.1f}; wrote {path}")  # fmt: skip


if __name__ == "__main__":
    main()
