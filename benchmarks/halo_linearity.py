"""jampy nonlinearity for a halo: the Gaussian-halo label of tests/test_components.py (linear
response at 0.1 L_tot) against direct jampy with the halo in the potential at 0.1, 0.3 and 1 L_tot,
on the 8x4 grid of M32, NGC 4342 and NGC 5831 (nang 15 and 30).

    python benchmarks/halo_linearity.py
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
import numpy as np
import test_components as tc

from jaxjam.data_gen.real_galaxies import real_galaxy_mges
from jaxjam.geometry import inc_from_q_int
from jaxjam.reference import CONVERGED, LABELS, JampyScale, _physical_mge, _proj, grid_maps, padded
from jaxjam.scaling import v2_unit_kms2

for name, m in real_galaxy_mges().items():
    norm, re, _ = m.normalized()
    scale = JampyScale(10.0, re, m.luminosity_lsun(10.0))
    for s in (LABELS, CONVERGED):
        maps = grid_maps(norm, 0.8 * norm.qobs_min, 0.9, tc.GRID, s, scale, components=tc.THREE)
        lum = _physical_mge(padded(norm, s), scale)
        x_re, y_re = tc.GRID.nodes_xy_re()
        for f in (1, 3, 10):
            mass = f * tc.HALO_REF_FRACTION * scale.lum_lsun
            pot = tuple(
                np.r_[a, e] for a, e in zip(lum, tc._halo_gaussian(mass, scale), strict=False)
            )
            out = _proj(
                lum,
                inc_from_q_int(0.8 * norm.qobs_min, norm.qobs_min),
                0.0,
                10.0,
                (x_re * re).ravel(),
                (y_re * re).ravel(),
                0.9,
                1,
                s,
                pot,
                interp=False,
            )
            direct = np.asarray(out.vel2[2, 2]).reshape(tc.GRID.shape) / v2_unit_kms2(
                scale.lum_lsun, re, 10.0
            )
            lin = maps["A"] + mass / scale.lum_lsun * maps["H"]
            print(
                name,
                s.nang,
                f"M={f * 0.1:.1f} L: max |lin/direct-1| = {np.max(np.abs(lin / direct - 1)):.1e}; halo share of V2 max {np.max(mass / scale.lum_lsun * maps['H'] / direct):.2f}",  # noqa: E501
            )
