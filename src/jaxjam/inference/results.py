"""A fit's results: the network's Vrms and the table's check at the draws, the ArviZ
DataTree with its metadata, the summary and the problems found (:class:`FitResult`)."""

from __future__ import annotations

import json
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxjam.core.model import Model
from jaxjam.emulator.emulator import Emulator
from jaxjam.inference.certify import verdict, with_certificate
from jaxjam.inference.config import FitConfig, Galaxy
from jaxjam.inference.diagnostics import (
    ConvergenceWarning,
    check_convergence,
    parameter_names,
    summarize,
    to_datatree,
)
from jaxjam.inference.likelihood import (
    Problem,
    log_likelihood,
    log_likelihood_of_model,
    model_vrms,
)
from jaxjam.inference.running import programs

__all__ = ["TABLE_DLOGL_MAX", "FitResult", "at_draws", "fit_result", "table_problems"]

#: Largest |Δ log-likelihood| between the table and the network at the posterior draws that

TABLE_DLOGL_MAX = 0.05


class FitResult(NamedTuple):
    """Outcome of a fit: the DataTree, its summary, problems found, timings (s)."""

    datatree: object
    summary: object
    problems: list
    timing: dict
    certificate: dict | None = None

    @property
    def certified(self) -> bool:
        """Whether converged jampy at posterior draws agreed (:mod:`jaxjam.inference.certify`)."""
        return bool(self.certificate and self.certificate["certified"])

    def median(self) -> dict:
        """Posterior medians of the parameters."""
        post = self.datatree["posterior"]
        return {k: float(np.median(post[k].values)) for k in parameter_names(self.datatree)}


def at_draws(emulator: Emulator, problem: Problem, theta) -> tuple[np.ndarray, dict | None]:
    """The network's own Vrms at the draws, and how far the table's log-likelihood is from the
    network's there.

    Parameters
    ----------
    theta : array, shape (n_chains, n_samples, 4)

    Returns
    -------
    vrms_kms : ndarray, shape (n_chains, n_samples, n_bins)
        Posterior predictive Vrms of the network (not the table), km/s.
    check : dict or None
        With a table: ``max_abs_dlogl`` (largest |Δ log-likelihood|, table − network, over the
        draws where both are finite), ``n_physical_disagree`` (draws that one calls physical
        and the other not) and ``n_draws``.
    """
    cache = programs(emulator)
    fn = cache.get("at_draws")
    if fn is None:
        bins_fn = emulator.bins_fn

        def one(state, problem, t):  # the network evaluated once per draw
            v2, logit = model_vrms(bins_fn, state, problem._replace(table=None), t)
            if problem.table is None:
                return v2, jnp.zeros(2)
            lls = jnp.stack([log_likelihood(bins_fn, state, problem, t),
                             log_likelihood_of_model(problem, v2, logit)])  # fmt: skip
            return v2, lls

        fn = jax.jit(jax.vmap(jax.vmap(one, (None, None, 0)), (None, None, 0)))
        cache["at_draws"] = fn
    v2, lls = (np.asarray(a, np.float64) for a in fn(emulator.state, problem, theta))
    vrms = np.sqrt(np.clip(v2, 0.0, None))
    if problem.table is None:
        return vrms, None
    finite = np.isfinite(lls)
    both = finite.all(-1)
    dlogl = np.abs(lls[..., 0] - lls[..., 1])[both]
    return vrms, {
        "max_abs_dlogl": float(dlogl.max()) if dlogl.size else float("nan"),
        "n_physical_disagree": int((finite[..., 0] != finite[..., 1]).sum()),
        "n_draws": int(both.size),
    }


def table_problems(check: dict | None, warn: bool) -> list[str]:
    """A warning when the table strays from the network at the posterior draws."""
    if check is None:
        return []
    problems = []
    if not check["max_abs_dlogl"] <= TABLE_DLOGL_MAX:
        problems.append(f"the table's log-likelihood differs from the network's by up to "
                        f"{check['max_abs_dlogl']:.3g} at the posterior draws (> "
                        f"{TABLE_DLOGL_MAX}): refit with more table_nodes, or None")  # fmt: skip
    if check["n_physical_disagree"]:
        problems.append(f"the table and the network disagree on physicality at "
                        f"{check['n_physical_disagree']} posterior draws")  # fmt: skip
    if warn:
        for p in problems:
            warnings.warn(p, ConvergenceWarning, stacklevel=3)
    return problems


def _attrs(emulator: Emulator, galaxy: Galaxy, config: FitConfig, problem: Problem,
           refinement: dict | None, table: dict | None) -> dict:  # fmt: skip
    import jampy

    import jaxjam

    return {
        "seed": config.seed,
        "fit_config": config.to_dict(),
        "distance_mpc": float(galaxy.distance_mpc),
        "pa_deg": float(galaxy.pa_deg),
        "psf": galaxy.psf.to_dict() if galaxy.psf else "none",
        "prior_bounds": np.asarray(problem.bounds).tolist(),
        "model_error_frac": float(problem.model_error_frac),
        "model_error_modes": json.dumps(emulator.error_model) if config.model_error else "none",
        "jampy_refinement": json.dumps(refinement) if refinement else "none",
        "table": json.dumps(table) if table else "none",
        "emulator_data_manifest_hash": str(emulator.metadata.get("data_manifest_hash")),
        "jaxjam_version": jaxjam.__version__,
        "jampy_version": jampy.__version__,
        "jax_version": jax.__version__,
        "jax_backend": jax.default_backend(),
        "chains_vectorized": int(config.nuts.vectorize_chains()),  # chain_method "auto" resolved
    }


def fit_result(emulator: Emulator, galaxy: Galaxy, config: FitConfig, problem: Problem,
            refinement: dict | None, table: dict | None, theta, trace, warn: bool,
            cert: dict | None = None, **attrs) -> FitResult:  # fmt: skip
    """One galaxy's FitResult from its draws (a padded problem's extra bins cut off): the
    network's Vrms and the table's check at the draws, the DataTree, its summary and the
    problems found. ``timing`` is left empty; ``attrs`` are added to the DataTree's."""
    vrms, check = at_draws(emulator, problem, theta)
    if table:
        table["at_draws"] = check
    kin = galaxy.kinematics
    attrs = {**_attrs(emulator, galaxy, config, problem, refinement, table), **attrs,
             "certificate": json.dumps(cert) if cert else "none",
             "certified": int(bool(cert and cert["certified"])),
             "verdict": verdict(cert)}  # fmt: skip
    dt = to_datatree(theta, trace, kin._asdict(), vrms[..., : kin.vrms_kms.size], attrs,
                     Model(emulator.components).names)  # fmt: skip
    summary = with_certificate(summarize(dt), cert)
    problems = check_convergence(summary, trace, warn=warn) + table_problems(check, warn)
    if config.certify.enabled and not (cert and cert["certified"]):
        problems.append(verdict(cert))
        if warn:
            warnings.warn(verdict(cert), ConvergenceWarning, stacklevel=3)
    return FitResult(dt, summary, problems, {}, cert)
