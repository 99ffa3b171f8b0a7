"""The fixed problem of a fit (:class:`~jaxjam.inference.likelihood.Problem`): built from a
galaxy, refined on jampy maps, tabulated, padded for batching.

The stages of a fit (:mod:`jaxjam.inference.fit`) are :func:`pilot_problem` (cheap jampy maps
over the prior box, to find the posterior) and :func:`posterior_problem` (converged maps spread
over the last posterior).
"""

from __future__ import annotations

import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from jaxjam.core.forward import BinOperator, bin_operator
from jaxjam.core.physics import InnerPoints, bins_polar, bins_to_model_frame
from jaxjam.emulator.emulator import Emulator
from jaxjam.emulator.error_model import N_MODES, bin_modes, select
from jaxjam.emulator.fused import fold_linear_heads, split_head
from jaxjam.emulator.network import head_of
from jaxjam.emulator.table import pad_rank, table_error, table_rank, tabulate
from jaxjam.inference.config import FitConfig, Galaxy
from jaxjam.inference.likelihood import Problem
from jaxjam.inference.refine import design_points, jampy_maps, refine_head, spread_draws

__all__ = [
    "build_problem",
    "exact_values",
    "galaxy_operator",
    "pad_problem",
    "pilot_problem",
    "posterior_problem",
    "refine_problem",
    "relative_scalings",
    "say",
    "tabulate_problem",
    "unit_modes",
    "without_model_error",
]


def say(progress: bool, msg: str) -> None:
    """Print a progress line to stderr when ``progress``."""
    if progress:
        import sys

        print(msg, file=sys.stderr, flush=True)


def galaxy_operator(emulator: Emulator, galaxy: Galaxy, config: FitConfig) -> BinOperator:
    """The exact forward operator of a galaxy's bins (float64 NumPy arrays)."""
    kin = galaxy.kinematics
    return bin_operator(emulator.grid, galaxy.mge, galaxy.distance_mpc, kin.x_arcsec,
                        kin.y_arcsec, galaxy.psf, galaxy.pa_deg, config.step_arcsec,
                        emulator.components)  # fmt: skip


def build_problem(emulator: Emulator, galaxy: Galaxy, config: FitConfig,
                  operator: BinOperator | None = None) -> Problem:  # fmt: skip
    """Everything fixed in a fit: CNN features, forward operator, data and prior bounds.

    Raises
    ------
    ValueError, jaxjam.emulator.emulator.DomainError
        For bins outside the emulator's grid, photometry outside its domain, or prior bounds
        outside the emulator's domain or the MGE's inclination limit.
    """
    emulator.check_mge(galaxy.mge)
    bounds = config.bounds.resolve(galaxy.mge.qobs_min, emulator.domain, emulator.components)
    kin = galaxy.kinematics
    op = operator if operator is not None else galaxy_operator(emulator, galaxy, config)
    frac, modes = _model_error(emulator, galaxy, config.model_error)
    f32 = jnp.float32
    return Problem(
        features=jnp.asarray(emulator.features(galaxy.mge)),
        qobs_min=f32(galaxy.mge.qobs_min),
        operator=jax.tree.map(lambda a: jnp.asarray(a, f32), op),
        folded=fold_linear_heads(emulator.normalization, op, *head_of(emulator.state)),
        vrms_kms=jnp.asarray(kin.vrms_kms, f32),
        vrms_err_kms=jnp.asarray(kin.vrms_err_kms, f32),
        mask=jnp.ones(kin.vrms_kms.size, f32),
        bounds=jnp.asarray(bounds, f32),
        scaling_select=jnp.asarray(
            np.eye(len(bounds))[[c.parameter_index for c in emulator.components]], f32
        ),
        scaling_divisor=jnp.asarray(
            [op.lum_lsun if c.per_luminosity else 1.0 for c in emulator.components], f32
        ),
        model_error_frac=f32(frac),
        error_modes=jnp.asarray(modes, f32),
    )


def refine_problem(emulator: Emulator, galaxy: Galaxy, problem: Problem, maps: list,
                   operator: BinOperator, nodes, rel_scalings, config: FitConfig,
                   progress: bool = False, n_local: int | None = None,
                   ) -> tuple[Problem, dict | None]:  # fmt: skip
    """Swap in a head refined on the jampy ``maps`` of this galaxy
    (:func:`jaxjam.inference.refine.refine_head`), and make the likelihood's model-error term
    the refined model's leave-one-out error measured at the bins through the PSF. Returns the
    problem and what was measured (``None`` without maps)."""
    if not maps:
        return problem, None
    t0 = time.perf_counter()
    basis = unit_modes(emulator, galaxy)
    ref = refine_head(emulator, galaxy.mge, maps, operator, nodes, basis, rel_scalings, n_local)
    info = {**ref.info(), "seconds": time.perf_counter() - t0}
    b = ref.bins
    say(progress, f"refined the emulator on {len(ref.design)} jampy maps: log A error "
                   f"{ref.raw_rms_log_a:.2%} → {ref.loo_rms_log_a:.2%} (leave-one-out); "
                   f"at the bins {b['median']:.2%} median, {b['p95']:.2%} p95 (through the "
                   "PSF)" + (f"; {b['masked_nodes']} node targets left out where jampy's "
                             "V² ≤ 0" if b["masked_nodes"] else ""))  # fmt: skip
    on = config.model_error
    f32 = jnp.float32
    problem = problem._replace(
        head=split_head(emulator.normalization, ref.kernel, ref.bias),
        folded=fold_linear_heads(emulator.normalization, problem.operator, ref.kernel, ref.bias),
        model_error_frac=f32(b["residual_std"] if on else 0.0),
        error_modes=jnp.asarray(basis * np.asarray(b["mode_std"]) * on, f32),
    )
    return problem, info


def unit_modes(emulator: Emulator, galaxy: Galaxy) -> np.ndarray:
    """The six error modes of :mod:`jaxjam.emulator.error_model` at the bins, unit amplitudes."""
    k = galaxy.kinematics
    x, y = bins_to_model_frame(k.x_arcsec, k.y_arcsec, galaxy.pa_deg)
    r_re, theta = bins_polar(x, y, galaxy.mge.effective_radius_arcsec())
    return bin_modes(r_re, theta, emulator.grid, np.ones(N_MODES))


def tabulate_problem(emulator: Emulator, problem: Problem, config: FitConfig,
                     progress: bool = False,
                     min_rank: int = 0) -> tuple[Problem, dict | None]:  # fmt: skip
    """Tabulate the problem's fused network on its prior box
    (:func:`jaxjam.emulator.table.tabulate`)
    with ``config.table_nodes``, and measure the table's error at 64 random points (seeded by
    ``config.seed``). Returns the problem with its table, padded with zero singular vectors
    (exact) to at least ``min_rank`` (so that the rounds of a fit share one compiled program),
    and what was measured (``None`` without a table)."""
    if config.table_nodes is None:
        return problem, None
    t0 = time.perf_counter()
    values = exact_values(emulator, problem)
    bounds = np.asarray(problem.bounds, np.float64)
    qmin = float(problem.qobs_min)
    q_box, r_box = tuple(bounds[0]), tuple(bounds[1])
    n_comp = len(emulator.components)
    table = tabulate(values, qmin, q_box, r_box, config.table_nodes, n_components=n_comp)
    info = {"nodes": list(config.table_nodes), "rank": table_rank(table),
            **table_error(table, values, q_box, r_box, seed=config.seed, n_components=n_comp),
            "seconds": time.perf_counter() - t0}  # fmt: skip
    errors = ", ".join(
        f"{e:.1e} ({c.symbol})"
        for e, c in zip(info["max_rel_error"], emulator.components, strict=True)
    )
    say(progress, f"tabulated the emulator on {np.prod(config.table_nodes)} nodes in "
                   f"{info['seconds']:.2f} s: max error {errors}")  # fmt: skip
    table = pad_rank(table, max(min_rank, table.coef.shape[2]))
    info["padded_rank"] = int(table.coef.shape[2])
    return problem._replace(table=table), info


def exact_values(emulator: Emulator, problem: Problem, chunk: int = 256):
    """``values(q_int, ratio) → (m, n_components · n_bins + 1)``: the fused network's
    (c_0 | c_1 | ... | logit), evaluated ``chunk`` points at a time (one compiled shape for
    any m)."""
    p = problem

    def values(q_int, ratio):
        x = np.stack([np.asarray(q_int, np.float32), np.asarray(ratio, np.float32)], 1)
        m = len(x)
        x = np.concatenate([x, np.repeat(x[-1:], -m % chunk, 0)])  # pad with the last point
        out = []
        for c in np.split(x, len(x) // chunk):
            cb, logit = emulator.bins_batch_fn(emulator.state, p.head, p.folded, p.operator,
                                               p.features, p.qobs_min, jnp.asarray(c[:, 0]),
                                               jnp.asarray(c[:, 1]))  # fmt: skip
            out.append(np.column_stack([*(np.asarray(ck) for ck in cb), np.asarray(logit)]))
        return np.concatenate(out)[:m]

    return values


def _model_error(emulator: Emulator, galaxy: Galaxy, on: bool) -> tuple[float, np.ndarray]:
    """Independent fraction and correlated modes (n_bins, 6) of the emulator's error."""
    n = galaxy.kinematics.vrms_kms.size
    if not on:
        return 0.0, np.zeros((n, N_MODES))
    em = emulator.error_model
    if em is None:
        if emulator.relative_error is None:
            raise ValueError(
                "this model has no test metrics for its own error; run `jaxjam evaluate` on a "
                "held-out store and `jaxjam attach-metrics` with its JSON, or fit with "
                "model_error=False"
            )
        warnings.warn("this model's correlated error was never measured (`jaxjam "
                      "evaluate`, then `jaxjam attach-metrics`); using its p68 error as "
                      "independent per-bin noise",
                      stacklevel=3)  # fmt: skip
        return emulator.relative_error, np.zeros((n, N_MODES))
    k = galaxy.kinematics
    x, y = bins_to_model_frame(k.x_arcsec, k.y_arcsec, galaxy.pa_deg)
    r_re, theta = bins_polar(x, y, galaxy.mge.effective_radius_arcsec())
    mode_std, residual_std = select(em, r_re, emulator.grid)
    return residual_std, bin_modes(r_re, theta, emulator.grid, mode_std)


def pad_problem(p: Problem, n_bins: int, n_in: int) -> Problem:
    op = p.operator
    nb, ni = op.n_bins, op.g_inner.shape[1]

    def rows(a, fill=0.0):
        return jnp.concatenate([a, jnp.full((n_bins - nb, *a.shape[1:]), fill, a.dtype)])

    g_inner = rows(op.g_inner)
    g_inner = jnp.concatenate([g_inner, jnp.zeros((n_bins, n_in - ni), g_inner.dtype)], axis=1)
    inner = InnerPoints(
        jnp.concatenate(
            [op.inner.theta_weights, jnp.zeros((n_in - ni, op.inner.theta_weights.shape[1]))]
        ),
        jnp.concatenate([op.inner.dlogr, jnp.zeros(n_in - ni)]),
        op.inner.slope_dlogr,
    )
    operator = BinOperator(tuple(rows(w) for w in op.w), g_inner, inner, op.unit_kms2,
                           op.lum_lsun)  # fmt: skip
    fb = p.folded
    folded = fb._replace(kernel=tuple(rows(k.T).T for k in fb.kernel),
                         bias=tuple(rows(b) for b in fb.bias))  # fmt: skip
    return p._replace(
        operator=operator,
        folded=folded,
        error_modes=rows(p.error_modes),
        vrms_kms=rows(p.vrms_kms, 1.0),
        vrms_err_kms=rows(p.vrms_err_kms, 1.0),
        mask=rows(p.mask),
    )


def without_model_error(problem: Problem) -> Problem:
    """The problem's likelihood with the data errors alone (no model-error term)."""
    return problem._replace(model_error_frac=jnp.float32(0.0),
                            error_modes=jnp.zeros_like(problem.error_modes))  # fmt: skip


def relative_scalings(components, theta, operator: BinOperator) -> np.ndarray:
    """The components' mass scalings over the stars', shape (n_components,), for parameters
    θ: ``(1, M_BH/(Υ L_tot))`` for the stars and the black hole (each map's weight in V²
    per unit M/L)."""
    t = np.asarray(theta)
    stars = t[components[0].parameter_index]
    out = []
    for c in components:
        m = 10.0 ** (t[c.parameter_index] - stars)
        out.append(float(m / operator.lum_lsun if c.per_luminosity else m))
    return out


def pilot_problem(pool, emulator: Emulator, galaxy: Galaxy, base: Problem,
                  operator: BinOperator, nodes, config: FitConfig,
                  progress: bool = False) -> tuple[Problem, dict | None]:  # fmt: skip
    """The pilot: ``config.refine_maps`` jampy maps at ``config.pilot_settings`` over the
    prior box (:func:`~jaxjam.inference.refine.design_points`, seeded by ``config.seed``),
    and the base problem refined on them. Returns the problem and what was measured."""
    box = design_points(config.refine_maps, np.asarray(base.bounds), config.seed)
    maps = jampy_maps(pool, galaxy, box, emulator.grid, nodes, config.pilot_settings, progress,
                      emulator.components)  # fmt: skip
    bh = relative_scalings(emulator.components, np.mean(np.asarray(base.bounds), 1), operator)
    return refine_problem(emulator, galaxy, base, maps, operator, nodes, bh, config, progress)


def posterior_problem(pool, emulator: Emulator, galaxy: Galaxy, base: Problem,
                      operator: BinOperator, nodes, config: FitConfig, theta, maps: list,
                      seed: int, progress: bool = False,
                      ) -> tuple[Problem, dict | None, list]:  # fmt: skip
    """A round: ``config.refine_maps`` new jampy maps at ``config.refine_settings`` spread
    over the draws ``theta`` (:func:`~jaxjam.inference.refine.spread_draws` with ``seed``),
    added to ``maps``; the base problem refined on all of them, its error measured on the new
    ones when there were older maps. Returns the problem, what was measured and the maps.

    Parameters
    ----------
    theta : array, shape (..., 4)
        Posterior draws of the last sampling (constrained parameters).
    """
    near = spread_draws(theta, config.refine_maps, seed)
    new = jampy_maps(pool, galaxy, near, emulator.grid, nodes, config.refine_settings, progress,
                     emulator.components)  # fmt: skip
    n_local = len(new) if maps else None
    maps = maps + new
    theta = np.asarray(theta)
    bh = relative_scalings(emulator.components, np.median(theta.reshape(-1, theta.shape[-1]), 0),
                           operator)  # fmt: skip
    problem, info = refine_problem(emulator, galaxy, base, maps, operator, nodes, bh, config,
                                   progress, n_local)  # fmt: skip
    return problem, info, maps
