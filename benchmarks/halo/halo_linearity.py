"""jampy's nonlinearity for halo-dominated potentials (issue 15's measurement).

The halo label (:data:`jaxjam.core.components.HALO`: jampy's linear response to one spherical
Gaussian of width s, taken at ``halo_ref_mass(s)``) is compared with direct jampy calls that
put that Gaussian in the potential at 1, 3, 10 and 30 times the reference mass, where the halo
carries up to most of V². The number reported is ``max |(A + m H) / V²_direct − 1|`` over a
grid from 1e-4 to 3 R_e (stars Υ = 1), for M32, NGC 4342 and NGC 5831 (mgefit's MGEs, padded),
at widths from 3e-4 to 60 R_e, at the v2 labels' settings (nang 30, nlos 120).

    python -m benchmarks.halo.halo_linearity [--grid 24,8] [--nang 30]

Writes benchmarks/out/halo_linearity.json. ~2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks._common import machine_info, write_json
from jaxjam.core import components as comp
from jaxjam.core.geometry import inc_from_q_int
from jaxjam.core.grid import PolarGrid
from jaxjam.core.scaling import v2_unit_kms2
from jaxjam.data_gen.real_galaxies import real_galaxy_mges
from jaxjam.reference.jam import JampyScale, JampySettings, _physical_mge, _proj, grid_maps, padded

LOG10_WIDTHS = (-3.5, -2.0, -1.0, 0.0, 1.0, 1.8)
FACTORS = (1.0, 3.0, 10.0, 30.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", default="24,8", help="n_r,n_theta of the 1e-4–3 R_e grid")
    ap.add_argument("--nang", type=int, default=30)
    args = ap.parse_args()
    n_r, n_t = (int(v) for v in args.grid.split(","))
    grid = PolarGrid(n_r=n_r, n_theta=n_t, r_min_re=1e-4, r_max_re=3.0)
    settings = JampySettings(nang=args.nang, nlos=120)
    three = (comp.STARS, comp.BLACK_HOLE, comp.HALO)
    rows = []
    for name, m in real_galaxy_mges().items():
        norm, re, _ = m.normalized()
        scale = JampyScale(10.0, re, m.luminosity_lsun(10.0))
        q_int, ratio = 0.8 * norm.qobs_min, 0.9
        inc = inc_from_q_int(q_int, norm.qobs_min)
        lum = _physical_mge(padded(norm, settings), scale)
        x_re, y_re = grid.nodes_xy_re()
        unit = v2_unit_kms2(scale.lum_lsun, re, 10.0)
        for lw in LOG10_WIDTHS:
            maps = grid_maps(norm, q_int, ratio, grid, settings, scale, components=three,
                             inputs={"log10_width_re": lw})  # fmt: skip
            m_ref = comp.halo_ref_mass(lw, scale.lum_lsun)
            for f in FACTORS:
                mass = f * m_ref
                extra = comp.halo_gaussian(mass, lw, scale)
                pot = tuple(np.r_[a, e] for a, e in zip(lum, extra, strict=True))
                out = _proj(lum, inc, 0.0, 10.0, (x_re * re).ravel(), (y_re * re).ravel(),
                            ratio, 1, settings, pot, interp=False)  # fmt: skip
                direct = np.asarray(out.vel2[2, 2]).reshape(grid.shape) / unit
                halo = mass / scale.lum_lsun * maps["H"]
                err = float(np.max(np.abs((maps["A"] + halo) / direct - 1)))
                share = float(np.max(halo / direct))
                rows.append({"galaxy": name, "log10_width_re": lw, "mass_over_ref": f,
                             "mass_over_lum": mass / scale.lum_lsun,
                             "max_rel_error_v2": err, "max_halo_share_v2": share})  # fmt: skip
                print(f"{name:8s} log s {lw:+.1f}  M = {f:4.0f} M_ref ({mass / scale.lum_lsun:.2g}"
                      f" L): max |lin/direct − 1| {err:.1e}, halo share ≤ {share:.2f}")  # fmt: skip
    write_json(Path(__file__).parents[1] / "out" / "halo_linearity.json",
               {"machine": machine_info(), "grid": grid.to_dict(),
                "settings": settings.to_dict(), "rows": rows})  # fmt: skip


if __name__ == "__main__":
    main()
