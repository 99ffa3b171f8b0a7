"""How many Chebyshev terms in log s the network v2's halo head needs (issue 15's measurement).

The v2 network predicts the halo basis map (:data:`jaxjam.core.components.HALO`, the response to
one spherical Gaussian of width s) as a Chebyshev series in x = log10 s/R_e mapped onto
[−1, 1] over the component's input range, so that at a fixed width the halo is a linear head of
the MLP's last hidden layer like the stars and the black hole (:mod:`jaxjam.emulator.network`). This
script measures the truncation error of that series on real photometry: jampy's halo label at
``--n-fit`` Chebyshev–Lobatto widths is interpolated at degrees ``--degrees`` and compared
with jampy at ``--n-test`` other widths drawn uniformly in log s.

The error is that of the halo's part of V² at its reference mass (the label's own,
:func:`jaxjam.core.components.halo_ref_mass`), relative to the total: ``max |Δ(m_ref H)| / (A +
m_ref H)``, over a grid from 1e-4 to 3 R_e, for M32, NGC 4342 and NGC 5831 (mgefit's MGEs,
padded), at the v2 labels' settings (nang 30, nlos 120).

    python -m benchmarks.halo.halo_width_chebyshev [--grid 40,8] [--n-fit 33] [--n-test 12]

Writes benchmarks/out/halo_width_chebyshev.json. ~15 minutes on one core.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks._common import machine_info, single_thread_blas, write_json

single_thread_blas()

import numpy as np  # noqa: E402
from numpy.polynomial import chebyshev as cheb  # noqa: E402

from jaxjam.core import components as comp  # noqa: E402
from jaxjam.core.grid import PolarGrid  # noqa: E402
from jaxjam.data_gen.real_galaxies import real_galaxy_mges  # noqa: E402
from jaxjam.reference.jam import JampyScale, JampySettings, grid_maps  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", default="40,8", help="n_r,n_theta of the 1e-4–3 R_e grid")
    ap.add_argument("--nang", type=int, default=30)
    ap.add_argument("--n-fit", type=int, default=33, help="Chebyshev–Lobatto widths fitted")
    ap.add_argument("--n-test", type=int, default=12, help="random widths tested")
    ap.add_argument("--degrees", default="6,8,12,16,20,24,32")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    n_r, n_t = (int(v) for v in args.grid.split(","))
    grid = PolarGrid(n_r=n_r, n_theta=n_t, r_min_re=1e-4, r_max_re=3.0)
    settings = JampySettings(nang=args.nang, nlos=120)
    lo, hi = comp.HALO.input_range
    x_fit = np.cos(np.pi * np.arange(args.n_fit) / (args.n_fit - 1))[::-1]
    x_test = np.random.default_rng(args.seed).uniform(-1, 1, args.n_test)
    degrees = [int(d) for d in args.degrees.split(",") if int(d) < args.n_fit]
    rows = []
    for name, m in real_galaxy_mges().items():
        norm, re, _ = m.normalized()
        scale = JampyScale(10.0, re, m.luminosity_lsun(10.0))
        q_int, ratio = 0.8 * norm.qobs_min, 0.9

        def halo_part(x, norm=norm, scale=scale, q_int=q_int, ratio=ratio):
            lw = lo + (x + 1) * (hi - lo) / 2
            maps = grid_maps(norm, q_int, ratio, grid, settings, scale,
                             components=(comp.STARS, comp.HALO),
                             inputs={"log10_width_re": lw})  # fmt: skip
            part = comp.halo_ref_mass(lw, scale.lum_lsun) / scale.lum_lsun * maps["H"]
            return maps["A"], part

        fit = np.stack([halo_part(x)[1] for x in x_fit])  # (n_fit, n_r, n_t)
        tests = [halo_part(x) for x in x_test]
        for d in degrees:
            coef = cheb.chebfit(x_fit, fit.reshape(len(x_fit), -1), d)
            errs = []
            for x, (a, part) in zip(x_test, tests, strict=True):
                pred = cheb.chebval(x, coef).reshape(part.shape)
                errs.append(float(np.max(np.abs(pred - part) / (a + part))))
            rows.append({"galaxy": name, "degree": d, "max_rel_error_v2": max(errs),
                         "median_rel_error_v2": float(np.median(errs))})  # fmt: skip
            print(f"{name:8s} degree {d:2d}: max over {args.n_test} widths of max |Δ|/V² "
                  f"{max(errs):.1e} (median {np.median(errs):.1e})")  # fmt: skip
    write_json(Path(__file__).parents[1] / "out" / "halo_width_chebyshev.json",
               {"machine": machine_info(), "grid": grid.to_dict(), "settings": settings.to_dict(),
                "n_fit": args.n_fit, "n_test": args.n_test, "seed": args.seed,
                "rows": rows})  # fmt: skip


if __name__ == "__main__":
    main()
