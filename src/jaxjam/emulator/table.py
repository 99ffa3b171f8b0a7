"""One fit's emulator tabulated in (q_int, ratio): a Chebyshev interpolant built per fit.

During a fit the photometry's features, the operator and the head are fixed, so the two
sampled parameters that reach the network, q_int and ratio, are all it depends on. The
bin-integrated component values and logit of :func:`jaxjam.emulator.fused.make_bins_fn`
(``(c_0 | c_1 | ... | logit)``, n_components · n_bins + 1 numbers: (a | b | logit) for the stars
and the black hole) is then one smooth function on the prior's (q_int, ratio) box.
:func:`tabulate` evaluates the exact network once per fit at a tensor grid of Chebyshev
nodes (one batched call, ~0.1 s) and keeps the interpolant's coefficients; :func:`table_bins`
evaluates it and its two derivatives per step, a contraction of the coefficients with two short
basis vectors instead of seven matmuls through the MLP. This collapses the per-fit-constant
part of the likelihood once, as the forward operator W does.

The interpolation variables are ψ = arccos(q_int / q'min) ∈ [0, π/2) and ``ratio``. The network
sees q_int and cos i = sqrt((q'min² − q_int²)/(1 − q_int²))
(:func:`jaxjam.emulator.transforms.jam_scalars`).
In q_int, cos i has a branch point at the prior's edge q_int = q'min; in cos i, q_int has one
just outside the range. In ψ both are analytic, ``q_int = q'min cos ψ`` and
``cos i = q'min sin ψ / sqrt(1 − q'min² cos² ψ)``, and the interpolant converges
geometrically (on M32: 2.5e-6 relative with 32 × 24 nodes, against 2.7e-4 in cos i).

The table's error is measured, never assumed: :func:`table_error` compares it with the exact
network at random points of the box, and a fit compares the exact log-likelihood at every
posterior draw (:mod:`jaxjam.inference.fit`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpy.polynomial import chebyshev

from jaxjam.emulator.fused import require_zero_tangents

__all__ = [
    "RANK_BLOCK",
    "BinsTable",
    "pad_rank",
    "table_bins",
    "table_error",
    "table_rank",
    "tabulate",
]

#: Tables' ranks are padded to a multiple of this (zero singular vectors, exact), so that
#: galaxies and rounds share compiled programs.
RANK_BLOCK = 32


class BinsTable(NamedTuple):
    """Chebyshev coefficients of one fit's ``(c | logit)`` in (ψ, ratio) (a pytree).

    The n_components · n_bins + 1 outputs, each component's ``c_k`` (n_bins) and the
    physicality logit as :func:`jaxjam.emulator.fused.make_bins_fn` returns them, are
    ``mean + y @ basis``: y holds the coordinates on the leading singular vectors of the
    tabulated values (they are smooth maps of two variables: on M32, 60 to 72 reproduce the 351
    outputs to 1e-6), and each coordinate is a Chebyshev series.

    Attributes
    ----------
    coef : array, shape (n_ratio, n_psi, rank)
        Coefficients of T_i(s) T_j(t) at ``[j, i]``, s (from ψ) and t (from ratio) mapped onto
        [−1, 1]; ratio first, so that contracting it is one plain matmul.
    basis : array, shape (rank, n_out)
        The singular vectors, scaled back to the outputs' units.
    mean : array, shape (n_out,)
    qobs_min : array, shape ()
        The MGE's q'min: ψ = arccos(q_int / q'min).
    psi_range, ratio_range : array, shape (2,)
        The box tabulated (lo, hi): ψ from the q_int bounds (ψ falls as q_int rises), radians,
        and the ratio bounds.
    """

    coef: jax.Array
    basis: jax.Array
    mean: jax.Array
    qobs_min: jax.Array
    psi_range: jax.Array
    ratio_range: jax.Array


def chebyshev_nodes(n: int) -> np.ndarray:
    """The ``n`` Chebyshev points of the first kind in (−1, 1), shape (n,)."""
    return np.cos(np.pi * (np.arange(n) + 0.5) / n)


def _psi(q_int, qobs_min):
    return np.arccos(np.clip(np.asarray(q_int, np.float64) / qobs_min, -1.0, 1.0))


def tabulate(
    values: Callable[[np.ndarray, np.ndarray], np.ndarray],
    qobs_min: float,
    q_int_bounds: tuple[float, float],
    ratio_bounds: tuple[float, float],
    nodes: tuple[int, int] = (32, 24),
    rank_tol: float = 1e-6,
    rank_multiple: int = RANK_BLOCK,
    n_components: int = 2,
) -> BinsTable:
    """Tabulate ``values`` on the (q_int, ratio) box at Chebyshev nodes.

    Parameters
    ----------
    values : callable
        ``values(q_int, ratio) → (m, n_out)`` for arrays of shape (m,): the exact function,
        ``(c_0 | ... | c_{n-1} | logit)`` of :func:`jaxjam.emulator.fused.make_bins_fn`, batched.
    qobs_min : float
        The MGE's q'min.
    q_int_bounds, ratio_bounds : (float, float)
        The box (the prior bounds), ``0 < lo < hi``, q_int ``hi ≤ q'min``.
    nodes : (int, int)
        Nodes in ψ and in ratio (≥ 2 each): the interpolant's degree plus one.
    rank_tol : float
        The fewest singular vectors are kept that reproduce the values at the nodes to
        ``rank_tol`` times the largest |c_k| for each component and 1 for the logit.
    rank_multiple : int
        The rank is padded with zero vectors (exact) to a multiple of this, so that tables
        of different galaxies mostly share their shapes and a compiled fit is reused.
    n_components : int
        Component blocks of the outputs before the logit.

    Returns
    -------
    BinsTable
        float32 coefficients, computed in float64.
    """
    n_psi, n_ratio = (int(n) for n in nodes)
    if min(n_psi, n_ratio) < 2:
        raise ValueError(f"a table needs at least 2 nodes per variable, got {nodes}")
    (q_lo, q_hi), (r_lo, r_hi) = q_int_bounds, ratio_bounds
    if not (0 < q_lo < q_hi <= qobs_min * (1 + 1e-6) and 0 < r_lo < r_hi):
        raise ValueError(
            f"cannot tabulate q_int in {q_int_bounds}, ratio in {ratio_bounds} with q'min "
            f"= {qobs_min}: need 0 < lo < hi and q_int ≤ q'min"
        )
    psi_range = np.array([_psi(q_hi, qobs_min), _psi(q_lo, qobs_min)])
    ratio_range = np.array([r_lo, r_hi], np.float64)
    s, t = chebyshev_nodes(n_psi), chebyshev_nodes(n_ratio)
    psi = _from_unit(s, psi_range)
    ratio = _from_unit(t, ratio_range)
    grid_psi, grid_ratio = np.meshgrid(psi, ratio, indexing="ij")
    q_int = np.minimum(qobs_min * np.cos(grid_psi), q_hi)  # q_hi = q'min: ψ = 0 exactly
    f = np.asarray(values(q_int.ravel(), grid_ratio.ravel()), np.float64)
    if not np.all(np.isfinite(f)):
        raise ValueError("the function tabulated is not finite at every node")
    y, basis, mean = _low_rank(f, rank_tol, n_components)
    y = y.reshape(n_psi, n_ratio, -1)
    # y = V_s · c · V_tᵀ per coordinate, V the (square, well-conditioned) Chebyshev Vandermonde
    inv_s = np.linalg.inv(chebyshev.chebvander(s, n_psi - 1))
    inv_t = np.linalg.inv(chebyshev.chebvander(t, n_ratio - 1))
    coef = np.einsum("ia,jb,abk->jik", inv_s, inv_t, y)
    f32 = np.float32
    table = BinsTable(
        jnp.asarray(coef, f32),
        jnp.asarray(basis, f32),
        jnp.asarray(mean, f32),
        jnp.asarray(qobs_min, f32),
        jnp.asarray(psi_range, f32),
        jnp.asarray(ratio_range, f32),
    )
    return pad_rank(table, -(-coef.shape[2] // rank_multiple) * rank_multiple)


def table_rank(table: BinsTable) -> int:
    """The table's rank: its nonzero singular vectors (without :func:`pad_rank`'s zeros)."""
    return int(np.count_nonzero(np.abs(np.asarray(table.basis)).sum(1)))


def _blocks(n_out: int, n_components: int) -> list[slice]:
    n_bins = (n_out - 1) // n_components
    return [slice(k * n_bins, (k + 1) * n_bins) for k in range(n_components)]


def _low_rank(f, tol: float, n_components: int):
    """``f ≈ mean + y @ basis`` with the fewest singular vectors that keep the error at every
    row within ``tol`` × (max |c_k| per component block, 1 for the logit) of the columns of f,
    shape (m, n_components · n_bins + 1). Returns y (m, rank), basis (rank, n_out) and mean
    (n_out,)."""
    scale = np.ones(f.shape[1])
    for sl in _blocks(f.shape[1], n_components):
        scale[sl] = np.abs(f[:, sl]).max(initial=0.0) or 1.0
    g = f / scale
    mean = g.mean(0)
    residual = g - mean
    u, sv, vt = np.linalg.svd(residual, full_matrices=False)
    rank = len(sv)
    for r in range(len(sv)):  # peel off one singular triplet at a time until within tol
        residual -= np.outer(u[:, r] * sv[r], vt[r])
        if np.abs(residual).max() <= tol:
            rank = r + 1
            break
    return u[:, :rank] * sv[:rank], vt[:rank] * scale, mean * scale


def pad_rank(table: BinsTable, rank: int) -> BinsTable:
    """The same table with ``rank`` singular vectors, the new ones zero (exact): tables of a
    batch of galaxies must share their shapes to be stacked."""
    extra = rank - table.coef.shape[2]
    if extra < 0:
        raise ValueError(f"cannot pad a table of rank {table.coef.shape[2]} to {rank}")
    return table._replace(
        coef=jnp.pad(table.coef, ((0, 0), (0, 0), (0, extra))),
        basis=jnp.pad(table.basis, ((0, extra), (0, 0))),
    )


def _from_unit(x, lo_hi):
    lo, hi = lo_hi
    return lo + (np.asarray(x) + 1.0) * (hi - lo) / 2.0


def _basis(x, n: int):
    """T_k(x) and T_k'(x), k < n, each shape (n,), for a scalar x in [−1, 1]."""
    k = jnp.arange(n, dtype=x.dtype)
    phi = jnp.arccos(jnp.clip(x, -1.0, 1.0))
    sin_phi = jnp.sin(phi)
    interior = sin_phi > 1e-4
    # T_k'(x) = k sin(kφ)/sin φ, with its limits T_k'(±1) = (±1)^(k+1) k² at the ends
    end = jnp.where(x > 0, k**2, jnp.where(k % 2 == 1, k**2, -(k**2)))
    d = jnp.where(interior, k * jnp.sin(k * phi) / jnp.where(interior, sin_phi, 1.0), end)
    return jnp.cos(k * phi), d


def _evaluate(table: BinsTable, x):
    """Values (n_out,) and the Jacobian (2, n_out) in (q_int, ratio) at x = (q_int, ratio)."""
    q_int, ratio = x[0], x[1]
    (psi_lo, psi_hi), (r_lo, r_hi) = table.psi_range, table.ratio_range
    q_rel = jnp.clip(q_int / table.qobs_min, -1.0, 1.0)
    psi = jnp.arccos(q_rel)
    s = 2.0 * (psi - psi_lo) / (psi_hi - psi_lo) - 1.0
    t = 2.0 * (ratio - r_lo) / (r_hi - r_lo) - 1.0
    n_ratio, n_psi, rank = table.coef.shape
    ts, dts = _basis(s, n_psi)
    tt, dtt = _basis(t, n_ratio)
    # contract over ratio first, reading the coefficients once: (2, n_ratio) @ (n_ratio, ...)
    d = (jnp.stack([tt, dtt]) @ table.coef.reshape(n_ratio, -1)).reshape(2, n_psi, rank)
    # dψ/dq = −1/sqrt(q'² − q²): infinite at q = q'min, where the prior's transform has
    # dq/du = 0; kept finite so that the product is 0, not NaN
    dpsi_dq = -1.0 / (table.qobs_min * jnp.sqrt(jnp.maximum(1.0 - q_rel**2, 1e-12)))
    y = jnp.stack([ts @ d[0],
                   (dts @ d[0]) * (2.0 / (psi_hi - psi_lo)) * dpsi_dq,
                   (ts @ d[1]) * (2.0 / (r_hi - r_lo))])  # fmt: skip
    out = y @ table.basis  # value, d/dq_int, d/dratio
    return out[0] + table.mean, out[1:]


@jax.custom_jvp
def _table_x(table: BinsTable, x):
    return _evaluate(table, x)[0]


def _table_x_jvp(primals, tangents):
    table, x = primals
    table_dot, x_dot = tangents
    require_zero_tangents(table_dot, "a BinsTable is differentiable in q_int and ratio only")
    value, jac = _evaluate(table, x)
    return value, x_dot @ jac


_table_x.defjvp(_table_x_jvp, symbolic_zeros=True)


def table_bins(table: BinsTable, q_int, ratio, n_components: int = 2):
    """``(c, logit)`` at one (q_int, ratio), as :func:`jaxjam.emulator.fused.make_bins_fn` gives
    them.

    Parameters
    ----------
    table : BinsTable
    q_int, ratio : scalar
        Inside the tabulated box (the prior's bounds; not checked, as the sampler's transforms
        keep them there).
    n_components : int
        As tabulated (static).

    Returns
    -------
    c : tuple of n_components arrays, shape (n_bins,)
        Dimensionless bin integrals of the component maps (:mod:`jaxjam.emulator.fused`).
    logit : array, shape ()
        Logit of the probability that JAM has a physical solution.

    Differentiable in ``q_int`` and ``ratio``: one contraction gives the value and both
    derivatives (a forward-mode rule, as :func:`jaxjam.emulator.fused.make_bins_fn`).
    """
    out = _table_x(table, jnp.stack([q_int, ratio]))
    n_bins = (out.shape[-1] - 1) // n_components
    return tuple(out[k * n_bins : (k + 1) * n_bins] for k in range(n_components)), out[-1]


@jax.jit
def _table_batch(table: BinsTable, q_int, ratio):
    """The table's outputs at arrays of points, shape (m,) each → (m, n_out)."""
    return jax.vmap(lambda q, r: _table_x(table, jnp.stack([q, r])))(q_int, ratio)


def table_error(table: BinsTable, values, q_int_bounds, ratio_bounds, n_points: int = 64,
                seed: int = 0, n_components: int = 2) -> dict:  # fmt: skip
    """Measured error of the table against ``values`` at uniform random points of the box.

    Parameters
    ----------
    table : BinsTable
    values : callable
        The exact function, as for :func:`tabulate`, with outputs ``(c_0 | ... | logit)``.
    q_int_bounds, ratio_bounds : (float, float)
    n_points : int
    seed : int
        Seed of the NumPy generator of the points.
    n_components : int

    Returns
    -------
    dict
        ``max_rel_error``: per component block, max over points and bins of
        ``|table − exact|`` over the largest ``|exact|`` of that block at the point (a list,
        in component order); ``max_abs_error_logit``; ``n_points`` and ``seed``.
    """
    rng = np.random.default_rng(seed)
    q = rng.uniform(*q_int_bounds, n_points)
    r = rng.uniform(*ratio_bounds, n_points)
    exact = np.asarray(values(q, r), np.float64)
    got = np.asarray(_table_batch(table, jnp.asarray(q, jnp.float32), jnp.asarray(r, jnp.float32)),
                     np.float64)  # fmt: skip
    err = np.abs(got - exact)

    def rel(sl):
        return float(np.max(err[:, sl].max(1) / np.abs(exact[:, sl]).max(1)))

    return {
        "max_rel_error": [rel(sl) for sl in _blocks(exact.shape[1], n_components)],
        "max_abs_error_logit": float(err[:, -1].max()),
        "n_points": n_points,
        "seed": seed,
    }
