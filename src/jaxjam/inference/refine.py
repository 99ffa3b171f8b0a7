"""Refine the emulator for one galaxy on converged jampy maps, and measure its error at the bins.

The network's error on a given photometry is smooth in (q_int, ratio). A fit refines the
network's linear head for its galaxy on jampy maps of that photometry (:func:`jampy_maps`, at
:data:`jaxjam.reference.jam.CONVERGED`, computed in parallel processes), first at a quasi-random
(Halton) design over the prior box, then, if the certificate asks for it, at posterior draws:

- ``h(θ)``, the MLP's last hidden layer (plus a constant), is the feature vector of θ;
- the residuals ``R = z_jampy − z_emulator`` of the standardised targets (every component's,
  :mod:`jaxjam.emulator.transforms`: log A and B·r per node, at the nodes the bins reach) are fitted
  by kernel ridge regression on ``h``:
  ``Δz(θ) = h(θ)ᵀ Hᵀ (H Hᵀ + λ I)⁻¹ R``, a correction ``ΔW = Hᵀ (H Hᵀ + λ I)⁻¹ R`` of the
  head's weights, so the fit costs nothing more per step;
- near JAM's physical edge a jampy map can have V² ≤ 0 at some nodes (at ratio ≈ 0.52, out at
  2.5–3 R_e, with weights ≤ 2e-4 of the largest at the bins): those nodes of that map are left
  out of the regression of their own columns only (a per-node mask), so the map still refines
  every node where it is physical; a map is used to measure the error only if its V² is
  positive at every bin, i.e. if jampy answers where the data are;
- λ minimises the leave-one-out error (closed form for ridge regression);
- the leave-one-out maps (each predicted from the others) go through the fit's exact forward
  operator (PSF, pixels, bins), so the refined model's error is measured **where the data
  are**: its relative Vrms error at the bins, split into the six smooth modes of
  :mod:`jaxjam.emulator.error_model` and an independent part, becomes the likelihood's model-error
  term.

M/L, M_BH, distance, PSF and pixel size stay exact: they never enter the maps. The physicality
output is not refined.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "JampyMap",
    "Refinement",
    "TooFewPhysicalMapsError",
    "design_points",
    "jampy_maps",
    "refine_head",
    "spread_draws",
]


class TooFewPhysicalMapsError(ValueError):
    """Fewer than 3 of the refinement's jampy maps are finite where the bins reach, or fewer
    than 3 are physical (V² > 0) at every bin."""


RIDGE_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
#: Fraction of the maps that must be valid at a node (jampy's V² > 0) for the node to be refined.
MIN_SUPPORT = 0.75


class JampyMap(NamedTuple):
    """One converged jampy map of the galaxy (reached nodes only; the rest extended).

    Attributes
    ----------
    q_int, ratio : float
    maps : ndarray, shape (n_components, n_r, n_theta)
        Component maps (units of G L_tot/R_e), from :func:`jaxjam.reference.jam.grid_maps`.
    node_ok : ndarray of bool, shape (n_components, n_r, n_theta)
        Where each component's target is defined: finite, and positive for a ``log`` target
        (the stars' V²). Rows beyond the reached nodes copy the outermost reached row.
    """

    q_int: float
    ratio: float
    maps: np.ndarray
    node_ok: np.ndarray


class Refinement(NamedTuple):
    """A galaxy's refined head and what was measured while refining it.

    Attributes
    ----------
    kernel : ndarray, shape (mlp_width, n_components · n_nodes + 1)
    bias : ndarray, shape (n_components · n_nodes + 1,)
        The refined head (float32).
    design : ndarray, shape (n_used, 2)
        (q_int, ratio) of the jampy maps used (unphysical ones are dropped).
    ridge : float
        The chosen λ.
    raw_rms_log_a, loo_rms_log_a : float
        RMS error of log A over the reached nodes and design points: of the network, and of
        the refined network in leave-one-out.
    bins : dict
        The leave-one-out relative Vrms error at the bins, through the PSF: ``median``,
        ``p95``, ``max`` (of |δv/v|), ``mode_std`` (6 amplitudes), ``residual_std``, the
        ``relative_scalings`` at which V² was formed, ``n_maps`` (the maps it was measured on:
        physical at every bin) and ``masked_nodes`` (the (map, component, node) targets left
        out of the regression because jampy's V² ≤ 0 there).
    """

    kernel: np.ndarray
    bias: np.ndarray
    design: np.ndarray
    ridge: float
    raw_rms_log_a: float
    loo_rms_log_a: float
    bins: dict

    def info(self) -> dict:
        return {"n_maps": len(self.design), "design_q_int_ratio": self.design.tolist(),
                "ridge": self.ridge, "raw_rms_log_a": self.raw_rms_log_a,
                "loo_rms_log_a": self.loo_rms_log_a, "loo_at_bins": self.bins}  # fmt: skip


def design_points(n_maps: int, bounds, seed: int) -> np.ndarray:
    """``n_maps`` scrambled-Halton points in the prior box of (q_int, ratio), shape (n, 2)."""
    from scipy.stats import qmc

    lo = np.array([bounds[0][0], bounds[1][0]], float)
    hi = np.array([bounds[0][1], bounds[1][1]], float)
    return lo + (hi - lo) * qmc.Halton(d=2, seed=seed).random(n_maps)


def spread_draws(theta, n_maps: int, seed: int) -> np.ndarray:
    """``n_maps`` posterior draws spread over the posterior of (q_int, ratio), shape (n, 2).

    Greedy farthest-point selection, in coordinates standardised by the posterior's standard
    deviations, among 512 seeded random draws inside the posterior's 99% region (Mahalanobis
    distance² ≤ 9.2): the first is the draw nearest the median, each next one the draw
    farthest from those already chosen. The maps then cover the posterior out to its tails,
    where random draws would cluster at its centre.

    Parameters
    ----------
    theta : array, shape (..., 4)
        Posterior draws (q_int, ratio, log10 M_BH, log10 Υ).
    n_maps : int
    seed : int
    """
    flat = np.asarray(theta, np.float64).reshape(-1, np.shape(theta)[-1])[:, :2]
    rng = np.random.default_rng(seed)
    pool = flat[rng.choice(len(flat), size=min(512, len(flat)), replace=False)]
    z = (pool - np.median(pool, 0)) / np.maximum(pool.std(0), 1e-9)
    cov = np.cov(z.T) + 1e-9 * np.eye(2)
    inside = np.einsum("ij,jk,ik->i", z, np.linalg.inv(cov), z) <= 9.21
    pool, z = pool[inside], z[inside]
    chosen = [int(np.argmin(np.sum(z**2, 1)))]
    dist = np.sum((z - z[chosen[0]]) ** 2, 1)
    while len(chosen) < min(n_maps, len(pool)) and dist.max() > 0:
        chosen.append(int(np.argmax(dist)))
        dist = np.minimum(dist, np.sum((z - z[chosen[-1]]) ** 2, 1))
    return pool[chosen]


def _one_map(mge_norm, q_int, ratio, grid, settings, scale, nodes, components) -> JampyMap:
    from jaxjam.core.forward import extend_outward
    from jaxjam.reference.jam import grid_maps

    m = grid_maps(mge_norm, float(q_int), float(ratio), grid, settings, scale, nodes, components)
    maps = np.stack([extend_outward(c, nodes) for c in m.maps])
    # the stars' map, and any other "log" target, must be positive for its target to exist
    node_ok = np.isfinite(maps)
    for k, c in enumerate(components):
        if c.target == "log":
            node_ok[k] &= maps[k] > 0
    return JampyMap(float(q_int), float(ratio), maps, node_ok)


def jampy_maps(pool, galaxy, points, grid, nodes, settings, progress: bool = False,
               components=None):  # fmt: skip
    """Converged jampy maps of a galaxy at (q_int, ratio) points, in parallel on ``pool``.

    Parameters
    ----------
    pool : jaxjam.inference.pool.JampyPool
    galaxy : jaxjam.inference.Galaxy
    points : array_like, shape (n, 2)
        (q_int, ratio).
    grid : jaxjam.core.grid.PolarGrid
    nodes : ndarray of bool, shape (n_r, n_theta)
        Nodes the bins reach (:func:`jaxjam.core.forward.reached_nodes`).
    settings : jaxjam.reference.jam.JampySettings
    components : tuple of jaxjam.core.components.Component, optional
        The maps computed (default :data:`jaxjam.core.components.DEFAULT`).

    Returns
    -------
    list of JampyMap
    """
    from jaxjam.core.components import DEFAULT
    from jaxjam.reference.jam import JampyScale

    components = DEFAULT if components is None else components
    mge = galaxy.mge
    norm, re, _ = mge.normalized()
    scale = JampyScale(galaxy.distance_mpc, re, float(mge.luminosity_lsun(galaxy.distance_mpc)))
    args = [(norm, q, r, grid, settings, scale, nodes, components) for q, r in np.asarray(points)]
    return pool.map(_one_map, args, "jampy maps", progress)


def _bin_values(op, maps):
    """Dimensionless bin integrals (n_components, n_bins) of node maps (the exact layer): V² at
    unit scaling of each component in turn, over G L_tot/R_e."""
    import jax.numpy as jnp

    from jaxjam.core.forward import apply_operator

    maps = jnp.asarray(maps)
    unit = np.eye(len(maps))
    return np.stack([np.asarray(apply_operator(op, maps, jnp.asarray(e))) / op.unit_kms2
                     for e in unit])  # fmt: skip


def _mode_split(err, basis):
    """Least-squares amplitudes of the modes ``basis`` (n_bins, k) in ``err`` (n, n_bins):
    their rms over the maps (k,) and the rms of what is left."""
    coef, *_ = np.linalg.lstsq(basis, err.T, rcond=None)
    resid = err - (basis @ coef).T
    return np.sqrt(np.mean(coef**2, axis=1)), float(np.sqrt(np.mean(resid**2)))


def refine_head(emulator, mge, maps, operator, nodes, basis, relative_scalings,
                n_local: int | None = None) -> Refinement:  # fmt: skip
    """Refine the emulator's head on jampy maps of this photometry.

    Parameters
    ----------
    emulator : jaxjam.Emulator
    mge : jaxjam.core.mge.MGE
        The galaxy's photometry (Lsun/pc², arcsec).
    maps : list of JampyMap
        At least 3 finite at the reached nodes, and 3 with V² > 0 at every bin. A map's nodes
        where a target is undefined (:attr:`JampyMap.node_ok`) are left out of those nodes'
        regression only.
    operator : jaxjam.core.forward.BinOperator
        The fit's forward operator (float64 arrays), through which the error is measured.
    nodes : ndarray of bool, shape (n_r, n_theta)
        The nodes the bins reach; the head is corrected there only.
    basis : ndarray, shape (n_bins, 6)
        The unit error modes at the bins (:func:`jaxjam.emulator.error_model.bin_modes` with unit
        amplitudes).
    relative_scalings : array_like, shape (n_components,)
        The components' scalings over the stars' (1, M_BH/(Υ L_tot), ...) at which the Vrms
        error is measured (:func:`jaxjam.inference.problem.relative_scalings`).
    n_local : int, optional
        Measure the error on the last ``n_local`` maps only (those at the current posterior's
        draws: the error where the posterior is, not over the whole prior box); default all.

    Returns
    -------
    Refinement

    Raises
    ------
    TooFewPhysicalMapsError
        If fewer than 3 maps are finite at the reached nodes, or fewer than 3 have V² > 0 at
        every bin.
    """
    import jax.numpy as jnp

    from jaxjam.emulator.network import head_of

    n_comp = len(emulator.components)
    sel = np.ravel(nodes)
    good = [m for m in maps if np.all(np.isfinite(m.maps[:, nodes]))]
    if len(good) < 3:
        raise TooFewPhysicalMapsError(
            f"only {len(good)} of {len(maps)} refinement points have a jampy solution where "
            "the data are; narrow the prior bounds or fit with refine_maps=0"
        )
    features = emulator.features(mge)
    kernel, bias = (np.asarray(a, np.float64) for a in head_of(emulator.state))
    n_nodes = emulator.grid.n_r * emulator.grid.n_theta
    n_out = n_comp * n_nodes
    nz = emulator.normalization
    keep = np.tile(sel, n_comp)
    rows, targets, z_true, preds, valid = [], [], [], [], []
    for m in good:
        with np.errstate(invalid="ignore", divide="ignore"):  # log of V² ≤ 0: masked below
            z = np.ravel(nz.encode_targets(m.maps))
        h = np.asarray(emulator.hidden_fn(emulator.state, features, jnp.float32(m.q_int),
                                          jnp.float32(m.ratio), jnp.float32(mge.qobs_min)),
                       np.float64)  # fmt: skip
        pred = h @ kernel[:, :n_out] + bias[:n_out]
        ok = keep & np.ravel(m.node_ok)
        rows.append(np.append(h, 1.0))
        targets.append(np.where(ok, z - pred, 0.0))
        z_true.append(z)
        preds.append(pred)
        valid.append(ok)
    H, R, Z, P, V = (np.array(a) for a in (rows, targets, z_true, preds, valid))
    gram = H @ H.T
    a_std = np.ravel(nz.target_std[0])  # the stars' log A: a relative error
    # columns grouped by which maps are valid there: one ridge system per group
    patterns, group = np.unique(V.T, axis=0, return_inverse=True)
    full = np.all(patterns, axis=1)
    min_support = max(3, int(np.ceil(MIN_SUPPORT * len(H))))

    def solve(lam, loo: bool):
        """The ridge correction (width + 1, n_out), or the leave-one-out residuals (n, n_out),
        each column from the maps valid in it (all maps: the plain closed form; fewer than
        ``min_support``: no correction)."""
        # an uncorrected column's out-of-sample error is the network's own residual
        out = R.copy() if loo else np.zeros((H.shape[1], n_out))
        # a column is corrected only where most maps are valid (a ridge fit on a few maps
        # extrapolates wildly in exp(z) away from them); elsewhere the network's own stands
        for p in np.flatnonzero(patterns.sum(axis=1) >= min_support):
            cols = np.ravel(group) == p
            use = patterns[p]
            g = gram[np.ix_(use, use)] + lam * np.eye(int(use.sum()))
            r = R[use] if full[p] else R[np.ix_(use, cols)]  # all maps: over every column
            if loo:
                a = np.linalg.inv(g)
                res = (a @ r) / np.diag(a)[:, None]
                out[np.ix_(use, cols)] = res[:, cols] if full[p] else res
            else:
                res = H[use].T @ np.linalg.solve(g, r)
                out[:, cols] = res[:, cols] if full[p] else res
        return out

    va = V[:, :n_nodes][:, sel]

    def rms_log_a(res):
        x = res[:, :n_nodes][:, sel] * a_std[sel]  # unmasked: the mean of old, to the bit
        return float(np.sqrt(np.mean(x**2 if va.all() else x[va] ** 2)))

    loo = {lam: solve(lam, loo=True) for lam in RIDGE_GRID}
    scores = {lam: rms_log_a(res) for lam, res in loo.items()}
    lam = min(scores, key=scores.get)
    delta = solve(lam, loo=False)  # (width + 1, n_out)
    kernel[:, :n_out] += delta[:-1]
    bias[:n_out] += delta[-1]
    raw = rms_log_a(R)

    # the leave-one-out maps through the exact layer: the refined model's error at the bins.
    # Where a map was left out of a node (V² ≤ 0 there), the refined model's prediction there
    # is already out of sample; beyond the reached nodes jampy's extended map stands.
    outside = np.where(keep, P + H @ delta, np.where(np.isfinite(Z), Z, P))
    z_loo = np.where(V, Z - loo[lam], outside)
    shape = (n_comp, *emulator.grid.shape)
    rel = [float(m) for m in relative_scalings]
    recent = {id(m) for m in maps[-(n_local or len(maps)) :]}
    measured = []
    for m, z in zip(good, z_loo, strict=True):
        c_true = _bin_values(operator, m.maps)
        v2_true = sum(s * c for s, c in zip(rel, c_true, strict=True))
        if np.all(v2_true > 0):  # jampy answers at every bin: the map is a truth there
            measured.append((id(m) in recent, v2_true, z))
    if len(measured) < 3:
        raise TooFewPhysicalMapsError(
            f"only {len(measured)} of {len(maps)} refinement points have a physical jampy "
            "solution at every bin; narrow the prior bounds or fit with refine_maps=0"
        )
    if sum(r for r, _, _ in measured) >= 3:  # the error near the posterior, when it can be
        measured = [t for t in measured if t[0]]
    err = []
    for _, v2_true, z in measured:
        c_loo = _bin_values(operator, nz.decode_targets(z.reshape(shape)))
        v2_loo = sum(s * c for s, c in zip(rel, c_loo, strict=True))
        err.append(np.sqrt(np.clip(v2_loo, 1e-30, None) / np.clip(v2_true, 1e-30, None)) - 1)
    err = np.array(err)
    mode_std, resid = _mode_split(err, basis)
    bins = {"median": float(np.median(np.abs(err))), "p95": float(np.percentile(np.abs(err), 95)),
            "max": float(np.max(np.abs(err))), "mode_std": mode_std.tolist(),
            "residual_std": resid, "relative_scalings": rel, "n_maps": len(err),
            "masked_nodes": int(np.sum(keep & ~V))}  # fmt: skip
    return Refinement(kernel.astype(np.float32), bias.astype(np.float32),
                      np.array([(m.q_int, m.ratio) for m in good]), lam, raw, scores[lam],
                      bins)  # fmt: skip
