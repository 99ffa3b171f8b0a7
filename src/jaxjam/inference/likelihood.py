"""The log-posterior of one galaxy: a pure JAX function of the unconstrained parameters.

Per evaluation, the bin integrals c_k of the emulator's component maps
(:mod:`jaxjam.core.components`:
a and b of the stars' A and the black hole's B), then each component's exact mass scaling m_k
(Υ, M_BH/L_tot) and a Gaussian likelihood of Vrms² = (G L/R_e) Σ_k m_k c_k. The c_k come from
either

- the MLP on the cached CNN features, fused with the fixed forward operator
  (:mod:`jaxjam.emulator.fused`: the A head and W_A, and the B head folded into W_B), its gradient
  one forward-mode pass through the network (its two inputs are q_int and ratio); or
- when the problem carries a :class:`~jaxjam.emulator.table.BinsTable`, that same function tabulated
  once per fit in (q_int, ratio) (:mod:`jaxjam.emulator.table`), the default of a fit.

The photometry's CNN features, the operator, the folded heads and the table are computed
once, when the :class:`Problem` is built.

Where the model's Vrms² ≤ 0 at an observed bin, JAM has no physical solution at the data and the
density is zero (log-density −inf). Physicality is judged where the data (and the PSF) are, not
over the whole grid to 3 R_e: the network's global physicality output is kept as a diagnostic
only, since it refuses models that jampy answers at every bin (DESIGN.md, "Physicality where the
data are"); the certificate checks jampy's own V² > 0 at the bins of its draws.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxjam.core.forward import BinOperator
from jaxjam.emulator.fused import Folded, FusedHead
from jaxjam.emulator.table import BinsTable, table_bins
from jaxjam.inference.priors import to_constrained

__all__ = [
    "Problem",
    "bin_integrals",
    "log_likelihood",
    "log_likelihood_of_model",
    "log_posterior",
    "model_vrms",
    "vrms2_of",
]


class Problem(NamedTuple):
    """Everything fixed in one galaxy's fit (a pytree; stack several to vmap over galaxies).

    Attributes
    ----------
    features : array, shape (n_features,)
        CNN features of the photometry.
    qobs_min : float
        The MGE's q'min.
    operator : BinOperator
        Forward operator of the bins (PSF, geometry, distance).
    folded : Folded
        The network's ``"linear_r"`` heads (the black hole's) folded into the operator
        (:func:`jaxjam.emulator.fused.fold_linear_heads`), from the same head that the fit uses (the
        emulator's, or ``head``).
    vrms_kms, vrms_err_kms : array, shape (n_bins,)
        Data and 1σ errors, km/s.
    mask : array, shape (n_bins,)
        1 for bins that enter the likelihood, 0 for padding.
    bounds : array, shape (n_params, 2)
        Prior bounds (:class:`jaxjam.inference.priors.PriorBounds`).
    scaling_select : array, shape (n_components, n_params)
        Row k is 1 at the position in θ of component k's parameter, 0 elsewhere.
    scaling_divisor : array, shape (n_components,)
        Component k's mass scaling is ``10**(scaling_select[k] @ θ) / scaling_divisor[k]``
        (:func:`jaxjam.core.components.scalings`: the divisor is L_tot for a mass, 1 for a
        mass-to-light ratio).
    model_error_frac : float
        Independent per-bin fractional emulator error, added in quadrature to the data errors
        (0 to ignore).
    error_modes : array, shape (n_bins, n_modes)
        Correlated emulator error (:mod:`jaxjam.emulator.error_model`): column k times the model
        Vrms is one mode of the error, of unit amplitude; zeros to ignore.
    head : FusedHead, optional
        A network head refined for this galaxy against jampy (:mod:`jaxjam.inference.refine`),
        split as a fit reads it (:func:`jaxjam.emulator.fused.split_head`); ``None`` (the default)
        uses the emulator's own, shared by every galaxy of a batch.
    table : BinsTable, optional
        The fused network (with ``head``) tabulated on the prior box (:mod:`jaxjam.emulator.table`);
        when given, the likelihood evaluates it instead of the network.
    """

    features: jax.Array
    qobs_min: float
    operator: BinOperator
    folded: Folded
    vrms_kms: jax.Array
    vrms_err_kms: jax.Array
    mask: jax.Array
    bounds: jax.Array
    scaling_select: jax.Array
    scaling_divisor: jax.Array
    model_error_frac: float
    error_modes: jax.Array
    head: FusedHead | None = None
    table: BinsTable | None = None


def bin_integrals(bins_fn, state, problem: Problem, q_int, ratio):
    """The component maps' bin integrals c_k, shape (n_components, n_bins), and the logit of
    P(physical), at (q_int, ratio): the table's or the fused network's."""
    op = problem.operator
    if problem.table is not None:
        return table_bins(problem.table, q_int, ratio, len(op.w))
    return bins_fn(state, problem.head, problem.folded, op, problem.features, problem.qobs_min,
                   q_int, ratio)  # fmt: skip


def vrms2_of(problem: Problem, c, theta):
    """Model Vrms² (km/s)² at the bins, shape (n_bins,), from the bin integrals ``c``
    (:func:`bin_integrals`) and each component's exact mass scaling at θ."""
    op = problem.operator
    # one scalar power per component (a selection by a 0/1 row is exact)
    m = [10.0 ** (problem.scaling_select[k] @ theta) / problem.scaling_divisor[k]
         for k in range(len(op.w))]  # fmt: skip
    return op.unit_kms2 * sum(m[k] * c[k] for k in range(len(op.w)))


def model_vrms(bins_fn, state, problem: Problem, theta):
    """Model Vrms² (km/s)² at the bins, shape (n_bins,), and the logit of P(physical), for
    parameters θ (constrained).

    ``bins_fn`` is the emulator's :attr:`~jaxjam.emulator.emulator.Emulator.bins_fn` and ``state``
    its ``nnx.split`` state; both are unused when ``problem.table`` is set.
    """
    c, logit = bin_integrals(bins_fn, state, problem, theta[0], theta[1])
    return vrms2_of(problem, c, theta), logit


def log_likelihood(bins_fn, state, problem: Problem, theta):
    """Gaussian log-likelihood of the data (−inf where V² ≤ 0 at an observed bin).

    The covariance of data − model is ``D + U Uᵀ``: D holds the data errors and the independent
    model error, and ``U = v · error_modes`` the correlated model error, marginalised over its
    mode amplitudes with the Woodbury identity (a small ``n_modes × n_modes`` solve).
    """
    return log_likelihood_of_model(problem, *model_vrms(bins_fn, state, problem, theta))


def log_likelihood_of_model(problem: Problem, v2, logit):
    """:func:`log_likelihood` given the model: Vrms² (km/s)², shape (n_bins,), and the
    physicality logit, as :func:`model_vrms` returns them."""
    del logit  # diagnostic only: physicality is judged at the bins
    ok = v2 > 0
    physical = jnp.all(ok | (problem.mask == 0))
    v = jnp.sqrt(jnp.where(ok, v2, 1.0))
    var = problem.vrms_err_kms**2 + (problem.model_error_frac * v) ** 2
    w = problem.mask / var  # D⁻¹, zero on padding
    r = problem.vrms_kms - v
    u = v[:, None] * problem.error_modes * problem.mask[:, None]
    m = jnp.eye(u.shape[1]) + u.T @ (w[:, None] * u)
    chol = jnp.linalg.cholesky(m)
    z = jax.scipy.linalg.solve_triangular(chol, u.T @ (w * r), lower=True)
    chi2 = jnp.sum(w * r**2) - jnp.sum(z**2)
    log_det = jnp.sum(problem.mask * jnp.log(2 * jnp.pi * var)) + 2 * jnp.sum(
        jnp.log(jnp.diagonal(chol))
    )
    ll = -0.5 * (chi2 + log_det)
    return jnp.where(physical, ll, -jnp.inf)


def log_posterior(bins_fn, state, problem: Problem, u):
    """Log-posterior density of the unconstrained parameters ``u`` (shape (4,)), up to a constant.

    Uniform priors in θ become, in u, the log-Jacobian of the logit transform.
    """
    theta, log_jac = to_constrained(u, problem.bounds)
    return log_likelihood(bins_fn, state, problem, theta) + log_jac
