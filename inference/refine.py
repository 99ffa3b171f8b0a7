"""Refine the emulator for one galaxy on converged jampy maps, and measure its error at the bins.

The network's error on a given photometry is smooth in (q_int, ratio). A fit refines the
network's linear head for its galaxy on jampy maps of that photometry (:func:`jampy_maps`, at
:data:`jaxjam.reference.CONVERGED`, computed in parallel processes), first at a quasi-random
(Halton) design over the prior box, then, if the certificate asks for it, at posterior draws:

- ``h(θ)``, the MLP's last hidden layer (plus a constant), is the feature vector of θ;
- the residuals ``R = z_jampy − z_emulator`` of the standardised targets (every component's,
  :mod:`jaxjam.transforms`: log A and B·r per node, at the nodes the bins reach) are fitted
  by kernel ridge regression on ``h``:
  ``Δz(θ) = h(θ)ᵀ Hᵀ (H Hᵀ + λ I)⁻¹ R``, a correction ``ΔW = Hᵀ (H Hᵀ + λ I)⁻¹ R`` of the
  head's weights, so the fit costs nothing more per step;
- λ minimises the leave-one-out error (closed form for ridge regression);
- the leave-one-out maps (each predicted from the others) go through the fit's exact forward
  operator (PSF, pixels, bins), so the refined model's error is measured **where the data
  are**: its relative Vrms error at the bins, split into the six smooth modes of
  :mod:`jaxjam.error_model` and an independent part, becomes the likelihood's model-error term.

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
    """Fewer than 3 of the refinement's jampy maps are physical at every node the bins reach."""


RIDGE_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


class JampyMap(NamedTuple):
    """One converged jampy map of the galaxy (reached nodes only; the rest extended).

    Attributes
    ----------
    q_int, ratio : float
    maps : ndarray, shape (n_components, n_r, n_theta)
        Component maps (units of G L_tot/R_e), from :func:`jaxjam.reference.grid_maps`.
    physical : bool
        V² > 0 at every reached node.
    """

    q_int: float
    ratio: float
    maps: np.ndarray
    physical: bool


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
        ``p95``, ``max`` (of |δv/v|), ``mode_std`` (6 amplitudes), ``residual_std`` and the
        ``relative_scalings`` at which V² was formed.
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
    from jaxjam.forward import extend_outward
    from jaxjam.reference import grid_maps

    m = grid_maps(mge_norm, float(q_int), float(ratio), grid, settings, scale, nodes, components)
    # the stars' map, and any other "log" target, must be positive where the bins are
    logs = [k for k, c in enumerate(components) if c.target == "log"]
    ok = m.status == 0 and all(bool(np.all(m.maps[k][nodes] > 0)) for k in logs)
    return JampyMap(float(q_int), float(ratio),
                    np.stack([extend_outward(c, nodes) for c in m.maps]), ok)  # fmt: skip


def jampy_maps(pool, galaxy, points, grid, nodes, settings, progress: bool = False,
               components=None):  # fmt: skip
    """Converged jampy maps of a galaxy at (q_int, ratio) points, in parallel on ``pool``.

    Parameters
    ----------
    pool : jaxjam.inference.pool.JampyPool
    galaxy : jaxjam.inference.Galaxy
    points : array_like, shape (n, 2)
        (q_int, ratio).
    grid : jaxjam.grid.PolarGrid
    nodes : ndarray of bool, shape (n_r, n_theta)
        Nodes the bins reach (:func:`jaxjam.forward.reached_nodes`).
    settings : jaxjam.reference.JampySettings
    components : tuple of jaxjam.components.Component, optional
        The maps computed (default :data:`jaxjam.components.DEFAULT`).

    Returns
    -------
    list of JampyMap
    """
    from jaxjam.components import DEFAULT
    from jaxjam.reference import JampyScale

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

    from jaxjam.forward import apply_operator

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
    mge : jaxjam.mge.MGE
        The galaxy's photometry (Lsun/pc², arcsec).
    maps : list of JampyMap
        At least 3 physical ones.
    operator : jaxjam.forward.BinOperator
        The fit's forward operator (float64 arrays), through which the error is measured.
    nodes : ndarray of bool, shape (n_r, n_theta)
        The nodes the bins reach; the head is corrected there only.
    basis : ndarray, shape (n_bins, 6)
        The unit error modes at the bins (:func:`jaxjam.error_model.bin_modes` with unit
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
    ValueError
        If fewer than 3 maps have a physical jampy solution at the reached nodes.
    """
    import jax.numpy as jnp

    from jaxjam.network import head_of

    good = [m for m in maps if m.physical]
    if len(good) < 3:
        raise TooFewPhysicalMapsError(
            f"only {len(good)} of {len(maps)} refinement points have a physical jampy solution "
            "where the data are; narrow the prior bounds or fit with refine_maps=0"
        )
    features = emulator.features(mge)
    kernel, bias = (np.asarray(a, np.float64) for a in head_of(emulator.state))
    n_nodes = emulator.grid.n_r * emulator.grid.n_theta
    n_out = len(emulator.components) * n_nodes
    nz = emulator.normalization
    keep = np.tile(np.ravel(nodes), len(emulator.components))
    rows, targets, z_true = [], [], []
    for m in good:
        z = np.ravel(nz.encode_targets(m.maps))
        h = np.asarray(emulator.hidden_fn(emulator.state, features, jnp.float32(m.q_int),
                                          jnp.float32(m.ratio), jnp.float32(mge.qobs_min)),
                       np.float64)  # fmt: skip
        pred = h @ kernel[:, :n_out] + bias[:n_out]
        rows.append(np.append(h, 1.0))
        targets.append(np.where(keep, z - pred, 0.0))
        z_true.append(z)
    H, R, Z = np.array(rows), np.array(targets), np.array(z_true)
    gram = H @ H.T
    a_std = np.ravel(nz.target_std[0])  # the stars' log A: a relative error
    sel = np.ravel(nodes)

    def loo_residuals(lam):
        inv = np.linalg.inv(gram + lam * np.eye(len(H)))
        return (inv @ R) / np.diag(inv)[:, None]

    def loo_rms(lam):
        return float(np.sqrt(np.mean((loo_residuals(lam)[:, :n_nodes][:, sel] * a_std[sel]) ** 2)))

    scores = {lam: loo_rms(lam) for lam in RIDGE_GRID}
    lam = min(scores, key=scores.get)
    delta = H.T @ np.linalg.solve(gram + lam * np.eye(len(H)), R)  # (width + 1, n_out)
    kernel[:, :n_out] += delta[:-1]
    bias[:n_out] += delta[-1]
    raw = float(np.sqrt(np.mean((R[:, :n_nodes][:, sel] * a_std[sel]) ** 2)))

    # the leave-one-out maps through the exact layer: the refined model's error at the bins
    z_loo = Z - loo_residuals(lam)
    shape = (len(emulator.components), *emulator.grid.shape)
    rel = [float(m) for m in relative_scalings]
    err = []
    recent = {id(m) for m in maps[-(n_local or len(maps)) :]}
    local = np.array([id(m) in recent for m in good])
    if local.sum() < 3:  # too few physical maps near the posterior: measure on all
        local[:] = True
    for m, z in zip([g for g, ok in zip(good, local, strict=True) if ok], z_loo[local],
                    strict=True):  # fmt: skip
        c_true = _bin_values(operator, m.maps)
        c_loo = _bin_values(operator, nz.decode_targets(z.reshape(shape)))
        v2_true = sum(s * c for s, c in zip(rel, c_true, strict=True))
        v2_loo = sum(s * c for s, c in zip(rel, c_loo, strict=True))
        err.append(np.sqrt(np.clip(v2_loo, 1e-30, None) / np.clip(v2_true, 1e-30, None)) - 1)
    err = np.array(err)
    mode_std, resid = _mode_split(err, basis)
    bins = {"median": float(np.median(np.abs(err))), "p95": float(np.percentile(np.abs(err), 95)),
            "max": float(np.max(np.abs(err))), "mode_std": mode_std.tolist(),
            "residual_std": resid, "relative_scalings": rel}  # fmt: skip
    return Refinement(kernel.astype(np.float32), bias.astype(np.float32),
                      np.array([(m.q_int, m.ratio) for m in good]), lam, raw, scores[lam],
                      bins)  # fmt: skip
