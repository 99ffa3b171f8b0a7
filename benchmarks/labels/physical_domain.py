"""Where in (q_int, ratio, shape) JAM has no physical solution, from a generated store.

Usage::

    python -m benchmarks.labels.physical_domain STORE [--out benchmarks/out]

Reads the finished samples of a store and reports the fraction with V² ≤ 0 somewhere
(status 1), overall and binned by ratio, by q_int's position in its allowed range
((q_int − 0.051)/(q'min − 0.051)), by q'min and by Sérsic index. Writes
``physical_domain.json`` and ``physical_domain.png``.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from benchmarks._common import machine_info, write_json


def _binned(x, bad, edges):
    out = []
    for lo, hi in itertools.pairwise(edges):
        sel = (x >= lo) & (x < hi)
        out.append(
            {
                "lo": float(lo),
                "hi": float(hi),
                "n": int(sel.sum()),
                "unphysical_fraction": float(bad[sel].mean()) if sel.any() else None,
            }
        )
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("store")
    ap.add_argument("--out", default="benchmarks/out")
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxjam.core.geometry import Q_INT_MIN
    from jaxjam.data_gen.store import StoreReader

    r = StoreReader(args.store)
    done = np.nonzero(r.completed_mask())[0]
    d = r.read(done, ["status", "q_int", "ratio", "descriptors"])
    names = r.manifest["descriptor_names"]
    desc = {k: d["descriptors"][:, i] for i, k in enumerate(names)}
    bad = d["status"] == 1
    qpos = (d["q_int"] - Q_INT_MIN) / (desc["qobs_min"] - Q_INT_MIN)
    res = {
        "machine": machine_info(),
        "store": str(args.store),
        "manifest_hash": r.manifest["hash"],
        "n_finished": int(done.size),
        "status_counts": {
            str(k): int(v) for k, v in enumerate(np.bincount(d["status"], minlength=5))
        },
        "unphysical_fraction": float(bad.mean()),
        "max_ratio_of_unphysical": float(d["ratio"][bad].max()) if bad.any() else None,
        "by_ratio": _binned(d["ratio"], bad, np.linspace(0.5, 1.5, 11)),
        "by_q_int_position": _binned(qpos, bad, np.linspace(0, 1, 6)),
        "by_qobs_min": _binned(
            desc["qobs_min"], bad, np.array([0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.01])
        ),
        "by_sersic_n": _binned(desc["sersic_n"], bad, np.array([0.5, 0.7, 1, 2, 4, 10.01])),
    }
    print(
        f"{done.size} finished samples: {bad.mean():.2%} unphysical (status 1); "
        f"status counts {res['status_counts']}"
    )
    for key in ("by_ratio", "by_q_int_position", "by_qobs_min", "by_sersic_n"):
        cells = [
            f"[{b['lo']:.2g},{b['hi']:.2g}):{b['unphysical_fraction']:.1%}"
            for b in res[key]
            if b["n"]
        ]
        print(f"  {key:18s} " + "  ".join(cells))
    write_json(Path(args.out) / "physical_domain.json", res)

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    ok = ~bad
    axes[0].scatter(d["ratio"][ok], qpos[ok], s=2, c="0.7", label="physical")
    axes[0].scatter(d["ratio"][bad], qpos[bad], s=8, c="C3", label="V² ≤ 0 somewhere")
    axes[0].set(xlabel="ratio", ylabel="(q_int − 0.051)/(q'min − 0.051)")
    axes[0].legend(loc="upper right")
    axes[1].scatter(desc["sersic_n"][ok], d["ratio"][ok], s=2, c="0.7")
    axes[1].scatter(desc["sersic_n"][bad], d["ratio"][bad], s=8, c="C3")
    axes[1].set(xscale="log", xlabel="spheroid Sérsic n", ylabel="ratio")
    axes[2].scatter(desc["qobs_min"][ok], d["ratio"][ok], s=2, c="0.7")
    axes[2].scatter(desc["qobs_min"][bad], d["ratio"][bad], s=8, c="C3")
    axes[2].set(xlabel="q'min", ylabel="ratio")
    fig.suptitle(f"Unphysical JAM draws: {bad.mean():.2%} of {done.size}")
    fig.tight_layout()
    png = Path(args.out) / "physical_domain.png"
    fig.savefig(png, dpi=120)
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
