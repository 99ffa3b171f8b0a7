"""NUTS with BlackJAX: window adaptation, then sampling with ``lax.scan``, chains vmapped.

:func:`sample_chains` is a pure function of (key, initial positions): jit it, or vmap it over
galaxies (:func:`jaxjam.inference.fit.fit_many`).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp
from blackjax.adaptation.base import get_filter_adapt_info_fn

__all__ = ["NUTSConfig", "NUTSTrace", "initial_positions", "laplace_start", "sample_chains"]


@dataclasses.dataclass(frozen=True)
class NUTSConfig:
    """Sampler settings.

    Parameters
    ----------
    n_chains : int
        Independent chains (vmapped), at least 4 for R-hat.
    n_warmup, n_samples : int
        Window-adaptation steps and kept draws per chain.
    target_acceptance : float
        Step-size adaptation target.
    max_tree_depth : int
        Maximum number of trajectory doublings.
    n_init_candidates : int
        Prior draws per chain from which the highest-density one starts the optimiser.
    n_map_steps : int
        Adam steps towards the posterior mode, whose Laplace approximation seeds the chains'
        starting points and the initial (diagonal) inverse mass matrix; 0 disables it.
    """

    n_chains: int = 4
    n_warmup: int = 1000
    n_samples: int = 1000
    target_acceptance: float = 0.8
    max_tree_depth: int = 10
    n_init_candidates: int = 64
    n_map_steps: int = 300

    def __post_init__(self):
        if self.n_chains < 1 or self.n_warmup < 1 or self.n_samples < 1:
            raise ValueError(f"n_chains, n_warmup and n_samples must be ≥ 1, got {self}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class NUTSTrace(NamedTuple):
    """Draws and per-draw statistics, each with leading shape (n_chains, n_samples).

    ``position`` has a trailing parameter axis; ``step_size`` has shape (n_chains,).
    """

    position: jax.Array
    logdensity: jax.Array
    is_divergent: jax.Array
    tree_depth: jax.Array
    n_steps: jax.Array
    acceptance_rate: jax.Array
    energy: jax.Array
    step_size: jax.Array


def initial_positions(logdensity_fn, key, n_chains: int, dim: int, n_candidates: int):
    """Per chain, the highest-density of ``n_candidates`` draws of u ~ N(0, 1.5²).

    In the logit parameterisation this spreads over the whole prior box; taking the best
    candidate keeps chains out of the region where JAM has no physical solution.
    """
    cand = 1.5 * jax.random.normal(key, (n_chains, n_candidates, dim))
    lp = jax.vmap(jax.vmap(logdensity_fn))(cand)
    best = jnp.argmax(jnp.where(jnp.isfinite(lp), lp, -jnp.inf), axis=1)
    return cand[jnp.arange(n_chains), best], jnp.max(lp, axis=1)


def laplace_start(logdensity_fn, key, init, config: NUTSConfig):
    """Mode and Laplace covariance from the best start, then over-dispersed chain starts.

    Adam (Optax) climbs from the highest-density starting point; steps that leave the region
    with finite density are rejected. The inverse Hessian at the mode (its diagonal, floored
    and capped for safety) seeds the inverse mass matrix, so that window adaptation does not
    spend its first windows on tiny steps across parameters whose scales differ by ~100×.

    Returns
    -------
    positions : array, shape (n_chains, dim)
        Mode + 2 × Laplace standard deviation × N(0, 1), each kept only if its density is finite.
    inverse_mass_diag : array, shape (dim,)
    """
    import optax

    best = init[jnp.argmax(jax.vmap(logdensity_fn)(init))]
    opt = optax.adam(0.05)

    def step(carry, _):
        u, state, lp = carry
        lp_new_grad = jax.grad(logdensity_fn)(u)
        updates, new_state = opt.update(-lp_new_grad, state, u)
        cand = optax.apply_updates(u, updates)
        lp_cand = logdensity_fn(cand)
        ok = jnp.isfinite(lp_cand) & jnp.all(jnp.isfinite(cand))
        return (jnp.where(ok, cand, u), new_state, jnp.where(ok, lp_cand, lp)), None

    (mode, _, _), _ = jax.lax.scan(
        step, (best, opt.init(best), logdensity_fn(best)), None, length=config.n_map_steps
    )
    hess = -jax.hessian(logdensity_fn)(mode)
    var = jnp.diag(jnp.linalg.pinv(hess))
    var = jnp.where(jnp.isfinite(var) & (var > 0), var, 1.0)
    var = jnp.clip(var, 1e-6, 1.0)
    cand = mode + 2.0 * jnp.sqrt(var) * jax.random.normal(key, init.shape)
    ok = jnp.isfinite(jax.vmap(logdensity_fn)(cand))
    return jnp.where(ok[:, None], cand, mode), var


def sample_chains(logdensity_fn, key, init, config: NUTSConfig, inverse_mass_diag=None):
    """Run window adaptation then NUTS on every chain (vmapped).

    Parameters
    ----------
    logdensity_fn : callable
        Pure log-density of the unconstrained position, shape (dim,) → scalar.
    key : jax.Array
        PRNG key (explicit; recorded by the caller).
    init : array, shape (n_chains, dim)
        Initial positions.
    config : NUTSConfig
    inverse_mass_diag : array, shape (dim,), optional
        Initial diagonal inverse mass matrix of the adaptation (e.g. from :func:`laplace_start`).

    Returns
    -------
    NUTSTrace
    """
    warmup = blackjax.window_adaptation(
        blackjax.nuts,
        logdensity_fn,
        target_acceptance_rate=config.target_acceptance,
        adaptation_info_fn=get_filter_adapt_info_fn(),
        initial_inverse_mass_matrix=inverse_mass_diag,
        max_num_doublings=config.max_tree_depth,
    )

    def one_chain(key, position):
        k_warm, k_draw = jax.random.split(key)
        (state, params), _ = warmup.run(k_warm, position, num_steps=config.n_warmup)
        step = blackjax.nuts(logdensity_fn, **params).step  # params carry max_num_doublings

        def body(state, k):
            state, info = step(k, state)
            return state, (
                state.position,
                state.logdensity,
                info.is_divergent,
                info.num_trajectory_expansions,
                info.num_integration_steps,
                info.acceptance_rate,
                info.energy,
            )

        _, out = jax.lax.scan(body, state, jax.random.split(k_draw, config.n_samples))
        return (*out, params["step_size"])

    keys = jax.random.split(key, init.shape[0])
    return NUTSTrace(*jax.vmap(one_chain)(keys, init))
