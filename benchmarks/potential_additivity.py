"""Is jampy's V² additive over the Gaussians of the potential (and of the tracer)?

At a fixed anisotropy field the Jeans equations are linear in the potential, and the LOS
moment Σ·V² is linear in the tracer density, so jampy's V² should equal the sum of calls with
one mass Gaussian each, and Σ·V² the sum over pairs (one tracer Gaussian, one mass Gaussian)
weighted by each tracer's surface brightness. If it held, an emulator could learn a
two-Gaussian kernel from jampy calls ~n² cheaper than a full label. This script measures both
sums on a 3-Gaussian MGE (σ 0.3/1.5/6″, q' 0.6/0.75/0.9, i = 70°, eq.-37 ratio 0.8, 10 Mpc,
48 points 0.05–15″, CONVERGED settings, no PSF, ``interp=False``); "one mass Gaussian" keeps
the others in the potential at 1e-12 of their mass so that jampy's internal grid is the same.

    python benchmarks/potential_additivity.py

Writes benchmarks/out/potential_additivity.json (~1 min). Measured 2026-12-05: the potential
sum is 7.6× off at worst and every single-Gaussian V² is positive, so additivity fails in
jampy's eq.-37 solution far from star-dominated potentials (the black-hole and halo responses
are linear to ≤ 0.1% where the stars dominate).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _common import machine_info, write_json

from jaxjam.reference import CONVERGED, _proj, jampy_version

SURF = np.array([1e4, 2e3, 3e2])
SIGMA_ARCSEC = np.array([0.3, 1.5, 6.0])
QOBS = np.array([0.6, 0.75, 0.9])
INC_DEG, DISTANCE_MPC, RATIO = 70.0, 10.0, 0.8


def main() -> None:
    r = np.geomspace(0.05, 15, 12)
    th = np.radians([0, 30, 60, 90])
    rr, tt = np.meshgrid(r, th, indexing="ij")
    x, y = (rr * np.cos(tt)).ravel(), (rr * np.sin(tt)).ravel()

    def v2(lum, pot):
        out = _proj(lum, INC_DEG, 0.0, DISTANCE_MPC, x, y, RATIO, 1, CONVERGED, pot, interp=False)
        return np.asarray(out.vel2[2, 2], float)

    def only(k, eps=1e-12):
        s = np.where(np.arange(3) == k, SURF, eps * SURF)
        return (s, SIGMA_ARCSEC, QOBS)

    mge = (SURF, SIGMA_ARCSEC, QOBS)
    full = v2(mge, mge)
    parts = [v2(mge, only(k)) for k in range(3)]
    pot_sum = sum(parts)
    dens = [SURF[j] * np.exp(-(x**2 + (y / QOBS[j]) ** 2) / (2 * SIGMA_ARCSEC[j] ** 2))
            for j in range(3)]  # fmt: skip
    pair = sum(dens[j] * v2(only(j), only(k)) for j in range(3) for k in range(3)) / sum(dens)
    rel_pot, rel_pair = pot_sum / full - 1, pair / full - 1
    print(f"sum over mass Gaussians: max |ΔV²/V²| = {np.abs(rel_pot).max():.2e}")
    print(f"sum over pairs:          max |ΔV²/V²| = {np.abs(rel_pair).max():.2e}")
    print("smallest single-Gaussian V²:", [float(p.min()) for p in parts])
    write_json(Path(__file__).parent / "out" / "potential_additivity.json",
               {"machine": machine_info(), "jampy": jampy_version(), "settings": "CONVERGED",
                "max_rel_potential_sum": float(np.abs(rel_pot).max()),
                "max_rel_pair_sum": float(np.abs(rel_pair).max()),
                "rel_potential_sum": rel_pot.tolist(), "rel_pair_sum": rel_pair.tolist(),
                "min_single_gaussian_v2": [float(p.min()) for p in parts]})  # fmt: skip


if __name__ == "__main__":
    main()
