"""``jaxjam survey``: fit a catalogue of galaxies on dask.distributed."""

from __future__ import annotations

import click

from jaxjam.cli.options import (
    CONTEXT,
    FIT_WORDS,
    cluster_options,
    fit_config,
    fit_options,
    local_workers,
    model_option,
    psf_options,
    user_errors_in,
    writable,
)
from jaxjam.cli.parsing import psf_from_text


@click.command(context_settings=CONTEXT)
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
@cluster_options
@psf_options
@model_option
@fit_options()
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

    workers = local_workers(workers, scheduler)
    writable(out)
    with user_errors_in(FIT_WORDS):
        cfg = fit_config(**options)
        defaults = {"psf": psf_from_text(sigmapsf, normpsf, pixsize), "pa_deg": pa}
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
