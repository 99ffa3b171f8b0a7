"""How many fixed-width spherical Gaussians a dark-halo basis needs (design input of issues 15/16).

DESIGN.md's halo basis: a gNFW halo (inner slope γ, break radius r_b) becomes weights on the
responses to spherical Gaussians of fixed widths s_k, by a fixed linear projection of its
profile. V² is linear in the potential (jampy's nonlinearity for a halo of width R_e:
≤ 2.6e-6 at M = L_tot, tests/test_components.py), so the basis's error is that of the Gaussians'
enclosed mass. This fits the gNFW enclosed mass M(<r) with K Gaussians of log-spaced widths by
weighted linear least squares (the projection: linear in the profile, so differentiable in γ
and r_b), and reports the error in the total circular velocity², |ΔM_halo(<r)| / (M_*(<r) +
M_halo(<r)), over 1e-3–3 R_e, for Hernquist stars (R_e = 1) and f_DM(<R_e) = 0.5, over
γ ∈ {−1.6, −1, −0.5, 0} and r_b ∈ {0.3, 1, 3, 10} R_e.

    python -m benchmarks.halo.halo_basis

Writes benchmarks/out/halo_basis.json. Pure NumPy, a few seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.integrate import cumulative_trapezoid
from scipy.special import erf

from benchmarks._common import machine_info, write_json

GAMMAS = (-1.6, -1.0, -0.5, 0.0)
BREAKS_RE = (0.3, 1.0, 3.0, 10.0)
BASES = [(8, 0.03, 30.0), (12, 0.01, 50.0), (16, 1e-3, 50.0), (20, 1e-3, 50.0),
         (24, 3e-4, 50.0), (32, 1e-4, 50.0)]  # fmt: skip
RADII_RE = np.geomspace(1e-3, 3.0, 200)


def gaussian_enclosed(r, s):
    """Enclosed mass of a unit-mass spherical Gaussian of width s."""
    x = r / (np.sqrt(2) * s)
    return erf(x) - np.sqrt(2 / np.pi) * (r / s) * np.exp(-(r**2) / (2 * s**2))


def gnfw_enclosed(r, gamma, r_break):
    """Enclosed mass of ρ ∝ (r/r_b)^γ (1/2 + r/2r_b)^(−γ−3) (jampy's dark-halo example)."""
    rr = np.geomspace(1e-7, r.max(), 40000)
    rho = (rr / r_break) ** gamma * (0.5 + 0.5 * rr / r_break) ** (-gamma - 3)
    return np.interp(r, rr, cumulative_trapezoid(4 * np.pi * rr**2 * rho, rr, initial=0))


def main() -> None:
    r = RADII_RE
    stars = r**2 / (r + 1 / 1.815) ** 2  # Hernquist, R_e = 1, unit mass
    rows = []
    for k, s_min, s_max in BASES:
        widths = np.geomspace(s_min, s_max, k)
        g = np.stack([gaussian_enclosed(r, s) for s in widths], 1)
        worst = {}
        for gamma in GAMMAS:
            for rb in BREAKS_RE:
                halo = gnfw_enclosed(r, gamma, rb)
                halo *= np.interp(1.0, r, stars) / np.interp(1.0, r, halo)  # f_DM(<R_e) = 0.5
                w = 1 / (stars + halo)
                coef, *_ = np.linalg.lstsq(g * w[:, None], halo * w, rcond=None)
                err = float(np.max(np.abs(g @ coef - halo) * w))
                worst[str(gamma)] = max(worst.get(str(gamma), 0.0), err)
        rows.append({"n_widths": k, "width_range_re": [s_min, s_max],
                     "max_rel_error_vc2_by_gamma": worst})  # fmt: skip
        print(f"K = {k:2d}, widths {s_min:g}–{s_max:g} R_e: "
              + ", ".join(f"γ {g_}: {e:.1e}" for g_, e in worst.items()))  # fmt: skip
    write_json(Path(__file__).parents[1] / "out" / "halo_basis.json",
               {"machine": machine_info(), "radii_re": [1e-3, 3.0], "rows": rows})  # fmt: skip


if __name__ == "__main__":
    main()
