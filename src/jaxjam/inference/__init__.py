"""The inference layer: priors, likelihood, refinement, NUTS sampling, certificates, diagnostics
and the files a fit writes (:func:`save_fit`)."""

from jaxjam.inference.config import FitConfig, Galaxy
from jaxjam.inference.diagnostics import ConvergenceWarning, check_convergence, summarize
from jaxjam.inference.fit import fit, fit_many
from jaxjam.inference.nuts import NUTSConfig
from jaxjam.inference.priors import PARAM_NAMES, PriorBounds
from jaxjam.inference.problem import build_problem
from jaxjam.inference.report import save_fit
from jaxjam.inference.results import FitResult

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
    "save_fit",
    "summarize",
]
