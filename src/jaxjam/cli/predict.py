"""``jaxjam predict``: model Vrms at the bins of a kinematics file."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from jaxjam.cli.options import (
    CONTEXT,
    PREDICT_WORDS,
    mge_option,
    model_option,
    pair,
    psf_options,
    user_errors_in,
    writable,
)
from jaxjam.cli.parsing import psf_from_text
from jaxjam.core.geometry import Q_INT_MIN, RATIO_RANGE


@click.command(context_settings=CONTEXT)
@mge_option
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
    f"model's trained range ({pair(RATIO_RANGE).replace(',', ' to ')} for the shipped one).",
)
@click.option("--ml", type=float, required=True, help="Mass-to-light ratio, Msun/Lsun (> 0).")
@click.option(
    "--mbh",
    type=float,
    required=True,
    help="Black-hole mass, Msun (0: none), at most the model's trained fraction of the stars' "
    "mass M/L x L_tot (1% for the shipped one).",
)
@psf_options
@model_option
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

    from jaxjam.core.kinematics import read_bins
    from jaxjam.core.mge import read_mge
    from jaxjam.emulator.emulator import Emulator

    if out:
        writable(out, "--out", file=True)
    with user_errors_in(PREDICT_WORDS):
        psf = psf_from_text(sigmapsf, normpsf, pixsize)
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
