"""``jaxjam bench``: time the emulator, gradients, sampling and survey fits against jampy."""

from __future__ import annotations

from pathlib import Path

import click

from jaxjam.cli.options import CONTEXT, model_option, user_errors
from jaxjam.cli.parsing import floats


@click.command(context_settings=CONTEXT)
@click.option("--quick", is_flag=True, help="Small sizes (CI smoke run, ~2 min): not a speed test.")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="jaxjam_bench",
    show_default=True,
    help="Output directory: results.json, table.md, forward.png, survey.png, throughput.png.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random draw.")
@model_option
@click.option("--batch-sizes", default=None, help="Comma-separated emulator batch sizes.")
@click.option(
    "--survey-sizes",
    default=None,
    help="Comma-separated numbers of galaxies per batched fit [default: 1,10; on a GPU try "
    "1,10,100,1000].",
)
@click.option(
    "--galaxies-per-step",
    type=click.IntRange(min=1),
    default=None,
    help="Survey fits: galaxies run at a time (jax.lax.map) [default: all vmapped in lockstep].",
)
@click.option(
    "--jampy-reference",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="JSON of a long emcee-over-jampy run (benchmarks/posterior/jampy_mcmc_m32.py; one is "
    "committed at benchmarks/reference/posterior/jampy_mcmc_m32.json), whose "
    "autocorrelation time turns the short jampy run into an ESS/s estimate.",
)
@click.option(
    "--jampy-workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes that run jampy for the short emcee run [default: all cores]. On a GPU "
    "machine use 1: there the process pool stalled once (issue 5's GPU run).",
)
@click.option(
    "--table",
    "tables",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True),
    help="Only print the Markdown results table of these results.json files (one column each).",
)
def bench(quick, out, seed, model_dir, batch_sizes, survey_sizes, galaxies_per_step,
          jampy_reference, jampy_workers, tables):  # fmt: skip
    """Time the emulator, gradients, sampling and survey fits against jampy, in one run."""
    from jaxjam.cli.bench.table import markdown_table

    if tables:
        click.echo(markdown_table(tables))
        return
    from jaxjam.cli.bench import BenchConfig, run_bench
    from jaxjam.emulator.emulator import Emulator

    # no persistent compilation cache here: first calls are timed with their compilation
    with user_errors():
        over = {"seed": seed, "jampy_reference": jampy_reference,
                "galaxies_per_step": galaxies_per_step}  # fmt: skip
        if jampy_workers:
            over["jampy_workers"] = jampy_workers
        if batch_sizes:
            over["batch_sizes"] = tuple(int(v) for v in floats(batch_sizes, "--batch-sizes"))
        if survey_sizes:
            over["survey_sizes"] = tuple(int(v) for v in floats(survey_sizes, "--survey-sizes"))
        cfg = BenchConfig.quick_config(**over) if quick else BenchConfig(**over)
        run_bench(out, cfg, Emulator.load(model_dir))
    click.echo((Path(out) / "table.md").read_text())
