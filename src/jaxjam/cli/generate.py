"""``jaxjam generate``: a training set of jampy component maps."""

from __future__ import annotations

import json

import click

from jaxjam.cli.options import (
    CONTEXT,
    cluster_options,
    local_workers,
    user_errors,
    writable,
)


@click.command(context_settings=CONTEXT)
@click.option(
    "--n",
    "n_samples",
    type=click.IntRange(min=1),
    required=True,
    help="Number of samples (photometries x JAM draws) in the training set.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    required=True,
    help="Output zarr store. If it exists with the same config and seed, the run resumes.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Root seed; recorded in the store's manifest.",
)
@cluster_options
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="JSON file overriding GeneratorConfig fields (grid, sampler, labels, ...).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def generate(n_samples, out, seed, workers, scheduler, scheduler_timeout, config_path, quiet):
    """Generate a training set of jampy component maps (stars, black hole, halo) on dask.

    Killing the command at any moment and rerunning it finishes the set with no sample lost or
    duplicated, bit-identical to an uninterrupted run with the same seed.
    """  # fmt: skip
    from jaxjam.data_gen.config import GeneratorConfig
    from jaxjam.data_gen.generate import generate as run

    workers = local_workers(workers, scheduler)
    writable(out)
    with user_errors():
        config = GeneratorConfig.from_json(config_path) if config_path else GeneratorConfig()
        summary = run(out, n_samples, seed, config, workers=workers, scheduler=scheduler,
                      progress=not quiet, scheduler_timeout=scheduler_timeout)  # fmt: skip
    click.echo(json.dumps(summary, indent=2))
