"""Priors, likelihood, NUTS sampling and diagnostics (installed as ``jaxjam.inference``)."""

from jaxjam.inference.diagnostics import ConvergenceWarning, check_convergence, summarize
from jaxjam.inference.fit import FitConfig, FitResult, Galaxy, build_problem, fit, fit_many
from jaxjam.inference.nuts import NUTSConfig
from jaxjam.inference.priors import PARAM_NAMES, PriorBounds

__all__ = [
    "PARAM_NAMES",
    "ConvergenceWarning",
    "FitConfig",
    "FitResult",
    "Galaxy",
    "NUTSConfig",
    "PriorBounds",
    "build_problem",
    "check_convergence",
    "fit",
    "fit_many",
    "summarize",
]
