"""The options and helpers shared by the ``jaxjam`` commands: PSF, model and fit options,
output checks, and the errors a user can fix, put as messages."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click
import numpy as np

from jaxjam.cli.parsing import bounds_pair
from jaxjam.core.errors import ArgumentError
from jaxjam.core.model import Model, Parameter

# `jaxjam fit`'s defaults are read from these
from jaxjam.inference.certify import CertifyConfig
from jaxjam.inference.config import FitConfig
from jaxjam.inference.nuts import NUTSConfig
from jaxjam.inference.priors import PriorBounds

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def finite(ctx, param, value):
    """Click callback: refuse NaN and infinities, which ``type=float`` accepts."""
    if value is not None and not np.isfinite(value):
        raise click.BadParameter(f"must be a finite number, got {value}")
    return value


def psf_options(f):
    """The PSF options shared by `predict` and `fit` (jampy's sigmapsf/normpsf/pixsize)."""
    for opt in reversed([
        click.option("--sigmapsf", default=None, help="PSF Gaussian sigmas, arcsec (S1,S2,...)."),
        click.option("--normpsf", default=None, help="PSF weights summing to 1 (W1,W2,...)."),
        click.option("--pixsize", type=float, default=None, help="Pixel size, arcsec."),
        click.option("--pa", type=float, default=0.0, show_default=True, callback=finite,
                     help="Position angle of the projected major axis from the data's +x axis, "
                     "degrees counter-clockwise."),
    ]):  # fmt: skip
        f = opt(f)
    return f


def cluster_options(f):
    """``--workers``, ``--scheduler`` and ``--scheduler-timeout`` of `generate` and `survey`."""
    for opt in reversed([
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Worker processes of the local dask cluster, at most one per core "
                     "(more are capped, with a warning) [default: all cores]."),
        click.option("--scheduler", default=None, metavar="ADDRESS",
                     help="Use an existing dask scheduler (e.g. tcp://host:8786, or one from "
                     "dask-jobqueue on SLURM/PBS) instead of a local cluster."),
        scheduler_timeout_option,
    ]):  # fmt: skip
        f = opt(f)
    return f


def scheduler_timeout_option(f):
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


def local_workers(workers, scheduler):
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


def pair(values) -> str:
    """``(a, b)`` → ``"a,b"`` (numbers as Python prints them, ``1.0`` → ``1``)."""
    return ",".join(f"{v:g}" for v in values)


def bounds_option(parameter: Parameter):
    """``--NAME-bounds LO,HI`` of one model parameter (its value is ``NAME_bounds``)."""
    unit = f", {parameter.unit}" if parameter.unit else ""
    return click.option(
        parameter.option,
        parameter.column,
        default=None,
        metavar="LO,HI",
        help=f"Uniform prior bounds of {parameter.name}{unit} [default: "
        f"{parameter.describe_default()}].",
    )


mge_option = click.option(
    "--mge",
    "mge_path",
    type=click.Path(dir_okay=False),
    required=True,
    help="MGE text file: columns surf_lsun_pc2 sigma_arcsec qobs.",
)
model_option = click.option(
    "--model",
    "model_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Model directory [default: the pretrained model shipped in jaxjam].",
)


def parse_table_nodes(text: str) -> tuple[int, int] | None:
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


def fit_options(model: Model | None = None):
    """The sampler, prior, refinement and certificate options shared by `fit` and `survey`: a
    decorator, with one ``--NAME-bounds`` option per parameter of ``model`` (default: the
    shipped model's, :class:`~jaxjam.core.model.Model`)."""
    model = model or Model()
    return lambda f: _fit_options(f, model)


def _fit_options(f, model: Model):
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
        *(bounds_option(p) for p in model.parameters),
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
        click.option("--table-nodes", default=pair(FitConfig.table_nodes), show_default=True,
                     help="Chebyshev nodes in q_int and ratio of the per-fit table that NUTS "
                     "samples instead of the network (built from it once, its error measured "
                     "and recorded); 'none': the network at every step."),
    ]):  # fmt: skip
        f = opt(f)
    return f


def fit_config(seed, chains, warmup, draws, no_model_error, refine_maps, no_certify,
               certify_draws, max_rounds, table_nodes, workers=None,
               **bounds) -> FitConfig:  # fmt: skip
    """The :class:`FitConfig` of :func:`fit_options`' values; ``bounds``: the ``NAME_bounds``
    values (``"LO,HI"`` or None) of its ``--NAME-bounds`` options."""
    given = {}
    for column, text in bounds.items():
        if not column.endswith("_bounds"):
            raise TypeError(f"fit_config got an unexpected option {column!r}")
        if text is None:
            continue
        given[column.removesuffix("_bounds")] = bounds_pair(text, "--" + column.replace("_", "-"))
    return FitConfig(nuts=NUTSConfig(n_chains=chains, n_warmup=warmup, n_samples=draws),
                     bounds=PriorBounds.from_dict(given), seed=seed,
                     model_error=not no_model_error, refine_maps=refine_maps,
                     table_nodes=parse_table_nodes(table_nodes),
                     certify=CertifyConfig(enabled=not no_certify, n_draws=certify_draws,
                                           max_rounds=max_rounds, workers=workers))  # fmt: skip


def compilation_cache() -> None:
    """Keep compiled XLA programs between runs (a second `fit` or `demo` skips most compiling).

    The directory is ``$JAXJAM_CACHE_DIR`` or ``~/.cache/jaxjam/xla``.
    """
    import os

    import jax

    path = os.environ.get("JAXJAM_CACHE_DIR", os.path.expanduser("~/.cache/jaxjam/xla"))
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


@contextlib.contextmanager
def user_errors():
    """Turn the errors a user can fix (bad input, missing files, bad checkpoints) into messages."""
    from jaxjam.core.cluster import SchedulerUnreachableError
    from jaxjam.emulator.checkpoint import CheckpointError

    try:
        yield
    except (ValueError, FileNotFoundError, CheckpointError, SchedulerUnreachableError) as exc:
        raise click.ClickException(str(exc)) from exc


#: the library's argument names (the fields of :class:`~jaxjam.core.errors.ArgumentError`) as
#: the flags of `jaxjam predict` and `jaxjam fit`
FLAG_WORDS = {
    "mbh_msun": "--mbh",
    "distance_mpc": "--distance",
    "ml": "--ml",
    "q_int": "--q-int",
    "ratio": "--ratio",
    "pa_deg": "--pa",
    "pixsize_arcsec": "--pixsize",
    "sigmapsf": "--sigmapsf",
    "sigma_ref": " (--sigmapsf)",
    "weights_ref": " (--normpsf)",
    "or_step": "",
}
PREDICT_WORDS = {**FLAG_WORDS, "extrapolate_hint": "Pass --extrapolate to evaluate anyway"}
FIT_WORDS = {
    **FLAG_WORDS,
    **{p.column: p.option for p in Model().parameters},
    "refine_maps": "--refine-maps",
    "table_nodes": "--table-nodes",
    "none": "'none'",
    "extrapolate_hint": "`jaxjam fit` does not extrapolate: fit with a model trained on such "
    "photometry (--model)",
}


@contextlib.contextmanager
def user_errors_in(words: dict):
    """:func:`user_errors`, with a bad argument named as this command names it.

    Parameters
    ----------
    words : dict
        The command's words for the fields of an
        :class:`~jaxjam.core.errors.ArgumentError` (:data:`FIT_WORDS`, :data:`PREDICT_WORDS`).
    """
    try:
        with user_errors():
            yield
    except click.ClickException as exc:
        if isinstance(exc.__cause__, ArgumentError):
            exc.message = exc.__cause__.worded(words)
        raise


def writable(path, flag: str = "--out", file: bool = False) -> None:
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


def out_dir(out, overwrite: bool) -> None:
    """A fit's ``--out``: writable (:func:`writable`) and empty, unless ``overwrite``."""
    writable(out)
    path = Path(out)
    if path.is_dir() and not overwrite:
        names = sorted(p.name for p in path.iterdir())
        if names:
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            raise click.ClickException(
                f"--out {out} is not empty (it holds {shown}): pass --overwrite to replace the "
                "files of an earlier fit there, or choose another --out"
            )
