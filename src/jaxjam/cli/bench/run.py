"""``jaxjam bench``: every speed figure of the package in one run, written to ``results.json``.

Sections (see the modules): ``forward`` (emulator Vrms at the bins against jampy, by batch),
``gradient`` (log-posterior gradient against one jampy call), ``sampling`` (the demo fit and
ESS/s against emcee over jampy), ``survey`` (batched fits of N mocks, extrapolated to 10,000
galaxies) and ``throughput`` (network FLOP/s against the measured matmul peak). Every figure is
measured side by side in the same process, on the default JAX device, and the JSON records the
machine, device, versions and date.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

from jaxjam.reference.jam import CONVERGED, LABELS, JampySettings

__all__ = ["BenchConfig", "run_bench"]


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """What ``jaxjam bench`` measures; :meth:`quick` is the CI smoke configuration."""

    quick: bool = False
    seed: int = 0
    batch_sizes: tuple[int, ...] = (1, 16, 256, 4096, 65536)
    min_total_s: float = 2.0
    gradient_loop: int = 2000
    demo_warmup: int = 1000
    demo_draws: int = 1000
    jampy_walkers: int = 16
    jampy_steps: int = 10
    jampy_workers: int = 0  # 0: os.cpu_count()
    jampy_reference: str | None = None
    jampy_settings: JampySettings = CONVERGED
    survey_sizes: tuple[int, ...] = (1, 10)
    survey_warmup: int = 500
    survey_draws: int = 500
    galaxies_per_step: int | None = None  # fit_many: None vmaps the batch in lockstep
    matmul_n: int = 4096

    @classmethod
    def quick_config(cls, **overrides) -> BenchConfig:
        base = dict(quick=True, batch_sizes=(1, 16), min_total_s=0.1, gradient_loop=50,
                    demo_warmup=40, demo_draws=40, jampy_walkers=8, jampy_steps=1,
                    jampy_workers=1, jampy_settings=LABELS, survey_sizes=(2,), survey_warmup=20,
                    survey_draws=20, matmul_n=256)  # fmt: skip
        return cls(**{**base, **overrides})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _say(progress: bool, msg: str) -> None:
    if progress:
        print(msg, flush=True)


def _save_partial(res: dict, out_dir: Path, t_start: float) -> None:
    """Write what is measured so far: a bench stopped part-way keeps its finished sections."""
    partial = {**res, "wall_s": time.perf_counter() - t_start, "complete": False}
    (out_dir / "results.json").write_text(json.dumps(partial, indent=1, default=float))


def run_bench(out_dir, config: BenchConfig = BenchConfig(), emulator=None,
              progress: bool = True) -> dict:  # fmt: skip
    """Run every benchmark section and write ``results.json``, the PNGs and ``table.md``.

    Parameters
    ----------
    out_dir : path
        Output directory (created).
    config : BenchConfig
    emulator : jaxjam.Emulator, optional
        Defaults to the shipped pretrained model.
    progress : bool
        Print what is being measured, with progress bars for the fits.

    Returns
    -------
    dict
        The contents of ``results.json``.
    """
    from jaxjam.cli.bench import forward, sampling, survey
    from jaxjam.cli.bench.machine import machine_info
    from jaxjam.cli.bench.plots import plot_all
    from jaxjam.cli.bench.table import markdown_table
    from jaxjam.emulator.emulator import Emulator
    from jaxjam.inference import FitConfig
    from jaxjam.inference.problem import tabulate_problem

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    emulator = emulator or Emulator.load()
    model = {
        "path": str(emulator.path),
        "data_manifest_hash": emulator.metadata.get("data_manifest_hash"),
    }
    res = {"machine": machine_info(), "config": config.to_dict(), "model": model}
    galaxy, problem, op_no_psf = forward.m32_problems(emulator)

    _say(progress, "forward: jampy jam.axi.proj at M32's bins, with and without the AO PSF ...")
    jampy = forward.jampy_timing(galaxy, config.min_total_s, settings=config.jampy_settings)
    _say(progress, f"forward: emulator at batch sizes {config.batch_sizes} ...")
    batches = forward.emulator_batches(emulator, problem, op_no_psf, config.batch_sizes,
                                       config.seed, config.min_total_s)  # fmt: skip
    res["forward"] = {"jampy": jampy, "emulator": batches,
                      "speedup_vs_jampy": forward.speedups(jampy, batches)}  # fmt: skip
    _save_partial(res, out_dir, t_start)

    _say(progress, "gradient: value and gradient of the log-posterior ...")
    tabled, table_info = tabulate_problem(emulator, problem, FitConfig(seed=config.seed))
    grad = forward.gradient_timing(emulator, problem, config.gradient_loop, config.min_total_s,
                                   tabled=tabled)  # fmt: skip
    grad["table"] = table_info
    j = jampy["psf"]["median_s"]
    grad["speedup_vs_jampy_call"] = j / grad["per_call"]["median_s"]
    for key in ("in_loop", "in_loop_refined_head", "in_loop_4_chains", "table_in_loop",
                "table_in_loop_4_chains"):  # fmt: skip
        grad[f"speedup_vs_jampy_{key}"] = j / grad[key]["per_gradient_s"]
    res["gradient"] = grad
    _save_partial(res, out_dir, t_start)

    _say(progress, "sampling: the M32 demo fit ...")
    demo = sampling.demo_fit(config.demo_warmup, config.demo_draws, config.seed, progress,
                             emulator, quick=config.quick)  # fmt: skip
    _say(progress, f"sampling: emcee over jampy, {config.jampy_walkers} walkers x "
                   f"{config.jampy_steps} steps ...")  # fmt: skip
    workers = config.jampy_workers or os.cpu_count() or 1
    ref = sampling.jampy_sampler(config.jampy_walkers, config.jampy_steps, config.seed, workers,
                                 config.jampy_reference,
                                 settings=config.jampy_settings)  # fmt: skip
    ours = demo["min_ess_bulk_per_s_total"]
    sampler = demo["min_ess_bulk_per_s_sampling"]
    estimate = ref["ess_per_s_estimate"]
    res["sampling"] = {
        "demo": demo,
        "jampy_emcee": ref,
        "ess_ratio_lower_bound": ours / ref["ess_per_s_upper_bound"],
        "ess_ratio_estimate": ours / estimate if estimate else None,
        # sampler against sampler: NUTS's warm-up and draws against emcee's steps, neither
        # with its one-time costs (jaxjam's refinement, tabulation and compilation)
        "ess_ratio_estimate_sampling": sampler / estimate if estimate else None,
    }
    _save_partial(res, out_dir, t_start)

    _say(progress, f"survey: batched fits of N = {config.survey_sizes} mock galaxies ...")
    rows = survey.survey_timing(config.survey_sizes, config.survey_warmup, config.survey_draws,
                                config.seed, emulator, progress,
                                config.galaxies_per_step)  # fmt: skip
    rows = {str(k): v for k, v in rows.items()}
    res["survey"] = {"batches": rows, "extrapolation": survey.extrapolate(rows)}
    _save_partial(res, out_dir, t_start)

    _say(progress, "throughput: float32 matmul peak ...")
    peak = forward.matmul_peak(config.matmul_n, config.min_total_s)
    net = {n: r for n, r in batches["network"].items() if r.get("flops_per_s")}
    res["throughput"] = {
        "matmul_peak": peak,
        "network_fraction_of_peak": {
            str(n): r["flops_per_s"] / peak["flops_per_s"] for n, r in net.items()
        },
        "gradient_flops_per_s_in_loop": (
            grad["flops"] / grad["in_loop"]["per_gradient_s"] if grad["flops"] else None
        ),
    }
    res["wall_s"] = time.perf_counter() - t_start
    res["complete"] = True
    res = json.loads(json.dumps(res, default=float))  # int batch keys → str, as in the file
    (out_dir / "results.json").write_text(json.dumps(res, indent=1))
    res["figures"] = plot_all(res, out_dir)
    (out_dir / "table.md").write_text(markdown_table([out_dir / "results.json"]) + "\n")
    _say(progress, f"wrote {out_dir / 'results.json'}, table.md and {len(res['figures'])} PNGs "
                   f"in {res['wall_s']:.0f} s")  # fmt: skip
    return res
