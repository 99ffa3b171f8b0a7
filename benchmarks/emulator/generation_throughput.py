"""Generation throughput on this machine: serial jampy and pipeline rates against dask.

Usage::

    python -m benchmarks.emulator.generation_throughput [--tasks 8] [--workers 2] [--out
    benchmarks/out]

Measures, on the default grid and config:

1. the single-process rate of jampy labels alone (``component_maps``: A and B, 2 jampy calls);
2. the single-process rate of the whole per-sample work (photometry draw + mgefit + image +
   labels), i.e. ``compute_task`` run serially;
3. the rate of ``jaxjam generate`` on a LocalCluster with ``--workers`` processes, on the same
   tasks, including cluster start-up and zarr writes;

and reports the parallel efficiency ``rate_3 / (workers × rate_2)`` and the disk size per
sample. Writes ``generation_throughput.json``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks._common import machine_info, single_thread_blas, write_json

single_thread_blas()

import numpy as np  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tasks", type=int, default=16, help="tasks (16 samples each) per measurement")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--out", default="benchmarks/out")
    args = ap.parse_args()

    from jaxjam.data_gen.config import GeneratorConfig
    from jaxjam.data_gen.generate import compute_task, generate
    from jaxjam.data_gen.jam_labels import component_maps
    from jaxjam.data_gen.sampler import draw_jam_parameters, draw_photometry

    cfg = GeneratorConfig()
    n = args.tasks * cfg.samples_per_task
    print(f"grid {cfg.grid.shape}, nang={cfg.labels.nang}, nlos={cfg.labels.nlos}, {n} samples")

    # 1. jampy labels alone, serial, on photometries drawn beforehand
    rng = np.random.default_rng(args.seed)
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        phots = [draw_photometry(rng) for _ in range(min(n, 48))]
    params = [draw_jam_parameters(rng, p.mge.qobs_min) for p in phots]
    component_maps(phots[0].mge, *params[0], cfg.grid, cfg.labels)  # warm-up
    t = time.perf_counter()
    for p, (q, r) in zip(phots, params, strict=True):
        component_maps(p.mge, q, r, cfg.grid, cfg.labels)
    jampy_rate = len(phots) / (time.perf_counter() - t)
    print(f"serial jampy labels (A+B): {jampy_rate:.2f} samples/s")

    # 2. the whole task, serial
    t = time.perf_counter()
    for task in range(args.tasks):
        compute_task(cfg.to_dict(), args.seed, n, task)
    serial_rate = n / (time.perf_counter() - t)
    print(f"serial full pipeline: {serial_rate:.2f} samples/s")

    # 3. jaxjam generate on dask
    tmp = Path(tempfile.mkdtemp())
    try:
        t = time.perf_counter()
        summary = generate(tmp / "s.zarr", n, args.seed, cfg, workers=args.workers, progress=False)
        wall = time.perf_counter() - t
        steady = summary["seconds_after_cluster_start"]
        size = sum(f.stat().st_size for f in (tmp / "s.zarr").rglob("*") if f.is_file())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    par_rate = n / steady
    eff_pipeline = par_rate / (args.workers * serial_rate)
    eff_jampy = par_rate / (args.workers * jampy_rate)
    print(
        f"jaxjam generate, {args.workers} workers: {par_rate:.2f} samples/s once the cluster "
        f"is up ({n / wall:.2f} samples/s over the {wall:.1f} s wall, incl. start-up)"
    )
    print(
        f"parallel efficiency vs {args.workers} x serial pipeline: {eff_pipeline:.1%} "
        f"(overhead {1 - eff_pipeline:.1%})"
    )
    print(f"vs {args.workers} x serial jampy-only rate: {eff_jampy:.1%}")
    print(f"disk: {size / n / 1024:.1f} KiB per sample")
    write_json(
        Path(args.out) / "generation_throughput.json",
        {
            "machine": machine_info(),
            "config": cfg.to_dict(),
            "n_samples": n,
            "workers": args.workers,
            "serial_jampy_labels_samples_per_s": jampy_rate,
            "serial_pipeline_samples_per_s": serial_rate,
            "parallel_samples_per_s": par_rate,
            "parallel_wall_s": wall,
            "parallel_wall_after_cluster_start_s": steady,
            "parallel_samples_per_s_incl_startup": n / wall,
            "parallel_efficiency_vs_serial_pipeline": eff_pipeline,
            "parallel_efficiency_vs_serial_jampy": eff_jampy,
            "bytes_per_sample": size / n,
        },
    )


if __name__ == "__main__":
    main()
