"""Padding on M32: padded vs unpadded jampy Vrms at the demo bins (nang 15 and 30, nlos 120),
at the emcee posterior median. Prints median/max relative difference and delta chi2.

    python -m benchmarks.labels.m32_padding
"""

import contextlib
import io

import jampy as jam
import numpy as np

from jaxjam.core.geometry import beta_eq37, inc_from_q_int
from jaxjam.testing.jampy_posterior import jampy_vrms
from jaxjam.testing.m32 import m32_galaxy

g = m32_galaxy()
m, k = g.mge, g.kinematics
th = (0.3653, 0.8386, 6.3348, 0.1423)
for nang in (15, 30):
    from jaxjam.reference.jam import JampySettings

    s = JampySettings(nang=nang, nlos=120)
    vp = jampy_vrms(g, th, settings=s)
    with contextlib.redirect_stdout(io.StringIO()):
        out = jam.axi.proj(
            (m.surf_lsun_pc2, m.sigma_arcsec, m.qobs),
            (m.surf_lsun_pc2, m.sigma_arcsec, m.qobs),
            inc_from_q_int(th[0], m.qobs_min),
            10 ** th[2] / 10 ** th[3],
            g.distance_mpc,
            k.x_arcsec,
            k.y_arcsec,
            beta=beta_eq37(th[1]),
            plot=False,
            quiet=True,
            ml=10 ** th[3],
            nang=nang,
            nlos=120,
            sigmapsf=[0.04, 0.4],
            normpsf=[0.7, 0.3],
            pixsize=0.05,
        )
    d = out.model / vp - 1
    chi = np.sum(((k.vrms_kms - out.model) / k.vrms_err_kms) ** 2) - np.sum(
        ((k.vrms_kms - vp) / k.vrms_err_kms) ** 2
    )
    print(
        nang,
        f"unpadded/padded-1: median {100 * np.median(np.abs(d)):.4f}% max {100 * np.abs(d).max():.4f}%",  # noqa: E501
        f"dchi2 {chi:.3f}",
    )
