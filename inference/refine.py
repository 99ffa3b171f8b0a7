"""Refine the emulator for one galaxy with a few jampy maps, before its fit.

The network's error on a given photometry is smooth in (q_int, ratio). A fit refines the
network's linear head for its galaxy on ``n_maps`` jampy maps, computed with the training set's
jampy settings at a quasi-random (Halton) design over the fit's prior box in (q_int, ratio):

- ``h(θ)``, the MLP's last hidden layer (plus a constant), is the feature vector of θ;
- the residuals ``R = z_jampy − z_emulator`` of the standardised targets (log A and B·r per
  node) at the design points are fitted by kernel ridge regression on ``h``:
  ``Δz(θ) = h(θ)ᵀ Hᵀ (H Hᵀ + λ I)⁻¹ R``, which is a correction ``ΔW = Hᵀ (H Hᵀ + λ I)⁻¹ R`` of
  the head's weights, so the fit costs nothing more per step;
- λ minimises the leave-one-out error (closed form for ridge regression), and that
  leave-one-out error estimates the refined emulator's own error on this galaxy.

M/L, M_BH, distance, PSF and pixel size stay exact: they never enter the maps. The
physicality output is not refined. On M32 with the interim model, 12 maps cut the rms error of
log A inside the kinematic field from 5–10% to under 1% over the whole prior box
(``benchmarks/refine_accuracy.py``); a fit uses 20 by default (``FitConfig.refine_maps``),
which on the M32 demo brings the M_BH median from +0.33σ to +0.21σ of jampy's posterior (mean
of four seeds). The cost is ``n_maps`` jampy calls (0.3–1 s each).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Refinement", "refine_head"]

RIDGE_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


class Refinement(NamedTuple):
    """A galaxy's refined head and what was measured while refining it.

    Attributes
    ----------
    kernel : ndarray, shape (mlp_width, 2 n_nodes + 1)
    bias : ndarray, shape (2 n_nodes + 1,)
        The refined head (float32).
    design : ndarray, shape (n_used, 2)
        (q_int, ratio) of the jampy maps used (unphysical design points are dropped).
    ridge : float
        The chosen λ.
    raw_rms_log_a, loo_rms_log_a : float
        RMS error of log A over the nodes and design points: of the network, and of the refined
        network in leave-one-out (each map predicted from the others).
    """

    kernel: np.ndarray
    bias: np.ndarray
    design: np.ndarray
    ridge: float
    raw_rms_log_a: float
    loo_rms_log_a: float

    @property
    def error_scale(self) -> float:
        """Leave-one-out error over raw error, in (0, 1]: scales the emulator's error model."""
        return float(np.clip(self.loo_rms_log_a / max(self.raw_rms_log_a, 1e-12), 0.05, 1.0))

    def info(self) -> dict:
        return {"n_maps": len(self.design), "design_q_int_ratio": self.design.tolist(),
                "ridge": self.ridge, "raw_rms_log_a": self.raw_rms_log_a,
                "loo_rms_log_a": self.loo_rms_log_a, "error_scale": self.error_scale}  # fmt: skip


def design_points(n_maps: int, bounds, seed: int) -> np.ndarray:
    """``n_maps`` scrambled-Halton points in the prior box of (q_int, ratio), shape (n, 2)."""
    from scipy.stats import qmc

    lo = np.array([bounds[0][0], bounds[1][0]], float)
    hi = np.array([bounds[0][1], bounds[1][1]], float)
    return lo + (hi - lo) * qmc.Halton(d=2, seed=seed).random(n_maps)


def refine_head(emulator, mge, bounds, n_maps: int = 12, seed: int = 0) -> Refinement:
    """Refine the emulator's head on ``n_maps`` jampy maps of this photometry.

    Parameters
    ----------
    emulator : jaxjam.Emulator
    mge : jaxjam.mge.MGE
        The galaxy's photometry (Lsun/pc², arcsec).
    bounds : array_like, shape (4, 2)
        Prior bounds of the fit (:meth:`PriorBounds.resolve`); rows 0 and 1 (q_int, ratio)
        set the design box.
    n_maps : int
        jampy maps to compute (≥ 3).
    seed : int
        Seed of the Halton scrambling.

    Returns
    -------
    Refinement

    Raises
    ------
    ValueError
        If fewer than 3 design points have a physical jampy solution.
    """
    import jax.numpy as jnp

    from jaxjam.data_gen.jam_labels import component_maps
    from jaxjam.network import head_of

    if n_maps < 3:
        raise ValueError(f"refinement needs at least 3 jampy maps, got {n_maps}")
    norm_mge, *_ = mge.normalized()
    features = emulator.features(mge)
    kernel, bias = (np.asarray(a, np.float64) for a in head_of(emulator._state))
    n_nodes = emulator.grid.n_r * emulator.grid.n_theta
    nz = emulator.normalization
    rows, targets, used = [], [], []
    for q_int, ratio in design_points(n_maps, bounds, seed):
        truth = component_maps(norm_mge, q_int, ratio, emulator.grid)
        if not (truth.physical and np.all(truth.A > 0)):
            continue
        za, zb = nz.encode_targets(truth.A, truth.B)
        h = np.asarray(emulator.hidden_fn(emulator._state, features, jnp.float32(q_int),
                                          jnp.float32(ratio), jnp.float32(mge.qobs_min)),
                       np.float64)  # fmt: skip
        pred = h @ kernel[:, : 2 * n_nodes] + bias[: 2 * n_nodes]
        rows.append(np.append(h, 1.0))
        targets.append(np.concatenate([np.ravel(za), np.ravel(zb)]) - pred)
        used.append((q_int, ratio))
    if len(rows) < 3:
        raise ValueError(f"only {len(rows)} of {n_maps} refinement points have a physical jampy "
                         "solution; narrow the prior bounds or fit with refine_maps=0")  # fmt: skip
    H, R = np.array(rows), np.array(targets)
    gram = H @ H.T
    a_std = np.ravel(nz.log_a_std)

    def loo_rms(lam):
        inv = np.linalg.inv(gram + lam * np.eye(len(H)))
        loo = (inv @ R) / np.diag(inv)[:, None]
        return float(np.sqrt(np.mean((loo[:, :n_nodes] * a_std) ** 2)))

    scores = {lam: loo_rms(lam) for lam in RIDGE_GRID}
    lam = min(scores, key=scores.get)
    delta = H.T @ np.linalg.solve(gram + lam * np.eye(len(H)), R)  # (width + 1, 2 n_nodes)
    kernel[:, : 2 * n_nodes] += delta[:-1]
    bias[: 2 * n_nodes] += delta[-1]
    raw = float(np.sqrt(np.mean((R[:, :n_nodes] * a_std) ** 2)))
    return Refinement(kernel.astype(np.float32), bias.astype(np.float32), np.array(used), lam,
                      raw, scores[lam])  # fmt: skip
