"""How large the v2 network's output basis must be: the truncation error of a PCA basis.

The factorised head (:class:`jaxjam.emulator.network.FactorisedHead`) represents each component's
standardised map in a basis of ``head_rank`` maps, started from the principal maps of the
training targets (:func:`jaxjam.emulator.batches.pca_basis`). This script measures the floor that a
*fixed* basis of each rank puts under the network's error: the principal maps of the first
``--train-fraction`` of a store's physical samples, least-squares projections of the rest,
and the relative Vrms error of the projected maps, as the training loss weighs it (stars:
|Δ log A|/2; black hole at M_BH = 1e-2 Υ L: |0.01 ΔB|/2V²; halo at its reference mass:
|Δ(m_ref H)|/2V²). A learned basis can only do better; more samples make the principal maps
generalise better.

    python -m benchmarks.refinement.output_basis_rank STORE [--ranks 64,128,256,512]

Writes benchmarks/out/output_basis_rank.json. A minute on 2 cores for 1,000 samples.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks._common import machine_info, write_json
from jaxjam.core import components as comp
from jaxjam.data_gen.store import StoreReader
from jaxjam.emulator.batches import pca_basis, store_inputs
from jaxjam.emulator.transforms import Normalization, per_component_inputs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store")
    ap.add_argument("--ranks", default="64,128,256,512")
    ap.add_argument("--train-fraction", type=float, default=0.8)
    args = ap.parse_args()
    store = StoreReader(args.store)
    comps = comp.by_name(store.manifest["config"]["components"])
    done = np.nonzero(store.completed_mask())[0]
    status = store.read(done, ["status"])["status"]
    idx = done[np.isin(status, (0, 2))]
    s = store.read(idx, [c.symbol for c in comps] + [c.input_key for c in comps if c.input_key])
    maps = np.stack([s[c.symbol] for c in comps], 1).astype(np.float64)
    inputs = store_inputs(s, comps)
    g = store.manifest["grid"]
    r = np.geomspace(g["r_min_re"], g["r_max_re"], g["n_r"])
    n_tr = int(args.train_fraction * len(idx))
    norm = Normalization.fit(np.zeros((n_tr, 1, 1)), np.zeros((n_tr, 6)), maps[:n_tr], r,
                             components=comps,
                             inputs=None if inputs is None else inputs[:n_tr])  # fmt: skip
    z = norm.encode_targets(maps, inputs)
    test = maps[n_tr:]
    values = per_component_inputs(comps, None if inputs is None else inputs[n_tr:])
    scale = [1e-2 if c.input_scale is None else c.input_scale(values[k])
             for k, c in enumerate(comps)]  # fmt: skip
    v2 = test[:, 0] + sum(scale[k] * np.clip(test[:, k], 0, None) for k in range(1, len(comps)))
    rows = []
    for rank in (int(v) for v in args.ranks.split(",")):
        for k, c in enumerate(comps):
            zk = z[:, k].reshape(len(z), -1)
            basis = pca_basis(zk[:n_tr], rank).astype(np.float64)
            coef = np.linalg.lstsq(basis.T, zk[n_tr:].T, rcond=None)[0]
            zr = z[n_tr:].copy()
            zr[:, k] = (basis.T @ coef).T.reshape(-1, *z.shape[2:])
            rec = norm.decode_targets(zr, None if inputs is None else inputs[n_tr:])[:, k]
            if c.target == "log":
                err = 0.5 * np.abs(np.log(rec / test[:, k]))
            else:
                err = 0.5 * scale[k] * np.abs(rec - test[:, k]) / v2
            per_map = err.reshape(len(err), -1).max(1)
            row = {"rank": rank, "component": c.name, "median": float(np.median(err)),
                   "p99": float(np.percentile(err, 99)),
                   "maps_max_le_2pc": float(np.mean(per_map <= 0.02))}  # fmt: skip
            rows.append(row)
            print(
                f"rank {rank:4d} {c.name:10s}: median {row['median']:.1e}, p99 "
                f"{row['p99']:.1e}, maps with max ≤ 2%: {row['maps_max_le_2pc']:.2f}"
            )
    write_json(Path(__file__).parents[1] / "out" / "output_basis_rank.json",
               {"machine": machine_info(), "store": str(args.store), "n_train": n_tr,
                "n_test": len(idx) - n_tr, "rows": rows})  # fmt: skip


if __name__ == "__main__":
    main()
