"""Refinement maps at cheaper jampy settings: error of A alone, B alone and both (nang 15 and
20 vs nang 30, nlos 120), through the exact layer at the bins of M32 and the NGC 4342 mock.

    python -m benchmarks.refinement.refine_settings_bh
"""

import time

import numpy as np

from jaxjam.core.forward import reached_nodes
from jaxjam.emulator.emulator import Emulator
from jaxjam.inference import FitConfig
from jaxjam.inference.problem import galaxy_operator, relative_scalings
from jaxjam.inference.refine import _bin_values, _one_map
from jaxjam.reference.jam import CONVERGED, LABELS, JampyScale, JampySettings
from jaxjam.testing.m32 import m32_galaxy
from jaxjam.testing.mocks import real_mock

emu = Emulator.load()
cases = [("M32", m32_galaxy(), [(0.37, 0.84, 6.33, 0.142), (0.25, 0.7, 6.4, 0.13)])]
mk = real_mock("NGC4342", seed=0)
cases.append(
    ("NGC4342", mk.galaxy, [tuple(mk.truth), (mk.truth[0] * 1.1, 0.9, mk.truth[2], mk.truth[3])])
)
for name, g, pts in cases:
    op = galaxy_operator(emu, g, FitConfig())
    nodes = reached_nodes(op, emu.grid)
    norm, re, _ = g.mge.normalized()
    sc = JampyScale(g.distance_mpc, re, float(g.mge.luminosity_lsun(g.distance_mpc)))
    for th in pts:
        f = relative_scalings(emu.components, th, op)[1]  # M_BH / (Υ L_tot)
        res = {}
        for s in (LABELS, JampySettings(nang=20, nlos=120), CONVERGED):
            t0 = time.perf_counter()
            m = _one_map(norm, th[0], th[1], emu.grid, s, sc, nodes, emu.components)
            res[s.nang] = (*_bin_values(op, m.maps), time.perf_counter() - t0)
        a30, b30, _ = res[30]
        v_ref = a30 + f * b30
        for n in (15, 20):
            a, b, t = res[n]
            e_b = np.abs((a30 + f * b) / v_ref - 1)
            e_a = np.abs((a + f * b30) / v_ref - 1)
            e_ab = np.abs((a + f * b) / v_ref - 1)
            print(
                f"{name} th={np.round(th, 3)} nang{n} ({t:.1f}s vs {res[30][2]:.1f}s): B only max {e_b.max():.2e} med {np.median(e_b):.1e}; A only max {e_a.max():.2e}; both {e_ab.max():.2e}; BH share max {np.max(f * b30 / v_ref):.2f}"  # noqa: E501
            )
