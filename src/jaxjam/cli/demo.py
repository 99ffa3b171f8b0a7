"""``jaxjam demo``: fit jampy's own M32 black-hole example (:mod:`jaxjam.testing.m32`) with the
shipped emulator, and print the posterior beside jampy's capfit and emcee over jampy."""

from __future__ import annotations

import json

import click

from jaxjam.cli.options import CONTEXT, compilation_cache, out_dir, user_errors
from jaxjam.testing.m32 import capfit_m32, m32_galaxy, stored_capfit, stored_jampy_mcmc

__all__ = ["run_demo"]


def run_demo(out_dir=None, seed: int = 0, run_capfit: bool = False, n_warmup: int = 1000,
             n_samples: int = 1000, progress: bool = True,
             config=None) -> tuple[object, str]:  # fmt: skip
    """Fit M32 with NUTS on the shipped model; return the result and a comparison table.

    Parameters
    ----------
    out_dir : path, optional
        Where to write the ``jaxjam fit`` outputs.
    seed : int
        PRNG seed of the fit.
    run_capfit : bool
        Rerun jampy's capfit example instead of reading the stored result.
    n_warmup, n_samples : int
        Per chain (4 chains).
    config : FitConfig, optional
        Other fit settings (refinement, certificate); its sampler settings are replaced by
        ``n_warmup``, ``n_samples`` and its seed by ``seed``. Default: ``FitConfig()``.
    """
    import dataclasses

    from jaxjam.inference import FitConfig, NUTSConfig, fit
    from jaxjam.inference.priors import PARAM_NAMES
    from jaxjam.inference.report import save_fit

    cfg = dataclasses.replace(config or FitConfig(), seed=seed,
                              nuts=NUTSConfig(n_warmup=n_warmup, n_samples=n_samples))  # fmt: skip
    result = fit(m32_galaxy(), cfg, progress=progress)
    if out_dir is not None:
        save_fit(result, out_dir)
    ref = capfit_m32() if run_capfit else stored_capfit()
    mcmc = stored_jampy_mcmc()
    s = result.summary
    lines = [
        f"M32 (jampy's black-hole example): {ref['n_bins']} bins, AO PSF, D = 0.7 Mpc",
        f"NUTS: 4 chains x ({n_warmup} warm-up + {n_samples} draws), seed {seed}; "
        f"{result.timing['total_s']:.1f} s wall ({result.timing['compile_s']:.1f} s compile, "
        f"{result.timing['sample_s']:.1f} s sampling, "
        f"{result.timing['refine_s'] + result.timing['certify_s']:.1f} s jampy)",
        "",
        f"{'parameter':<11} {'jaxjam mean ± sd':>20} {'94% HDI':>20} {'R-hat':>6} "
        f"{'ESS':>6}   {'jampy capfit':>16}   {'emcee over jampy':>16}",
    ]
    for name in PARAM_NAMES:
        r = s.loc[name]
        hdi = f"[{r['hdi94_lb']:.3f}, {r['hdi94_ub']:.3f}]"
        cf = f"{ref[name][0]:.3f} ± {ref[name][1]:.3f}"
        mc = f"{mcmc[name][0]:.3f} ± {mcmc[name][1]:.3f}"
        lines.append(f"{name:<11} {r['mean']:>11.3f} ± {r['sd']:<6.3f} {hdi:>20} "
                     f"{r['r_hat']:>6.3f} {r['ess_bulk']:>6.0f}   {cf:>16}   {mc:>16}")  # fmt: skip
    lines += ["", f"emcee over jampy: median ± half the 16-84% range, {mcmc['walkers']} walkers x "
              f"{mcmc['steps']} steps, autocorrelation time {mcmc['autocorr_time_steps']:.0f} "
              "steps (benchmarks/posterior/jampy_mcmc_m32.py), reweighted to jampy nlos "
              f"{mcmc['jampy_settings']['nlos']} "
              "(benchmarks/posterior/jampy_mcmc_reweight.py)"]  # fmt: skip
    table = result.datatree["posterior"].attrs.get("table", "none")
    if table != "none":
        t = json.loads(table)
        lines.append(f"sampled on a {t['nodes'][0]} x {t['nodes'][1]} Chebyshev table of the "
                     f"network (rank {t['rank']}): its log-likelihood is within "
                     f"{t['at_draws']['max_abs_dlogl']:.1e} of the network's at all "
                     f"{t['at_draws']['n_draws']} draws")  # fmt: skip
    from jaxjam.inference.certify import verdict

    lines += ["", verdict(result.certificate)]
    c = result.certificate
    if c and c.get("jam_mean"):
        lines.append(
            "posterior reweighted to jampy (jam_mean ± jam_sd in summary.csv): "
            + ", ".join(f"{k} {c['jam_mean'][k]:.3f} ± {c['jam_sd'][k]:.3f}" for k in PARAM_NAMES)
        )
    if result.problems:
        lines += ["", "warnings: " + "; ".join(result.problems)]
    return result, "\n".join(lines)


@click.command(context_settings=CONTEXT)
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

    own = click.get_current_context().get_parameter_source("out") is ParameterSource.DEFAULT
    out_dir(out, overwrite or own)  # the demo replaces its own default output
    compilation_cache()
    with user_errors():
        _, table = run_demo(out, seed=seed, run_capfit=run_capfit)
    click.echo(table)
    click.echo(f"\nwrote {out}/posterior.nc, summary.csv, corner.png, trace.png, maps.png")
