"""The ``jaxjam`` command line."""

from __future__ import annotations

import json

import click

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="jaxjam")
def main():
    """jaxjam: a differentiable JAX emulator of Jeans Anisotropic Models (jampy).

    Run `jaxjam COMMAND --help` for the options of each command.
    """


@main.command(context_settings=CONTEXT)
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
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes of the local dask cluster [default: all cores].",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Use an existing dask scheduler (e.g. tcp://host:8786, or one from "
    "dask-jobqueue on SLURM/PBS) instead of a local cluster.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="JSON file overriding GeneratorConfig fields (grid, sampler, labels, ...).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def generate(n_samples, out, seed, workers, scheduler, config_path, quiet):
    """Generate a training set of jampy A/B component maps on dask.distributed.

    Killing the command at any moment and rerunning it finishes the set with no sample lost or
    duplicated, bit-identical to an uninterrupted run with the same seed.
    """  # fmt: skip
    from jaxjam.data_gen.config import GeneratorConfig
    from jaxjam.data_gen.generate import generate as run

    if workers and scheduler:
        raise click.UsageError("give either --workers or --scheduler, not both")
    try:
        config = GeneratorConfig.from_json(config_path) if config_path else GeneratorConfig()
        summary = run(out, n_samples, seed, config, workers=workers, scheduler=scheduler,
                      progress=not quiet)  # fmt: skip
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(summary, indent=2))


@main.command(context_settings=CONTEXT)
@click.option(
    "--data",
    type=click.Path(exists=True, file_okay=False),
    required=True,
    help="Training store written by `jaxjam generate`.",
)
@click.option(
    "--out",
    "run_dir",
    type=click.Path(file_okay=False),
    required=True,
    help="Run directory (checkpoints, best model, loss curve). Rerun to resume.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="JSON file overriding TrainConfig fields (network, batch_size, ...).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(data, run_dir, config_path, quiet):
    """Train the emulator (Optax AdamW, Orbax checkpoints every epoch, early stopping).

    A killed run resumes from its last checkpoint when the same command is run again.
    """  # fmt: skip
    from jaxjam.training import TrainConfig
    from jaxjam.training import train as run

    try:
        config = TrainConfig.from_json(config_path) if config_path else TrainConfig()
        summary = run(data, run_dir, config, progress=not quiet)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
