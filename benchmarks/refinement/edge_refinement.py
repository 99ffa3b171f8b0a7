"""Refinement at JAM's physical edge: calibration mock ``ifu`` 10 (ratio 0.524, V² ≤ 0 at some
outer nodes). Converged, padded jampy maps (:data:`jaxjam.reference.jam.CONVERGED`) at 24 points
near the truth; prints the masked node targets, the refined model's leave-one-out error at
the bins through the PSF (against those jampy maps through the exact layer) and the error of
the fit's Chebyshev table of the refined network.

    python -m benchmarks.refinement.edge_refinement [--seed 0]
"""

import argparse

import numpy as np

from benchmarks.posterior.calibration import _build
from jaxjam import Emulator
from jaxjam.core.forward import reached_nodes
from jaxjam.inference import FitConfig
from jaxjam.inference.pool import JampyPool
from jaxjam.inference.problem import (
    build_problem,
    galaxy_operator,
    refine_problem,
    relative_scalings,
    tabulate_problem,
)
from jaxjam.inference.refine import jampy_maps
from jaxjam.reference.jam import CONVERGED
from jaxjam.testing.mocks import SURVEY_PRIOR

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--seed", type=int, default=0)
args = ap.parse_args()
galaxy, truth, _ = _build("ifu", 10, 100)  # calibration.py's default seed
emu = Emulator.load()
cfg = FitConfig(bounds=SURVEY_PRIOR)
op = galaxy_operator(emu, galaxy, cfg)
nodes = reached_nodes(op, emu.grid)
rng = np.random.default_rng(args.seed)
pts = np.column_stack([truth[0] + 0.01 * rng.standard_normal(24),
                       truth[1] + 0.01 * np.abs(rng.standard_normal(24))])  # fmt: skip
pts[:, 0] = np.clip(pts[:, 0], 0.06, galaxy.mge.qobs_min - 1e-3)
maps = jampy_maps(JampyPool(None), galaxy, pts, emu.grid, nodes, CONVERGED, progress=True)
bad = [int((~m.node_ok[0] & nodes).sum()) for m in maps]
print(f"\ntruth {np.round(truth, 4)}; {nodes.sum()} reached nodes; V² ≤ 0 at {min(bad)}-{max(bad)} "
      f"of them in every map")  # fmt: skip
base = build_problem(emu, galaxy, cfg, op)
rel = relative_scalings(emu.components, truth, op)
problem, info = refine_problem(emu, galaxy, base, maps, op, nodes, rel, cfg, n_local=12)
b = info["loo_at_bins"]
print(f"refined on {info['n_maps']} maps ({b['masked_nodes']} node targets masked); "
      f"leave-one-out at the bins on {b['n_maps']}: median {b['median']:.3%}, p95 "
      f"{b['p95']:.3%}, max {b['max']:.3%}")  # fmt: skip
_, table = tabulate_problem(emu, problem, cfg, False, 0)
print("table vs refined network, max relative error per component:", table["max_rel_error"])
