"""Which jampy settings are converged JAM: at IFU bins through the PSF, on real photometry.

Usage::

    python -m benchmarks.labels.reference_settings [--out benchmarks/out]

For the M32 demo (175 AO bins, jampy's example data), the NGC 4342 mock (709 bins, AO-like
PSF) and the NGC 5831 mock (709 bins, seeing) of
:data:`jaxjam.testing.mocks.REAL_MOCKS`, at the mock's truth and at one more
(q_int, ratio), this compares

- padded jampy at the bins (:func:`jaxjam.reference.jam.vrms_at_bins`) at several (nang, nlos);
- the certificate's truth: jampy's grid maps at :data:`jaxjam.reference.jam.CONVERGED` (only the
  nodes the bins reach), through jaxjam's exact layer (:func:`jaxjam.core.forward.bin_operator`);

against padded jampy at the bins at :data:`jaxjam.reference.jam.REFERENCE` (nang 45, nlos 800),
and times each call (one process, one BLAS thread). Writes ``reference_settings.json``
(or ``--name``).

``--only``, ``--theta``, ``--settings`` and ``--reference`` choose other cases, e.g. whether
the certificate's settings are converged at the bins for a flat galaxy::

    python -m benchmarks.labels.reference_settings --only M32 NGC4342 --theta 0.07,0.9,6.5,0.1 \
        --settings 30,120 30,300 36,300 42,300 --reference 52,300 --name flat.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks._common import machine_info, parse_settings, single_thread_blas, write_json

single_thread_blas()

import numpy as np  # noqa: E402

SETTINGS = [(15, 30), (15, 120), (20, 120), (25, 200), (30, 120), (30, 300)]


def _stats(v, ref):
    err = np.abs(v / ref - 1)
    return {"median": float(np.median(err)), "p99": float(np.percentile(err, 99)),
            "max": float(np.max(err))}  # fmt: skip


def _cases():
    from jaxjam.testing.m32 import m32_galaxy
    from jaxjam.testing.mocks import real_mock

    m32 = m32_galaxy()
    yield "M32", m32, [(0.365, 0.84, 6.33, 0.142), (0.25, 0.7, 6.5, 0.1)]
    for name, other in (("NGC4342", (0.12, 0.7, 8.5, 0.6)), ("NGC5831", (0.2, 0.65, 8.5, 0.5))):
        mock = real_mock(name)
        yield name, mock.galaxy, [tuple(mock.truth), other]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", default="benchmarks/out")
    ap.add_argument("--name", default="reference_settings.json", help="output file in --out")
    ap.add_argument("--only", nargs="+", default=None, metavar="NAME",
                    help="only these galaxies (M32, NGC4342, NGC5831)")  # fmt: skip
    ap.add_argument("--theta", nargs="+", default=None, metavar="Q_INT,RATIO,LG_MBH,LG_ML",
                    help="measure at these parameters instead of each galaxy's own")  # fmt: skip
    ap.add_argument("--settings", nargs="+", default=None, metavar="NANG,NLOS",
                    help="settings compared [default: " + " ".join(f"{a},{b}" for a, b in SETTINGS)
                    + "]")  # fmt: skip
    ap.add_argument(
        "--reference",
        default=None,
        metavar="NANG,NLOS",
        help="the reference [default: jaxjam.reference.jam.REFERENCE, 45,800]",
    )
    args = ap.parse_args()
    settings = ([tuple(parse_settings(v).values()) for v in args.settings] if args.settings
                else SETTINGS)  # fmt: skip
    thetas = [tuple(float(x) for x in t.split(",")) for t in args.theta] if args.theta else None

    import jax.numpy as jnp

    from jaxjam.core.forward import apply_operator, bin_operator, extend_outward, reached_nodes
    from jaxjam.emulator.emulator import Emulator
    from jaxjam.reference.jam import CONVERGED, REFERENCE, JampyScale, JampySettings, grid_maps
    from jaxjam.reference.jam import vrms_at_bins as at_bins

    reference = JampySettings(**parse_settings(args.reference)) if args.reference else REFERENCE
    grid = Emulator.load().grid
    rows = []
    for name, g, points in _cases():
        if args.only and name not in args.only:
            continue
        points = thetas or points
        k = g.kinematics
        op = bin_operator(grid, g.mge, g.distance_mpc, k.x_arcsec, k.y_arcsec, g.psf)
        norm, re, _ = g.mge.normalized()
        scale = JampyScale(g.distance_mpc, re, float(g.mge.luminosity_lsun(g.distance_mpc)))
        nodes = reached_nodes(op, grid)
        for q, ratio, lg_mbh, lg_ml in points:
            args_ = (g.mge, g.distance_mpc, k.x_arcsec, k.y_arcsec, q, ratio, 10**lg_ml,
                     10**lg_mbh, g.psf)  # fmt: skip
            t0 = time.perf_counter()
            ref = at_bins(*args_, settings=reference)
            row = {"galaxy": name, "n_bins": int(k.x_arcsec.size), "theta": [q, ratio, lg_mbh,
                   lg_ml], "reference_s": time.perf_counter() - t0, "at_bins": {}}  # fmt: skip
            for nang, nlos in settings:
                t0 = time.perf_counter()
                v = at_bins(*args_, settings=JampySettings(nang=nang, nlos=nlos))
                row["at_bins"][f"{nang}/{nlos}"] = {
                    **_stats(v, ref),
                    "seconds": time.perf_counter() - t0,
                }
            t0 = time.perf_counter()
            maps = grid_maps(norm, q, ratio, grid, CONVERGED, scale, nodes)
            grid_maps_ = jnp.asarray(np.stack([extend_outward(a, nodes) for a in maps.maps]))
            m = np.array([10**lg_ml, 10**lg_mbh / op.lum_lsun])
            v = np.sqrt(np.asarray(apply_operator(op, grid_maps_, m)))
            row["grid_maps_converged_through_exact_layer"] = {
                **_stats(v, ref), "seconds": time.perf_counter() - t0,
                "n_nodes": int(nodes.sum())}  # fmt: skip
            rows.append(row)
            print(name, row, flush=True)
    write_json(
        Path(args.out) / args.name,
        {"machine": machine_info(), "reference": reference.to_dict(), "rows": rows},
    )


if __name__ == "__main__":
    main()
