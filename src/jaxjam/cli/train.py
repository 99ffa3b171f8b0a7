"""``jaxjam train``: train the emulator on a store."""

from __future__ import annotations

import json

import click

from jaxjam.cli.options import CONTEXT, user_errors


@click.command(context_settings=CONTEXT)
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
@click.option(
    "--allow-partial",
    is_flag=True,
    help="Train on the finished samples of a store whose `jaxjam generate` has not finished "
    "(refused without it); the model's metadata records the samples used (data_used).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(data, run_dir, config_path, allow_partial, quiet):
    """Train the emulator (Optax AdamW, Orbax checkpoints every epoch, early stopping).

    A killed run resumes from its last checkpoint when the same command is run again. An
    incomplete store (unless --allow-partial), a training split smaller than one batch and a
    loss that is not finite are errors (exit status 1), and no model is written from them.
    """  # fmt: skip
    from jaxjam.emulator.training import TrainConfig
    from jaxjam.emulator.training import train as run

    with user_errors():
        config = TrainConfig.from_json(config_path) if config_path else TrainConfig()
        summary = run(data, run_dir, config, progress=not quiet, allow_partial=allow_partial)
    click.echo(json.dumps(summary, indent=2))
