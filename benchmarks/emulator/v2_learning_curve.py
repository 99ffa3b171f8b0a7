"""Learning curve of the v2 network: held-out accuracy against training photometries and steps.

For each training-set size N it trains (or resumes) a run on the store's first N finished
samples (``TrainConfig.max_samples``; the run directories are ``RUNS/n{N}``, so a killed
benchmark resumes where it stopped), then measures the best model on held-out samples of the
same store that no run read (finished samples after the largest N, or ``--heldout STORE`` of
another seed) with :func:`jaxjam.emulator.store_accuracy.store_accuracy`: relative Vrms error
against
the store's jampy labels (converged, padded; see the store's manifest) for the stars alone,
stars + black hole at M_BH/M* = 1e-3, 3e-3, 1e-2, stars + halo at its reference mass, and the
physical radius. The curve against optimisation steps is each run's validation history.

    python -m benchmarks.emulator.v2_learning_curve STORE --config configs/train_v2_probe.json \\
        --sizes 250,500,750 --runs /work/runs/lc [--heldout OTHER_STORE] [--epochs 40]

Writes benchmarks/out/v2_learning_curve.json and .png. Hours on 2 cores (the epoch time is in
the JSON).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from benchmarks._common import machine_info, write_json

OUT = Path(__file__).parents[1] / "out"


def _plot(rows, histories, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    n = [r["n_train_samples"] for r in rows]
    for case in rows[0]["accuracy"]["cases"]:
        med = [r["accuracy"]["cases"][case]["median"] for r in rows]
        p99 = [r["accuracy"]["cases"][case]["p99"] for r in rows]
        frac = [r["accuracy"]["cases"][case]["fraction_maps_max_le_2pct"] for r in rows]
        (line,) = axes[0].loglog(n, med, "o-", label=f"{case} median")
        axes[0].loglog(n, p99, "s--", color=line.get_color(), label=f"{case} p99")
        axes[1].semilogx(n, frac, "o-", color=line.get_color(), label=case)
    for ax, y in ((axes[0], 0.003), (axes[0], 0.015), (axes[1], 0.95)):
        ax.axhline(y, color="0.5", ls=":", lw=1)
    axes[0].set(xlabel="training samples", ylabel="held-out |ΔVrms|/Vrms")
    axes[1].set(xlabel="training samples", ylabel="maps with max ≤ 2%", ylim=(0, 1))
    for size, hist in histories.items():
        steps = np.cumsum([h.get("steps", 1) for h in hist])
        axes[2].loglog(steps, [h["val_rms_rel_vrms"] for h in hist], label=f"N = {size}")
    axes[2].set(xlabel="optimisation steps", ylabel="validation rms |ΔVrms|/Vrms (stars)")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.suptitle("v2 network: learning curve against converged jampy labels")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store")
    ap.add_argument("--config", required=True, help="TrainConfig JSON (max_samples is set)")
    ap.add_argument("--sizes", required=True, help="comma-separated training-set sizes")
    ap.add_argument("--runs", required=True, help="directory of the runs (resumed)")
    ap.add_argument("--heldout", help="held-out store (default: the store's later samples)")
    ap.add_argument(
        "--n-heldout",
        type=int,
        default=256,
        help="held-out samples after the largest size (a fixed set while the store grows)",
    )
    ap.add_argument("--epochs", type=int, help="override max_epochs")
    args = ap.parse_args()

    from jaxjam.data_gen.store import StoreReader
    from jaxjam.emulator.store_accuracy import store_accuracy
    from jaxjam.emulator.training import TrainConfig, train

    base = TrainConfig.from_json(args.config)
    if args.epochs:
        base = dataclasses.replace(base, max_epochs=args.epochs)
    sizes = sorted(int(v) for v in args.sizes.split(","))
    done = np.nonzero(StoreReader(args.store).completed_mask())[0]
    if args.heldout:
        heldout_store, heldout = args.heldout, None
    else:
        heldout_store, heldout = args.store, done[sizes[-1] : sizes[-1] + args.n_heldout]
        if heldout.size < args.n_heldout:
            raise SystemExit(f"only {heldout.size} of --n-heldout {args.n_heldout} finished "
                             f"samples after the largest size {sizes[-1]}; generate more or "
                             "pass --heldout")  # fmt: skip
    rows, histories = [], {}
    for size in sizes:
        cfg = dataclasses.replace(base, max_samples=size)
        run = Path(args.runs) / f"n{size}"
        t0 = time.perf_counter()
        summary = train(args.store, run, cfg, progress=True)
        hist = json.loads((run / "history.json").read_text())
        histories[size] = hist
        acc = store_accuracy(run / "model", heldout_store, heldout)
        rows.append({"n_train_samples": size, "run": str(run), "epochs": summary["epochs"],
                     "best_epoch": summary["best_epoch"],
                     "seconds_this_call": time.perf_counter() - t0,
                     "epoch_seconds_median": float(np.median([h["seconds"] for h in hist]))
                     if hist and "seconds" in hist[0] else None,
                     "accuracy": acc})  # fmt: skip
        for case, s in acc["cases"].items():
            print(f"N={size:6d} {case:12s} median {s['median']:.2e} p99 {s['p99']:.2e} "
                  f"max≤2%: {s['fraction_maps_max_le_2pct']:.2f}")  # fmt: skip
    payload = {"machine": machine_info(), "store": args.store, "heldout_store": heldout_store,
               "n_heldout_samples": rows[-1]["accuracy"]["n_samples"],
               "config": base.to_dict(), "rows": rows,
               "histories": {str(k): v for k, v in histories.items()}}  # fmt: skip
    write_json(OUT / "v2_learning_curve.json", payload)
    _plot(rows, histories, OUT / "v2_learning_curve.png")


if __name__ == "__main__":
    main()
