"""Is jampy's V² additive over the Gaussians of the potential (and of the tracer)?

At a fixed anisotropy field the Jeans equations are linear in the potential, and the LOS
moment Σ·V² is linear in the tracer density, so jampy's V² should equal the sum of calls with
one mass Gaussian each, and Σ·V² the sum of calls with one tracer Gaussian each, weighted by
their surface brightness. The halo basis of DESIGN.md (and of ``jaxjam.core.components.HALO``) and
the black-hole response rely on the first; a pair-kernel emulator would rely on both.

Case: a 3-Gaussian MGE (σ 0.3/1.5/6″, q' 0.6/0.75/0.9, i = 70°, eq.-37 ratio 0.8, 10 Mpc),
48 points at 12 radii 0.05–15″ × 4 angles, ``CONVERGED`` settings, no PSF, ``interp=False``,
with and without the labels' negligible outer Gaussian (``reference.padded``: surf × 1e-4,
σ = 3 × 6″ = 18″). "One Gaussian" keeps the others at ε times their surface density, so that
jampy's internal grid (its radial range comes from the tracer's σ and the points) is the same.

    python -m benchmarks.labels.potential_additivity

Writes benchmarks/out/potential_additivity.json (~2 min on one core).

Measured 2026-12-07 (jampy 9.0.2; reference: benchmarks/reference/labels/potential_additivity.json):

- **Potential, padded** (as every jampy call in jaxjam): the sum over single mass Gaussians
  equals the full call to 5e-9–1.5e-7 out to 3.2″ (= r_max/6), 9e-6 at 8.9″ and 3e-4 at 15″.
  jampy's V² is additive in the potential, as the Jeans equations are.
- **Potential, unpadded**: 0.5% at 0.05″, 9% at 1.9″, 66% at 3.2″ and up to 7.6× beyond the
  largest σ (6″, jampy's r_max, where its solution is extrapolated). jampy's outer Robin
  boundary condition at r_max depends on the potential's log-slope there, so without the
  padding r_max sits inside the data and the boundary condition's nonlinearity reaches in.
  (The 7.6× of this script's first version, read as "not additive", was this.)
- **Tracer** (padded): the weighted sum over single tracer Gaussians is 0.1–47% off, and the
  error changes 10× with ε (1e-12, 1e-6, 1e-3): jampy's solution for a tracer made of one
  Gaussian plus ε-tails is not converged at nang 30 (the log-density has a sharp bend where the
  tails take over). Tracer additivity is not established by jampy calls at these settings.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks._common import single_thread_blas

single_thread_blas()

import numpy as np  # noqa: E402

from benchmarks._common import machine_info, write_json  # noqa: E402
from jaxjam.core.mge import MGE  # noqa: E402
from jaxjam.reference.jam import CONVERGED, _proj, jampy_version, padded  # noqa: E402

BASE = MGE(surf_lsun_pc2=[1e4, 2e3, 3e2], sigma_arcsec=[0.3, 1.5, 6.0], qobs=[0.6, 0.75, 0.9])
INC_DEG, DISTANCE_MPC, RATIO = 70.0, 10.0, 0.8
RADII_ARCSEC = np.geomspace(0.05, 15, 12)
ANGLES_DEG = np.array([0, 30, 60, 90])
TRACER_EPS = (1e-12, 1e-6, 1e-3)


def _points():
    rr, tt = np.meshgrid(RADII_ARCSEC, np.radians(ANGLES_DEG), indexing="ij")
    return (rr * np.cos(tt)).ravel(), (rr * np.sin(tt)).ravel()


def _v2(lum, pot, x, y):
    out = _proj(lum, INC_DEG, 0.0, DISTANCE_MPC, x, y, RATIO, 1, CONVERGED, pot, interp=False)
    return np.asarray(out.vel2[2, 2], float)


def _by_radius(rel):
    """max |rel| over the angles at each radius."""
    return np.abs(rel.reshape(len(RADII_ARCSEC), len(ANGLES_DEG))).max(axis=1)


def _arrays(mge: MGE):
    return (np.asarray(mge.surf_lsun_pc2), np.asarray(mge.sigma_arcsec), np.asarray(mge.qobs))


def _one(surf, k, eps):
    """The surface densities with Gaussian ``k`` kept and the others at ``eps`` of theirs."""
    return np.where(np.arange(surf.size) == k, surf, eps * surf)


def potential_sum(mge: MGE, x, y, eps=1e-12):
    """Relative error of the sum over single mass Gaussians (the tracer is the whole MGE)."""
    surf, sigma, q = _arrays(mge)
    full = _v2((surf, sigma, q), (surf, sigma, q), x, y)
    parts = [_v2((surf, sigma, q), (_one(surf, k, eps), sigma, q), x, y) for k in range(surf.size)]
    # each part also carries ε of every other Gaussian's mass: Σ parts = (1 + (n−1)ε) V²
    return sum(parts) / ((1 + (surf.size - 1) * eps) * full) - 1


def tracer_sum(mge: MGE, x, y, eps):
    """Relative error of Σ·V² summed over single tracer Gaussians (the potential is the MGE)."""
    surf, sigma, q = _arrays(mge)

    def surface(s):
        return sum(s[j] * np.exp(-(x**2 + (y / q[j]) ** 2) / (2 * sigma[j] ** 2))
                   for j in range(s.size))  # fmt: skip

    full = _v2((surf, sigma, q), (surf, sigma, q), x, y)
    total = 0.0
    for j in range(surf.size):
        s = _one(surf, j, eps)
        total = total + surface(s) * _v2((s, sigma, q), (surf, sigma, q), x, y)
    return total / ((1 + (surf.size - 1) * eps) * surface(surf) * full) - 1


def main() -> None:
    x, y = _points()
    pad = padded(BASE, CONVERGED)
    res = {
        "potential_padded": _by_radius(potential_sum(pad, x, y)),
        "potential_unpadded": _by_radius(potential_sum(BASE, x, y)),
    }
    for eps in TRACER_EPS:
        res[f"tracer_padded_eps{eps:g}"] = _by_radius(tracer_sum(pad, x, y, eps))
    print("max |ΔV²/V²| over the 4 angles, by radius (arcsec); r_max = 18″ padded, 6″ unpadded")
    print(f"{'case':>26} " + " ".join(f"{r:8.2f}" for r in RADII_ARCSEC))
    for name, v in res.items():
        print(f"{name:>26} " + " ".join(f"{e:8.1e}" for e in v))
    write_json(Path(__file__).parents[1] / "out" / "potential_additivity.json",
               {"machine": machine_info(), "jampy": jampy_version(), "settings": "CONVERGED",
                "mge": {"surf_lsun_pc2": BASE.surf_lsun_pc2.tolist(),
                        "sigma_arcsec": BASE.sigma_arcsec.tolist(), "qobs": BASE.qobs.tolist()},
                "padding": {"surf_factor": CONVERGED.pad_surf_factor,
                            "sigma_factor": CONVERGED.pad_sigma_factor},
                "inc_deg": INC_DEG, "ratio": RATIO, "radii_arcsec": RADII_ARCSEC.tolist(),
                "angles_deg": ANGLES_DEG.tolist(),
                "max_rel_by_radius": {k: v.tolist() for k, v in res.items()}})  # fmt: skip


if __name__ == "__main__":
    main()
