"""``jaxjam fit``: a certified fit of one galaxy."""

from __future__ import annotations

import click

from jaxjam.cli.options import (
    CONTEXT,
    FIT_WORDS,
    compilation_cache,
    fit_config,
    fit_options,
    mge_option,
    model_option,
    out_dir,
    psf_options,
    user_errors_in,
)
from jaxjam.cli.parsing import psf_from_text
from jaxjam.core.kinematics import MAX_BINS


@click.command(context_settings=CONTEXT)
@mge_option
@click.option(
    "--kinematics",
    "kin_path",
    type=click.Path(dir_okay=False),
    required=True,
    help="Kinematics file: x_arcsec y_arcsec vrms_kms vrms_err_kms [flux].",
)
@click.option("--distance", type=float, required=True, help="Distance, Mpc.")
@psf_options
@model_option
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
@fit_options()
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

    out_dir(out, overwrite)  # before the fit: a fit is never lost to an unwritable --out
    compilation_cache()
    with user_errors_in(FIT_WORDS):
        cfg = fit_config(**options, workers=workers)
        kinematics = read_kinematics(kin_path)
        check_n_bins(kinematics.vrms_kms.size, max_bins)  # before the model is even loaded
        galaxy = Galaxy(read_mge(mge_path), kinematics, distance,
                        psf_from_text(sigmapsf, normpsf, pixsize), pa)  # fmt: skip
        result = run(galaxy, cfg, Emulator.load(model_dir), max_bins=max_bins)
        save_fit(result, out)
    click.echo(result.summary.to_string())
    click.echo(f"wrote {out}/posterior.nc, summary.csv, corner.png, trace.png, maps.png")
    from jaxjam.inference.certify import verdict

    click.echo(verdict(result.certificate))
    if not options["no_certify"] and not result.certified and not accept_uncertified:
        raise SystemExit(3)
