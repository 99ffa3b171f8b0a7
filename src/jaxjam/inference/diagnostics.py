"""ArviZ output and convergence diagnostics of a NUTS run."""

from __future__ import annotations

import warnings

import numpy as np

from jaxjam.inference.nuts import NUTSTrace
from jaxjam.inference.priors import PARAM_NAMES

__all__ = ["ConvergenceWarning", "check_convergence", "summarize", "to_datatree"]

RHAT_MAX = 1.01
ESS_MIN_PER_CHAIN = 100


class ConvergenceWarning(UserWarning):
    """R-hat, ESS, divergences, or a per-fit table that strays from the network at the
    posterior draws (:mod:`jaxjam.emulator.table`), suggest the posterior is not reliable."""


def to_datatree(theta, trace: NUTSTrace, observed: dict, predictive_vrms, attrs: dict,
                names=PARAM_NAMES):  # fmt: skip
    """Assemble the ArviZ DataTree of a fit.

    Parameters
    ----------
    theta : ndarray, shape (n_chains, n_samples, 4)
        Draws of the parameters (:data:`PARAM_NAMES` order).
    trace : NUTSTrace
    observed : dict
        ``x_arcsec, y_arcsec, vrms_kms, vrms_err_kms``, each shape (n_bins,).
    predictive_vrms : ndarray, shape (n_chains, n_samples, n_bins)
        Model Vrms at the bins for each draw, km/s (noise-free posterior predictive mean).
    attrs : dict
        Metadata (seed, config, versions, ...), stored on the posterior group.
    names : tuple of str
        θ's names (recorded as the posterior's ``parameter_names``).
    """
    import arviz as az

    theta = np.asarray(theta)
    posterior = {name: theta[..., i] for i, name in enumerate(names)}
    if "log10_mbh" in posterior:
        posterior["mbh_msun"] = 10 ** posterior["log10_mbh"]
    if "log10_ml" in posterior:
        posterior["ml"] = 10 ** posterior["log10_ml"]
    stats = {
        "diverging": np.asarray(trace.is_divergent),
        "tree_depth": np.asarray(trace.tree_depth),
        "n_steps": np.asarray(trace.n_steps),
        "acceptance_rate": np.asarray(trace.acceptance_rate),
        "energy": np.asarray(trace.energy),
        "lp": np.asarray(trace.logdensity),
        "step_size": np.broadcast_to(
            np.asarray(trace.step_size)[:, None], np.asarray(trace.logdensity).shape
        ),
    }
    dt = az.from_dict(
        {
            "posterior": posterior,
            "sample_stats": stats,
            "observed_data": {"vrms_kms": np.asarray(observed["vrms_kms"])},
            "constant_data": {
                k: np.asarray(observed[k]) for k in ("x_arcsec", "y_arcsec", "vrms_err_kms")
            },
            "posterior_predictive": {"vrms_kms": np.asarray(predictive_vrms)},
        },
        dims={k: ["bin"] for k in ("vrms_kms", "x_arcsec", "y_arcsec", "vrms_err_kms")},
        coords={"bin": np.arange(np.asarray(observed["vrms_kms"]).size)},
    )
    dt["posterior"].attrs.update({k: _attr(v) for k, v in attrs.items()})
    dt["posterior"].attrs["parameter_names"] = _attr(list(names))
    return dt


def parameter_names(dt) -> list[str]:
    """θ's names in a fit's DataTree (older files: :data:`PARAM_NAMES`)."""
    import json

    names = dt["posterior"].attrs.get("parameter_names")
    return json.loads(names) if names else list(PARAM_NAMES)


def _attr(v):
    """netCDF attributes must be str, numbers or arrays."""
    import json

    return v if isinstance(v, str | int | float) else json.dumps(v)


def summarize(dt):
    """Mean, sd, 94% HDI, R-hat, bulk and tail ESS per parameter (a pandas DataFrame)."""
    import arviz as az

    return az.summary(dt, var_names=parameter_names(dt), ci_prob=0.94, ci_kind="hdi",
                      round_to="none")  # fmt: skip


def check_convergence(summary, trace: NUTSTrace, warn: bool = True) -> list[str]:
    """Problems with the run: R-hat > 1.01, low ESS or divergences; warns for each."""
    n_chains = np.asarray(trace.logdensity).shape[0]
    problems = []
    for name, row in summary.iterrows():
        if row["r_hat"] > RHAT_MAX:
            problems.append(f"R-hat of {name} is {row['r_hat']:.3f} > {RHAT_MAX}")
        for col in ("ess_bulk", "ess_tail"):
            need = ESS_MIN_PER_CHAIN * n_chains
            if row[col] < need:
                problems.append(f"{col} of {name} is {row[col]:.0f} < {need} "
                                f"({ESS_MIN_PER_CHAIN} per chain)")  # fmt: skip
    n_div = int(np.asarray(trace.is_divergent).sum())
    if n_div:
        problems.append(f"{n_div} divergent transition(s) after warm-up")
    if warn:
        for p in problems:
            warnings.warn(p, ConvergenceWarning, stacklevel=2)
    return problems
