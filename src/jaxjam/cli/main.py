"""The ``jaxjam`` command line."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import click
import numpy as np

# `jaxjam fit`'s defaults are read from these
from jaxjam.core.geometry import Q_INT_MIN, RATIO_RANGE
from jaxjam.core.kinematics import MAX_BINS
from jaxjam.inference.certify import CertifyConfig
from jaxjam.inference.config import FitConfig
from jaxjam.inference.nuts import NUTSConfig
from jaxjam.inference.priors import PriorBounds

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _finite(ctx, param, value):
    """Click callback: refuse NaN and infinities, which ``type=float`` accepts."""
    if value is not None and not np.isfinite(value):
        raise click.BadParameter(f"must be a finite number, got {value}")
    return value


def _psf_options(f):
    """The PSF options shared by `predict` and `fit` (jampy's sigmapsf/normpsf/pixsize)."""
    for opt in reversed([
        click.option("--sigmapsf", default=None, help="PSF Gaussian sigmas, arcsec (S1,S2,...)."),
        click.option("--normpsf", default=None, help="PSF weights summing to 1 (W1,W2,...)."),
        click.option("--pixsize", type=float, default=None, help="Pixel size, arcsec."),
        click.option("--pa", type=float, default=0.0, show_default=True, callback=_finite,
                     help="Position angle of the projected major axis from the data's +x axis, "
                     "degrees counter-clockwise."),
    ]):  # fmt: skip
        f = opt(f)
    return f


def _scheduler_timeout_option(f):
    """``--scheduler-timeout`` of `generate` and `survey`."""
    from jaxjam.core.cluster import SCHEDULER_TIMEOUT

    return click.option(
        "--scheduler-timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=SCHEDULER_TIMEOUT,
        show_default=True,
        metavar="SECONDS",
        help="How long to wait for the --scheduler to answer before giving up with an error.",
    )(f)


def _local_workers(workers, scheduler):
    """``--workers`` of `generate` and `survey`: not with ``--scheduler``, and at most the
    machine's cores (with a warning on stderr)."""
    from jaxjam.core.cluster import capped_workers

    if workers and scheduler:
        raise click.UsageError("give either --workers or --scheduler, not both")
    if workers is None or scheduler:
        return workers
    n, why = capped_workers(workers)
    if why:
        click.echo(f"Warning: --workers {workers}: {why}", err=True)
    return n


def _pair(values) -> str:
    """``(a, b)`` → ``"a,b"`` (numbers as Python prints them, ``1.0`` → ``1``)."""
    return ",".join(f"{v:g}" for v in values)


def _bounds_option(name, default_text):
    return click.option(
        f"--{name.replace('_', '-')}-bounds",
        name + "_bounds",
        default=None,
        metavar="LO,HI",
        help=f"Uniform prior bounds of {name} [default: {default_text}].",
    )


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
    help="Worker processes of the local dask cluster, at most one per core (more are capped, "
    "with a warning) [default: all cores].",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Use an existing dask scheduler (e.g. tcp://host:8786, or one from "
    "dask-jobqueue on SLURM/PBS) instead of a local cluster.",
)
@_scheduler_timeout_option
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

    workers = _local_workers(workers, scheduler)
    _writable(out)
    with _user_errors():
        config = GeneratorConfig.from_json(config_path) if config_path else GeneratorConfig()
        summary = run(out, n_samples, seed, config, workers=workers, scheduler=scheduler,
                      progress=not quiet, scheduler_timeout=scheduler_timeout)  # fmt: skip
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

    with _user_errors():
        config = TrainConfig.from_json(config_path) if config_path else TrainConfig()
        summary = run(data, run_dir, config, progress=not quiet, allow_partial=allow_partial)
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
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    required=True,
    help="Evaluation JSON to write, outside the model directory; an existing file is refused. "
    "The PNG plots go beside it.",
)
def evaluate(model_dir, data, n_real, seed, out_path):
    """Accuracy against jampy on a held-out store and on real galaxies (JSON + PNG plots).

    The model is only read. To make the results the model's test metrics (the error model that
    fits use), run `jaxjam attach-metrics` on the JSON.
    """
    from jaxjam.emulator.evaluation import evaluate as run

    with _user_errors():
        res = run(model_dir, data, out_path, n_real_draws=n_real, seed=seed)
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
    click.echo(f"wrote {out_path}; the model is unchanged")
    if res["overlaps_training_set"]:
        click.echo(f"warning: the store overlaps the training set: {res['overlaps_training_set']}")


@main.command("attach-metrics", context_settings=CONTEXT)
@click.option(
    "--model",
    "model_dir",
    type=click.Path(exists=True, file_okay=False),
    required=True,
    help="Run directory (or its model/ directory); not the model shipped in the package.",
)
@click.option(
    "--evaluation",
    "evaluation_path",
    type=click.Path(exists=True, dir_okay=False),
    required=True,
    help="JSON written by `jaxjam evaluate` for this model.",
)
def attach_metrics(model_dir, evaluation_path):
    """Make an evaluation the model's test metrics (held-out errors and the fits' error model).

    Refused for an evaluation of other weights, of a store that overlaps the training set
    (same manifest hash or seed), of fewer than 1,000 held-out maps, and for a model inside the
    installed package.
    """
    from jaxjam.emulator.evaluation import attach_test_metrics

    with _user_errors():
        meta = attach_test_metrics(model_dir, evaluation_path)
    tm = meta["test_metrics"]
    click.echo(f"attached test metrics of {tm['no_bh']['n_maps']} held-out maps (store "
               f"{tm['data_manifest_hash'][:12]}) to {model_dir}")  # fmt: skip


_mge_option = click.option(
    "--mge",
    "mge_path",
    type=click.Path(dir_okay=False),
    required=True,
    help="MGE text file: columns surf_lsun_pc2 sigma_arcsec qobs.",
)
_model_option = click.option(
    "--model",
    "model_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Model directory [default: the pretrained model shipped in jaxjam].",
)


@main.command(context_settings=CONTEXT)
@_mge_option
@click.option(
    "--bins",
    "bins_path",
    type=click.Path(dir_okay=False),
    required=True,
    help="Text file whose first two columns are x_arcsec y_arcsec (any further columns, such "
    "as a kinematics file's, are ignored).",
)
@click.option("--distance", type=float, required=True, help="Distance in Mpc.")
@click.option(
    "--q-int",
    type=float,
    required=True,
    help=f"Intrinsic axial ratio of the flattest MGE Gaussian, in ({Q_INT_MIN}, q'min], q'min "
    "being the MGE's smallest observed axial ratio (the inclination limit: q'min is edge-on).",
)
@click.option(
    "--ratio",
    type=float,
    required=True,
    help="Anisotropy ratio of eq. (37) (1: isotropic, < 1 radial, > 1 tangential), in the "
    f"model's trained range ({_pair(RATIO_RANGE).replace(',', ' to ')} for the shipped one).",
)
@click.option("--ml", type=float, required=True, help="Mass-to-light ratio, Msun/Lsun (> 0).")
@click.option(
    "--mbh",
    type=float,
    required=True,
    help="Black-hole mass, Msun (0: none), at most the model's trained fraction of the stars' "
    "mass M/L x L_tot (1% for the shipped one).",
)
@_psf_options
@_model_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Output text file, replaced if it exists; missing parent directories are created "
    "[default: stdout].",
)
@click.option(
    "--extrapolate",
    is_flag=True,
    help="Evaluate outside the trained domain (q'min, --ratio, --mbh) with a warning instead "
    "of failing.",
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
    """Model Vrms (km/s) at the bins of a kinematics file (PSF-convolved with --sigmapsf).

    Writes columns x_arcsec y_arcsec vrms_kms, one row per input bin in input order.
    """  # fmt: skip
    import sys

    import numpy as np

    from jaxjam.core.kinematics import read_bins
    from jaxjam.core.mge import read_mge
    from jaxjam.emulator.emulator import Emulator

    if out:
        _writable(out, "--out", file=True)
    with _user_errors_in(_PREDICT_WORDS):
        psf = _psf(sigmapsf, normpsf, pixsize)
        mge = read_mge(mge_path)
        x, y = read_bins(bins_path)
        emu = Emulator.load(model_dir)
        emu.check_mbh(mge, distance, ml, mbh, extrapolate)
        vrms = emu.predict_vrms(mge, distance, q_int, ratio, ml, mbh, x, y, pa_deg=pa, psf=psf,
                                extrapolate=extrapolate)  # fmt: skip
    table = np.column_stack([x, y, vrms])
    header = "x_arcsec y_arcsec vrms_kms"
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        np.savetxt(out, table, fmt="%.6f", header=header)
    else:
        np.savetxt(sys.stdout, table, fmt="%.6f", header=header)


def _table_nodes(text: str) -> tuple[int, int] | None:
    """``--table-nodes``: 'none' or two integers N_Q,N_RATIO."""
    if text.strip().lower() == "none":
        return None
    try:
        nodes = tuple(int(v) for v in text.split(","))
    except ValueError:
        nodes = ()
    if len(nodes) != 2:
        raise click.BadParameter(f"expected 'none' or two integers N_Q,N_RATIO, got {text!r}",
                                 param_hint="--table-nodes")  # fmt: skip
    return nodes


def _fit_options(f):
    """The sampler, prior, refinement and certificate options shared by `fit` and `survey`."""
    for opt in reversed([
        click.option("--seed", type=int, default=0, show_default=True,
                     help="PRNG seed of the fit."),
        click.option("--chains", type=click.IntRange(min=1), default=NUTSConfig.n_chains,
                     show_default=True,
                     help="Independent NUTS chains (at least 4 for a meaningful R-hat)."),
        click.option("--warmup", type=click.IntRange(min=1), default=NUTSConfig.n_warmup,
                     show_default=True,
                     help="Warm-up steps per chain (window adaptation of the step size and "
                     "mass matrix), not kept."),
        click.option("--draws", type=click.IntRange(min=1), default=NUTSConfig.n_samples,
                     show_default=True, help="Posterior draws kept per chain, after the warm-up."),
        _bounds_option("q_int", "0.051 to the MGE's q'min"),
        _bounds_option("ratio", _pair(PriorBounds.ratio)),
        _bounds_option("log10_mbh", _pair(PriorBounds.log10_mbh)),
        _bounds_option("log10_ml", _pair(PriorBounds.log10_ml)),
        click.option("--no-model-error", is_flag=True,
                     help="Do not add the emulator's own error to the data errors."),
        click.option("--refine-maps", type=int, default=FitConfig.refine_maps, show_default=True,
                     help="Converged jampy maps on which the emulator is refined for this galaxy "
                     "before the fit (a few seconds each, in parallel; 0: none)."),
        click.option("--no-certify", is_flag=True,
                     help="Skip the certificate against converged jampy at posterior draws: "
                     "faster, but gives up the guarantee that the posterior is JAM's (prints "
                     "'NOT CHECKED against jampy'; exits 0)."),
        click.option("--certify-draws", type=click.IntRange(min=32),
                     default=CertifyConfig.n_draws, show_default=True,
                     help="Posterior draws at whose (q_int, ratio) converged jampy's (M_BH, M/L) "
                     "plane is computed for the certificate (two calls each)."),
        click.option("--max-rounds", type=click.IntRange(min=1),
                     default=CertifyConfig.max_rounds, show_default=True,
                     help="Rounds of refine, sample, certify before the fit is declared not "
                     "certified."),
        click.option("--table-nodes", default=_pair(FitConfig.table_nodes), show_default=True,
                     help="Chebyshev nodes in q_int and ratio of the per-fit table that NUTS "
                     "samples instead of the network (built from it once, its error measured "
                     "and recorded); 'none': the network at every step."),
    ]):  # fmt: skip
        f = opt(f)
    return f


def _fit_config(seed, chains, warmup, draws, q_int_bounds, ratio_bounds, log10_mbh_bounds,
                log10_ml_bounds, no_model_error, refine_maps, no_certify, certify_draws,
                max_rounds, table_nodes, workers=None) -> FitConfig:  # fmt: skip
    """The :class:`FitConfig` of :func:`_fit_options`' values."""
    given = {k: _floats(v, f"--{k}-bounds") for k, v in (
        ("q_int", q_int_bounds), ("ratio", ratio_bounds), ("log10_mbh", log10_mbh_bounds),
        ("log10_ml", log10_ml_bounds)) if v is not None}  # fmt: skip
    for k, v in given.items():
        if len(v) != 2:
            raise ValueError(f"--{k}-bounds needs two numbers LO,HI, got {v}")
    return FitConfig(nuts=NUTSConfig(n_chains=chains, n_warmup=warmup, n_samples=draws),
                     bounds=PriorBounds(**given), seed=seed, model_error=not no_model_error,
                     refine_maps=refine_maps, table_nodes=_table_nodes(table_nodes),
                     certify=CertifyConfig(enabled=not no_certify, n_draws=certify_draws,
                                           max_rounds=max_rounds, workers=workers))  # fmt: skip


@main.command(context_settings=CONTEXT)
@_mge_option
@click.option(
    "--kinematics",
    "kin_path",
    type=click.Path(dir_okay=False),
    required=True,
    help="Kinematics file: x_arcsec y_arcsec vrms_kms vrms_err_kms [flux].",
)
@click.option("--distance", type=float, required=True, help="Distance, Mpc.")
@_psf_options
@_model_option
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    required=True,
    help="Output directory (posterior.nc, summary.csv, corner.png, trace.png, maps.png), "
    "created if needed; checked before the fit starts. A non-empty one needs --overwrite.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Write into a non-empty --out, replacing the files of an earlier fit there.",
)
@_fit_options
@click.option(
    "--accept-uncertified",
    is_flag=True,
    help="Exit 0 and keep the outputs even when the fit cannot be certified (it says so).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="Processes for the jampy calls [default: all cores; 0: in this process].",
)
@click.option(
    "--max-bins",
    type=click.IntRange(min=1),
    default=MAX_BINS,
    show_default=True,
    help="The most kinematic bins accepted, checked before any work: a fit's setup grows with "
    "the bins (minutes and GBs per stage at 10,000); bin larger data sets (Voronoi), or raise "
    "this to try anyway.",
)
def fit(mge_path, kin_path, distance, sigmapsf, normpsf, pixsize, pa, model_dir, out, overwrite,
        accept_uncertified, workers, max_bins, **options):  # fmt: skip
    """Fit q_int, ratio, M_BH and M/L to a Vrms map with NUTS (BlackJAX) on the emulator, and
    certify the posterior against converged jampy at posterior draws.

    Exit status 0 for a certified fit, 3 for one that could not be certified (unless
    --accept-uncertified), 2 for a usage error (a missing or out-of-range option), 1 for any
    other error."""
    from jaxjam.core.kinematics import check_n_bins, read_kinematics
    from jaxjam.core.mge import read_mge
    from jaxjam.emulator.emulator import Emulator
    from jaxjam.inference import Galaxy
    from jaxjam.inference import fit as run
    from jaxjam.inference.report import save_fit

    _out_dir(out, overwrite)  # before the fit: a fit is never lost to an unwritable --out
    _compilation_cache()
    with _user_errors_in(_FIT_WORDS):
        cfg = _fit_config(**options, workers=workers)
        kinematics = read_kinematics(kin_path)
        check_n_bins(kinematics.vrms_kms.size, max_bins)  # before the model is even loaded
        galaxy = Galaxy(read_mge(mge_path), kinematics, distance,
                        _psf(sigmapsf, normpsf, pixsize), pa)  # fmt: skip
        result = run(galaxy, cfg, Emulator.load(model_dir), max_bins=max_bins)
        save_fit(result, out)
    click.echo(result.summary.to_string())
    click.echo(f"wrote {out}/posterior.nc, summary.csv, corner.png, trace.png, maps.png")
    from jaxjam.inference.certify import verdict

    click.echo(verdict(result.certificate))
    if not options["no_certify"] and not result.certified and not accept_uncertified:
        raise SystemExit(3)


@main.command(context_settings=CONTEXT)
@click.option(
    "--catalog",
    "catalog_path",
    type=click.Path(dir_okay=False),
    required=True,
    help="Table of galaxies (CSV or ECSV), one row each: name, mge, kinematics, distance_mpc "
    "[, sigmapsf, normpsf, pixsize, pa_deg, seed, q_int_bounds, ...]; paths relative to it.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    required=True,
    help="Survey directory: NAME/ per galaxy, survey.csv, survey.json. Rerun the same command "
    "to resume.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes of the local dask cluster, at most one per core (more are capped, "
    "with a warning) [default: all cores].",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Use an existing dask scheduler (e.g. tcp://host:8786, or one from dask-jobqueue on "
    "SLURM/PBS) instead of a local cluster.",
)
@_scheduler_timeout_option
@_psf_options
@_model_option
@_fit_options
@click.option("--no-plots", is_flag=True, help="Write no PNG plots per galaxy.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def survey(catalog_path, out, workers, scheduler, scheduler_timeout, sigmapsf, normpsf, pixsize,
           pa, model_dir, no_plots, quiet, **options):  # fmt: skip
    """Fit every galaxy of a catalogue on dask.distributed, with the options of `jaxjam fit`.

    The PSF options and the bounds are defaults for rows that give none. Killing the command
    at any moment and rerunning it fits only the galaxies not finished (each galaxy's folder is
    complete or absent); the table is then the same as an uninterrupted run's. A rerun with
    another catalogue, or with other options that change the results (the fit options, the
    PSF options, --pa, --model), is refused. Exit status 0 when every galaxy is certified (or
    fitted, with --no-certify), 3 when some are not certified or failed, 2 for a usage error
    (a missing or out-of-range option), 1 for any other error.
    """  # fmt: skip
    import os

    from jaxjam.cli.survey import run_survey

    workers = _local_workers(workers, scheduler)
    _writable(out)
    with _user_errors_in(_FIT_WORDS):
        cfg = _fit_config(**options)
        defaults = {"psf": _psf(sigmapsf, normpsf, pixsize), "pa_deg": pa}
        cache = os.environ.get("JAXJAM_CACHE_DIR", os.path.expanduser("~/.cache/jaxjam/xla"))
        res = run_survey(catalog_path, out, cfg, model_dir=model_dir, workers=workers,
                         scheduler=scheduler, defaults=defaults, plots=not no_plots,
                         progress=not quiet, cache_dir=cache,
                         scheduler_timeout=scheduler_timeout)  # fmt: skip
    click.echo(f"{res['n_galaxies']} galaxies: {res['n_certified']} certified, "
               f"{res['n_not_certified']} not certified, {res['n_failed']} failed "
               f"({res['n_fitted']} fitted by this run, {res['n_done_before']} before it, "
               f"{res['seconds']:.0f} s); wrote {res['table']}")  # fmt: skip
    if res["n_failed"] or (res["n_not_certified"] and not options["no_certify"]):
        raise SystemExit(3)


@main.command(context_settings=CONTEXT)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="jaxjam_demo",
    show_default=True,
    help="Output directory of the fit, checked before it starts. The default is replaced by "
    "each run; any other non-empty directory needs --overwrite.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Write into a non-empty --out, replacing the files of an earlier fit there.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="PRNG seed of the fit.")
@click.option(
    "--run-capfit",
    is_flag=True,
    help="Rerun jampy's capfit example (~30 jampy calls) instead of its stored result.",
)
def demo(out, overwrite, seed, run_capfit):
    """Fit jampy's M32 black-hole example with NUTS on the shipped pretrained emulator."""
    from click.core import ParameterSource

    from jaxjam.cli.demo import run_demo

    own = click.get_current_context().get_parameter_source("out") is ParameterSource.DEFAULT
    _out_dir(out, overwrite or own)  # the demo replaces its own default output
    _compilation_cache()
    with _user_errors():
        _, table = run_demo(out, seed=seed, run_capfit=run_capfit)
    click.echo(table)
    click.echo(f"\nwrote {out}/posterior.nc, summary.csv, corner.png, trace.png, maps.png")


@main.command(context_settings=CONTEXT)
@click.option("--quick", is_flag=True, help="Small sizes (CI smoke run, ~2 min): not a speed test.")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="jaxjam_bench",
    show_default=True,
    help="Output directory: results.json, table.md, forward.png, survey.png, throughput.png.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random draw.")
@_model_option
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
    help="JSON of a long emcee-over-jampy run (benchmarks/jampy_mcmc_m32.py; one is committed "
    "at benchmarks/reference/jampy_mcmc_m32.json), whose "
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
    with _user_errors():
        over = {"seed": seed, "jampy_reference": jampy_reference,
                "galaxies_per_step": galaxies_per_step}  # fmt: skip
        if jampy_workers:
            over["jampy_workers"] = jampy_workers
        if batch_sizes:
            over["batch_sizes"] = tuple(int(v) for v in _floats(batch_sizes, "--batch-sizes"))
        if survey_sizes:
            over["survey_sizes"] = tuple(int(v) for v in _floats(survey_sizes, "--survey-sizes"))
        cfg = BenchConfig.quick_config(**over) if quick else BenchConfig(**over)
        run_bench(out, cfg, Emulator.load(model_dir))
    click.echo((Path(out) / "table.md").read_text())


def _compilation_cache() -> None:
    """Keep compiled XLA programs between runs (a second `fit` or `demo` skips most compiling).

    The directory is ``$JAXJAM_CACHE_DIR`` or ``~/.cache/jaxjam/xla``.
    """
    import os

    import jax

    path = os.environ.get("JAXJAM_CACHE_DIR", os.path.expanduser("~/.cache/jaxjam/xla"))
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


@contextlib.contextmanager
def _user_errors():
    """Turn the errors a user can fix (bad input, missing files, bad checkpoints) into messages."""
    from jaxjam.core.cluster import SchedulerUnreachableError
    from jaxjam.emulator.checkpoint import CheckpointError

    try:
        yield
    except (ValueError, FileNotFoundError, CheckpointError, SchedulerUnreachableError) as exc:
        raise click.ClickException(str(exc)) from exc


#: API wording → the flags of `jaxjam predict` and `jaxjam fit`, in the order applied
_FLAG_WORDS = (
    ("mbh_msun must", "--mbh must"),
    ("distance_mpc must", "--distance must"),
    ("ml must be", "--ml must be"),
    ("q_int must be", "--q-int must be"),
    ("ratio must be", "--ratio must be"),
    ("pa_deg must", "--pa must"),
    ("pixsize_arcsec must", "--pixsize must"),
    ("PSF sigmas must", "PSF sigmas (--sigmapsf) must"),
    ("PSF weights must", "PSF weights (--normpsf) must"),
    ("Check sigmapsf", "Check --sigmapsf"),
    (", or pass a larger step_arcsec", ""),
)
_PREDICT_WORDS = (
    *_FLAG_WORDS,
    ("Pass extrapolate=True to evaluate anyway", "Pass --extrapolate to evaluate anyway"),
)
_FIT_WORDS = (
    *_FLAG_WORDS,
    *((f"prior bounds of {k}", f"--{k.replace('_', '-')}-bounds")
      for k in ("q_int", "ratio", "log10_mbh", "log10_ml")),
    ("q_int bounds (", "--q-int-bounds ("),
    ("ratio bounds (", "--ratio-bounds ("),
    ("refine_maps must", "--refine-maps must"),
    ("table_nodes must be None or", "--table-nodes must be 'none' or"),
    ("Pass extrapolate=True to evaluate anyway",
     "`jaxjam fit` does not extrapolate: fit with a model trained on such photometry (--model)"),
)  # fmt: skip


@contextlib.contextmanager
def _user_errors_in(words):
    """:func:`_user_errors`, with the API's argument names in a message put as the CLI's flags.

    Parameters
    ----------
    words : tuple of (str, str)
        ``(api_text, cli_text)`` replacements, applied in order (:data:`_PREDICT_WORDS`), each
        where ``api_text`` starts a word (``ml`` is not replaced in ``log10_ml``).
    """
    import re

    try:
        with _user_errors():
            yield
    except click.ClickException as exc:
        for api, cli in words:
            exc.message = re.sub(r"(?<![\w-])" + re.escape(api), cli, exc.message)
        raise


def _writable(path, flag: str = "--out", file: bool = False) -> None:
    """Refuse an output path that cannot be created and written, before any work is done.

    The nearest existing ancestor of the directory ``path`` (of its parent for a ``file``)
    must be a directory in which a file can be made: this catches a regular file on the way,
    a read-only file system and missing permissions alike.
    """
    import tempfile

    there = Path(path).absolute()
    if file:
        there = there.parent
    while not there.exists():
        there = there.parent
    if not there.is_dir():
        raise click.ClickException(f"{flag} {path}: {there} is a file, not a directory; choose "
                                   f"another {flag}")  # fmt: skip
    try:
        with tempfile.TemporaryFile(dir=there):
            pass
    except OSError as exc:
        raise click.ClickException(f"{flag} {path}: cannot write in {there} ({exc.strerror}); "
                                   f"choose a writable {flag}") from exc  # fmt: skip


def _out_dir(out, overwrite: bool) -> None:
    """A fit's ``--out``: writable (:func:`_writable`) and empty, unless ``overwrite``."""
    _writable(out)
    path = Path(out)
    if path.is_dir() and not overwrite:
        names = sorted(p.name for p in path.iterdir())
        if names:
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            raise click.ClickException(
                f"--out {out} is not empty (it holds {shown}): pass --overwrite to replace the "
                "files of an earlier fit there, or choose another --out"
            )


def _floats(text, name):
    from jaxjam.cli.parsing import floats

    return floats(text, name)


def _psf(sigmapsf, normpsf, pixsize):
    """A PSF from the CLI options, or None when none is given."""
    from jaxjam.cli.parsing import psf_from_text

    return psf_from_text(sigmapsf, normpsf, pixsize)


if __name__ == "__main__":
    main()
