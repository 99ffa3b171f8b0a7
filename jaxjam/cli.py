"""The ``jaxjam`` command line."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

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


@main.command(context_settings=CONTEXT)
@click.option(
    "--model",
    "model_dir",
    type=click.Path(exists=True, file_okay=False),
    required=True,
    help="Run directory (or its model/ directory).",
)
@click.option(
    "--data",
    type=click.Path(exists=True, file_okay=False),
    required=True,
    help="Held-out store, generated with a seed other than the training set's.",
)
@click.option(
    "--n-real",
    type=click.IntRange(min=0),
    default=8,
    show_default=True,
    help="(q_int, ratio) draws per real galaxy (M32, NGC 4342, NGC 5831).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of those draws.")
def evaluate(model_dir, data, n_real, seed):
    """Accuracy against jampy on a held-out store and on real galaxies (JSON + PNG plots)."""
    from jaxjam.checkpoint import CheckpointError
    from jaxjam.evaluation import evaluate as run

    try:
        res = run(model_dir, data, n_real_draws=n_real, seed=seed)
    except (ValueError, FileNotFoundError, CheckpointError) as exc:
        raise click.ClickException(str(exc)) from exc
    s = res["store"]["no_bh"]
    click.echo(
        f"held-out store, M_BH = 0: median {s['median']:.2%}, p95 {s['p95']:.2%}, "
        f"p99 {s['p99']:.2%}, max {s['max']:.2%}; per-map max <= 2% for "
        f"{s['fraction_maps_max_le_2pct']:.1%} of {s['n_maps']} maps"
    )
    for key, v in res["store"].items():
        if key != "no_bh":
            click.echo(f"  {key}: median {v['median']:.2%}, p99 {v['p99']:.2%}")
    for name, rows in res["real_galaxies"].items():
        if rows:
            worst = max(r["no_bh"]["max"] for r in rows)
            med = np.median([r["no_bh"]["median"] for r in rows])
            click.echo(f"  {name}: median {med:.2%}, worst map max {worst:.2%}")
    click.echo(f"wrote {Path(res['model']) / 'evaluation.json'}")


def _floats(text):
    return [float(v) for v in text.split(",")] if text else None


@main.command(context_settings=CONTEXT)
@click.option(
    "--mge",
    "mge_path",
    type=click.Path(dir_okay=False),
    required=True,
    help="MGE text file: columns surf_lsun_pc2 sigma_arcsec qobs.",
)
@click.option(
    "--bins",
    "bins_path",
    type=click.Path(dir_okay=False),
    required=True,
    help="Text file whose first two columns are x_arcsec y_arcsec.",
)
@click.option("--distance", type=float, required=True, help="Distance in Mpc.")
@click.option(
    "--q-int", type=float, required=True, help="Intrinsic axial ratio of the flattest MGE Gaussian."
)
@click.option("--ratio", type=float, required=True, help="Anisotropy ratio of eq. (37).")
@click.option("--ml", type=float, required=True, help="Mass-to-light ratio, Msun/Lsun.")
@click.option("--mbh", type=float, required=True, help="Black-hole mass, Msun.")
@click.option("--sigmapsf", default=None, help="PSF Gaussian sigmas, arcsec (S1,S2,...).")
@click.option("--normpsf", default=None, help="PSF Gaussian weights (W1,W2,...).")
@click.option("--pixsize", type=float, default=None, help="Pixel size, arcsec.")
@click.option(
    "--pa",
    type=float,
    default=0.0,
    show_default=True,
    help="Position angle of the projected major axis, deg counter-clockwise from +x.",
)
@click.option(
    "--model",
    "model_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Model directory [default: the pretrained model shipped in jaxjam].",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Output text file [default: stdout].",
)
@click.option(
    "--extrapolate",
    is_flag=True,
    help="Evaluate outside the trained domain (with a warning) instead of failing.",
)
def predict(
    mge_path,
    bins_path,
    distance,
    q_int,
    ratio,
    ml,
    mbh,
    sigmapsf,
    normpsf,
    pixsize,
    pa,
    model_dir,
    out,
    extrapolate,
):
    """Model Vrms (km/s) at the bins of a kinematics file, without PSF convolution.

    Writes columns x_arcsec y_arcsec vrms_kms, one row per input bin in input order.
    """  # fmt: skip
    import sys

    import numpy as np

    from jaxjam.checkpoint import CheckpointError
    from jaxjam.emulator import Emulator
    from jaxjam.mge import read_mge

    if any(v is not None for v in (sigmapsf, normpsf, pixsize)):
        raise click.UsageError(
            "PSF convolution (--sigmapsf/--normpsf/--pixsize) is not available yet: it arrives "
            "with the fitting layer. Omit these options for a PSF-free prediction."
        )
    try:
        mge = read_mge(mge_path)
        bins = np.loadtxt(bins_path, comments="#", ndmin=2)
        if bins.shape[1] < 2 or bins.shape[0] == 0:
            raise ValueError(f"{bins_path} must have at least two columns (x_arcsec y_arcsec)")
        emu = Emulator.load(model_dir)
        vrms = emu.predict_vrms(mge, distance, q_int, ratio, ml, mbh, bins[:, 0], bins[:, 1],
                                pa_deg=pa, extrapolate=extrapolate)  # fmt: skip
    except (ValueError, FileNotFoundError, CheckpointError) as exc:
        raise click.ClickException(str(exc)) from exc
    table = np.column_stack([bins[:, 0], bins[:, 1], vrms])
    header = "x_arcsec y_arcsec vrms_kms"
    if out:
        np.savetxt(out, table, fmt="%.6f", header=header)
    else:
        np.savetxt(sys.stdout, table, fmt="%.6f", header=header)


if __name__ == "__main__":
    main()
