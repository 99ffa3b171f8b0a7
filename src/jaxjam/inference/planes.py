"""JAM's likelihood over the (M_BH, M/L) plane at fixed (q_int, ratio), exact from two jampy
calls, and its integral there.

At fixed tracer, inclination and anisotropy the Jeans equations are linear in the potential,
and the PSF convolution is linear in Σ·V² (:mod:`jaxjam.core.components`). So at fixed
(q_int, ratio) jampy's Vrms² at the bins, through the PSF, is

    V²(Υ, M_BH) = Υ a + M_BH b

with ``a`` jampy's V² of the stars at Υ = 1 without black hole and ``b`` its response per Msun
of black hole (:func:`jampy_plane`: a second call at Υ = 1 with the black-hole label's reference
mass ``JampySettings.bh_ref_fraction · L_tot``; jampy scales the black hole with Υ, so its mass
there is M_BH/Υ). Two calls therefore give JAM's likelihood everywhere on the plane of the two
parameters that the emulator never learns, and :func:`integrate` integrates it there on a grid,
together with the fit's own likelihood on the same nodes. The certificate
(:mod:`jaxjam.inference.certify`) then importance-samples only (q_int, ratio): a black-hole
mode or a tail in M/L that the chains did not visit is inside every plane, and JAM's M_BH and
M/L given (q_int, ratio) are exact.

The grid follows jampy's likelihood (:func:`integrate`): ``N_MBH`` rows in log10 M_BH, first
over the prior box, then across the span where jampy's profile is within ``WINDOW_DLOGL`` of
its best; in each row ``N_FINE`` nodes in log10 Υ across the row's window, found in passes
from ``N_COARSE`` nodes over the box (M/L is constrained to ~0.003 dex by IFU data, M_BH to
~0.004 dex on NGC 4342 at 2% noise). The fit's likelihood is integrated on the same nodes (its
one costly part: 181 × 48 evaluations a plane), both with the trapezoid rule: a fit whose mass
lies outside jampy's window has a low integral there and moments off jampy's, which the
certificate refuses (:func:`plane_agreement`). The uniform priors' constant density is left
out (it cancels in the weights).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import logsumexp

__all__ = [
    "N_COARSE",
    "N_FINE",
    "N_MBH",
    "Plane",
    "PlaneIntegral",
    "galaxy_vrms",
    "gaussian_loglik",
    "integrate",
    "jam_moments",
    "jampy_plane",
    "plane_agreement",
]

#: Nodes in log10 M_BH over the prior box (0.036 dex over the default [4, 10.5]).
N_MBH = 181
#: Nodes in log10 Υ over the prior box that locate each row's window.
N_COARSE = 96
#: Nodes in log10 Υ across each row's window.
N_FINE = 48
#: A node is in its row's window when a log-likelihood there is within this of the row's best.
WINDOW_DLOGL = 25.0
#: Nodes in log10 Υ of each pass that narrows a row's window, and rows of each pass that
#: narrows the span in log10 M_BH (:func:`integrate`).
_N_SEARCH = 17
_N_SEARCH_ROWS = 61
#: Rows evaluated at once (bounds the (rows, nodes, bins) array).
_CHUNK = 8


class Plane(NamedTuple):
    """jampy's V² at the bins at one (q_int, ratio), as ``V² = Υ a + M_BH b``.

    Attributes
    ----------
    q_int, ratio : float
    a_kms2 : ndarray, shape (n_bins,)
        V² of the stars at Υ = 1, no black hole, (km/s)²; NaN where jampy's V² ≤ 0.
    b_kms2_msun : ndarray, shape (n_bins,)
        V² per Msun of black hole, (km/s)²/Msun; NaN where either call's V² ≤ 0.
    """

    q_int: float
    ratio: float
    a_kms2: np.ndarray
    b_kms2_msun: np.ndarray

    @property
    def physical(self) -> bool:
        """Whether jampy answered at every bin (both calls V² > 0)."""
        return bool(np.all(np.isfinite(self.a_kms2)) and np.all(np.isfinite(self.b_kms2_msun)))

    def vrms2(self, log10_mbh, log10_ml) -> np.ndarray:
        """V² (km/s)² at the bins, shape (..., n_bins), for arrays of the two parameters."""
        ml = 10.0 ** np.asarray(log10_ml, np.float64)[..., None]
        mbh = 10.0 ** np.asarray(log10_mbh, np.float64)[..., None]
        return ml * self.a_kms2 + mbh * self.b_kms2_msun


def jampy_plane(galaxy, q_int: float, ratio: float, settings) -> Plane:
    """Two padded jampy calls at the galaxy's bins, through its PSF: the plane at (q_int, ratio).

    Parameters
    ----------
    galaxy : jaxjam.inference.Galaxy
    q_int, ratio : float
    settings : jaxjam.reference.jam.JampySettings

    Returns
    -------
    Plane
    """
    m_ref = settings.bh_ref_fraction * float(galaxy.mge.luminosity_lsun(galaxy.distance_mpc))
    q, r = float(q_int), float(ratio)
    a = galaxy_vrms(galaxy, q, r, 1.0, 0.0, settings) ** 2
    b = (galaxy_vrms(galaxy, q, r, 1.0, m_ref, settings) ** 2 - a) / m_ref
    return Plane(q, r, a, b)


def galaxy_vrms(galaxy, q_int: float, ratio: float, ml: float, mbh_msun: float,
                settings) -> np.ndarray:  # fmt: skip
    """Padded jampy's Vrms (km/s) at a galaxy's bins through its PSF, shape (n_bins,)
    (:func:`jaxjam.reference.jam.vrms_at_bins`: ``mbh_msun`` is the black-hole mass itself); NaN
    where jampy's V² ≤ 0."""
    from jaxjam.core.physics import bins_to_model_frame
    from jaxjam.reference.jam import vrms_at_bins

    k = galaxy.kinematics
    x, y = bins_to_model_frame(k.x_arcsec, k.y_arcsec, galaxy.pa_deg)
    return vrms_at_bins(galaxy.mge, galaxy.distance_mpc, x, y, float(q_int), float(ratio), ml,
                        mbh_msun, galaxy.psf, galaxy.pa_deg, settings)  # fmt: skip


def gaussian_loglik(v2, vrms_kms, vrms_err_kms) -> np.ndarray:
    """Gaussian log-likelihood with the data errors alone of model V² (..., n_bins); −inf where
    V² ≤ 0 (or NaN) at any bin."""
    with np.errstate(invalid="ignore"):
        ok = np.all(v2 > 0, axis=-1)
        v = np.sqrt(np.where(v2 > 0, v2, 1.0))
    chi2 = np.sum(((vrms_kms - v) / vrms_err_kms) ** 2, axis=-1)
    ll = -0.5 * chi2 - np.sum(np.log(np.sqrt(2 * np.pi) * vrms_err_kms))
    return np.where(ok, ll, -np.inf)


class PlaneIntegral(NamedTuple):
    """The two likelihoods integrated over a plane (log10 M_BH, log10 Υ).

    Attributes
    ----------
    log_z_jampy, log_z_fit : float
        log ∫∫ L dlog10 M_BH dlog10 Υ over the prior box (−inf: no mass).
    moments_jampy, moments_fit : ndarray, shape (2, 2)
        ``[[E x, E x²] for x in (log10 M_BH, log10 Υ)]`` under each normalised likelihood (NaN
        without mass).
    spacing : ndarray, shape (2,)
        The largest node spacing (dex) in log10 M_BH and in log10 Υ of the final nodes: a
        conditional standard deviation below it is not resolved (:func:`resolved`).
    """

    log_z_jampy: float
    log_z_fit: float
    moments_jampy: np.ndarray
    moments_fit: np.ndarray
    spacing: np.ndarray = np.full(2, np.nan)


def _jampy_ll(plane: Plane, lg_mbh, lg_ml, kin) -> np.ndarray:
    """jampy's log-likelihood at rows ``lg_mbh`` (n,) × nodes ``lg_ml`` (n, m), chunked.

    Where V² = Υ a + M_BH b is positive at every node (a > 0 and b ≥ 0 at every bin), χ² is
    expanded as Σ d²/e² − 2 Σ (d/e²) V + Υ Σ a/e² + M_BH Σ b/e²: the linear terms are two dot
    products and the one nonlinear term a matrix product, 2–3× faster than the direct sum
    (they differ by ≤ 4e-8 in log L at 701 bins and 0.5% noise)."""
    a, b = plane.a_kms2, plane.b_kms2_msun
    out = np.empty(lg_ml.shape)
    if not (np.all(a > 0) and np.all(b >= 0)):
        for i in range(0, len(lg_mbh), _CHUNK):
            v2 = plane.vrms2(lg_mbh[i : i + _CHUNK, None], lg_ml[i : i + _CHUNK])
            out[i : i + _CHUNK] = gaussian_loglik(v2, kin.vrms_kms, kin.vrms_err_kms)
        return out
    d, e = np.asarray(kin.vrms_kms, np.float64), np.asarray(kin.vrms_err_kms, np.float64)
    w = 1.0 / e**2
    const = -0.5 * np.sum(d * d * w) - np.sum(np.log(np.sqrt(2 * np.pi) * e))
    ml = 10.0 ** np.asarray(lg_ml, np.float64)
    mbh = 10.0 ** np.asarray(lg_mbh, np.float64)[:, None]
    for i in range(0, len(mbh), _CHUNK):
        m, u = mbh[i : i + _CHUNK], ml[i : i + _CHUNK]
        v = np.sqrt(u[..., None] * a + m[..., None] * b)
        out[i : i + _CHUNK] = const - 0.5 * (u * (a @ w) + m * (b @ w) - 2.0 * (v @ (d * w)))
    return out


def _fit_ll(fit_loglik, plane: Plane, lg_mbh, lg_ml) -> np.ndarray:
    """The fit's log-likelihood on the same nodes (one batch)."""
    mb = np.broadcast_to(lg_mbh[:, None], lg_ml.shape)
    theta = np.stack([np.full(lg_ml.size, plane.q_int), np.full(lg_ml.size, plane.ratio),
                      mb.ravel(), lg_ml.ravel()], axis=1)  # fmt: skip
    ll = np.asarray(fit_loglik(theta), np.float64).reshape(lg_ml.shape)
    return np.where(np.isfinite(ll), ll, -np.inf)


def _window(ll, nodes) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the span of the nodes ``nodes`` (rows, m) where ``ll`` (rows, m) is within
    WINDOW_DLOGL of its row's best, one node wider on each side (the whole row where it is
    −inf)."""
    nodes = np.broadcast_to(nodes, ll.shape)
    best = ll.max(axis=1, keepdims=True)
    keep = np.isfinite(best) & (ll >= best - WINDOW_DLOGL)
    idx = np.arange(ll.shape[1])
    lo_i = np.where(keep, idx, len(idx)).min(axis=1) - 1
    hi_i = np.where(keep, idx, -1).max(axis=1) + 1
    empty = ~keep.any(axis=1)
    lo_i = np.where(empty, 0, np.clip(lo_i, 0, len(idx) - 1))
    hi_i = np.where(empty, len(idx) - 1, np.clip(hi_i, 0, len(idx) - 1))
    rows = np.arange(ll.shape[0])
    return nodes[rows, lo_i], nodes[rows, hi_i]


def _ml_nodes(jam, lg_mbh, u_coarse, n_nodes: int = N_FINE) -> tuple[np.ndarray, np.ndarray]:
    """Per row, ``n_nodes`` nodes in log10 Υ across the row's window, found by passes of
    ``_N_SEARCH`` nodes (from the box's coarse nodes, until no window shrinks below half of the
    last, at most six): a conditional far narrower than the coarse spacing is still resolved.
    Returns the nodes (rows, n_nodes) and jampy's log-likelihood there."""
    nodes = np.broadcast_to(u_coarse, (len(lg_mbh), len(u_coarse)))
    ll = jam(lg_mbh, nodes)
    for _ in range(6):
        lo, hi = _window(ll, nodes)
        if not np.any(hi - lo < 0.5 * (nodes[:, -1] - nodes[:, 0])):
            break
        nodes = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, _N_SEARCH)[None, :]
        ll = jam(lg_mbh, nodes)
    nodes = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, n_nodes)[None, :]
    return nodes, jam(lg_mbh, nodes)


def integrate(plane: Plane, kinematics, bounds, fit_loglik=None) -> PlaneIntegral:
    """jampy's and the fit's likelihoods integrated over the plane of ``plane``.

    The nodes follow jampy's likelihood: rows in log10 M_BH are searched with ``_N_SEARCH_ROWS``
    rows, first over the prior box, then (up to three times) across the span where jampy's
    profile likelihood is within ``WINDOW_DLOGL`` of its best, one row wider on each side,
    while that span is under a quarter of the rows' extent; the integral then takes
    ``N_MBH`` rows across the last span, each with ``N_FINE`` nodes in log10 Υ across its window
    (:func:`_ml_nodes`). So a conditional 0.004 dex wide in M_BH (NGC 4342 at 2% noise) is
    resolved by tens of rows instead of falling between two rows of the box's 0.036-dex grid.

    Parameters
    ----------
    plane : Plane
    kinematics : jaxjam.core.kinematics.Kinematics
        The data (``vrms_kms``, ``vrms_err_kms``, shape (n_bins,)).
    bounds : array, shape (4, 2)
        The prior box of θ = (q_int, ratio, log10 M_BH, log10 Υ).
    fit_loglik : callable, optional
        ``θ (n, 4) → (n,)``, the likelihood the fit sampled; ``None``: jampy's alone
        (``log_z_fit`` −inf).

    Returns
    -------
    PlaneIntegral
    """
    b = np.asarray(bounds, np.float64)
    u_coarse = np.linspace(b[3, 0], b[3, 1], N_COARSE)
    jam = lambda rows, u: _jampy_ll(plane, rows, u, kinematics)  # noqa: E731
    lo, hi = b[2]
    for _ in range(4):
        rows = np.linspace(lo, hi, _N_SEARCH_ROWS)
        _, ll = _ml_nodes(jam, rows, u_coarse, _N_SEARCH)
        lo_w, hi_w = _window(ll.max(axis=1)[None, :], rows[None, :])
        if not (hi_w[0] - lo_w[0]) < 0.25 * (hi - lo):
            break
        lo, hi = lo_w[0], hi_w[0]
    lg_mbh = np.linspace(lo, hi, N_MBH)
    fine, ll = _ml_nodes(jam, lg_mbh, u_coarse)
    spacing = np.array([lg_mbh[1] - lg_mbh[0], np.max(fine[:, 1] - fine[:, 0])])
    z_jam, m_jam = _integral(ll, lg_mbh, fine)
    z_fit, m_fit = -np.inf, np.full((2, 2), np.nan)
    if fit_loglik is not None:  # on jampy's nodes: mass of the fit's outside them is missed,
        # which shows as a low integral and moments off jampy's (plane_agreement)
        z_fit, m_fit = _integral(_fit_ll(fit_loglik, plane, lg_mbh, fine), lg_mbh, fine)
    return PlaneIntegral(z_jam, z_fit, m_jam, m_fit, spacing)


def _integral(ll, lg_mbh, lg_ml) -> tuple[float, np.ndarray]:
    """Trapezoid log ∫∫ exp(ll), and the moments of (log10 M_BH, log10 Υ)."""
    wu = np.ones(lg_ml.shape[1])
    wu[[0, -1]] = 0.5
    du = (lg_ml[:, -1] - lg_ml[:, 0]) / (lg_ml.shape[1] - 1)
    wm = np.ones(len(lg_mbh))
    wm[[0, -1]] = 0.5
    dm = (lg_mbh[-1] - lg_mbh[0]) / (len(lg_mbh) - 1)
    with np.errstate(divide="ignore"):
        logw = ll + np.log(wu)[None, :] + np.log(du * wm * dm)[:, None]
    log_z = float(logsumexp(logw))
    if not np.isfinite(log_z):
        return -np.inf, np.full((2, 2), np.nan)
    p = np.exp(logw - log_z)
    mb = np.broadcast_to(lg_mbh[:, None], lg_ml.shape)
    moments = np.array([[np.sum(p * x), np.sum(p * x**2)] for x in (mb, lg_ml)])
    return log_z, moments


def plane_agreement(integrals, weights) -> dict:
    """How far the fit's posterior of (log10 M_BH, log10 Υ) is from JAM's, from the planes.

    Each plane holds both exact conditionals of (log10 M_BH, log10 Υ) at its draw's
    (q_int, ratio). The fit's marginal is their mixture over the draws with equal weights (the
    draws are the fit's own), JAM's the mixture of jampy's conditionals with the normalised
    importance weights. Their means are compared in units of JAM's marginal standard deviation
    and their widths as a log ratio, the same measure as the (q_int, ratio) marginal
    (:func:`~jaxjam.inference.overdispersed.marginal_agreement`).

    A marginal, not the largest shift over the planes: on the M32 demo a conditional of
    log10 Υ 0.003 dex wide is off by 0.67 of its sd on one plane of 48 (an emulator error of
    ~0.01% in Vrms), which moves the marginal by a fraction of its own width, and whether the
    largest of 48 such shifts passes 0.5 is the luck of the draws. The marginal's shift
    carries a Monte Carlo error, ``shift_se`` (the standard error of the mean per-plane
    difference over the draws, in the same unit), reported beside it.

    Parameters
    ----------
    integrals : list of PlaneIntegral, length n
        The posterior draws' planes (finite integrals).
    weights : ndarray, shape (n,)
        Normalised importance weights of the same draws.

    Returns
    -------
    dict
        ``max_shift`` (the larger |mean_fit − mean_JAM| / sd_JAM of the two parameters),
        ``max_width`` (the larger |ln(sd_fit / sd_JAM)|), the parameter of each
        (``shift_parameter``, ``width_parameter``), ``shift_se`` per parameter,
        ``conditional_max_shift`` (the largest per-plane shift in conditional sd, a
        diagnostic), ``n_unresolved`` (planes whose jampy conditional is narrower than half
        its node spacing) and, when the comparison cannot be made, ``reason`` in words (the
        figures are then ``inf`` and the parameters ``None``).
    """
    names = ("log10_mbh", "log10_ml")
    fail = {"max_shift": float("inf"), "max_width": float("inf"), "shift_parameter": None,
            "width_parameter": None, "shift_se": None, "conditional_max_shift": None,
            "n_unresolved": 0}  # fmt: skip
    if not integrals:
        return {**fail, "reason": "no plane with mass under both likelihoods"}
    mj = np.array([i.moments_jampy for i in integrals])  # (n, 2, 2)
    mf = np.array([i.moments_fit for i in integrals])
    spacing = np.array([i.spacing for i in integrals])  # (n, 2)
    w = np.asarray(weights, np.float64)
    w = w / w.sum()
    with np.errstate(invalid="ignore"):
        sd_cj = np.sqrt(np.clip(mj[..., 1] - mj[..., 0] ** 2, 0, None))
        unresolved = np.any(sd_cj < 0.5 * spacing, axis=1)
    fail["n_unresolved"] = int(unresolved.sum())
    if unresolved.any():
        j = int(np.argmax(np.sum(sd_cj < 0.5 * spacing, axis=0)))
        return {**fail, "reason": f"on {int(unresolved.sum())} plane(s) JAM's conditional of "
                f"{names[j]} is narrower than half the nodes' spacing "
                f"({np.nanmin(sd_cj[:, j]):.2g} dex): not resolved"}  # fmt: skip
    if not (np.all(np.isfinite(mj)) and np.all(np.isfinite(mf))):
        return {**fail, "reason": "a plane's conditional moments are not finite"}
    mean_j = w @ mj[..., 0]
    mean_f = mf[..., 0].mean(0)
    sd_j = np.sqrt(np.clip(w @ mj[..., 1] - mean_j**2, 0, None))
    sd_f = np.sqrt(np.clip(mf[..., 1].mean(0) - mean_f**2, 0, None))
    if np.any(sd_j <= 0) or np.any(sd_f <= 0):
        return {**fail, "reason": "a marginal width is zero"}
    shift = np.abs(mean_f - mean_j) / sd_j
    width = np.abs(np.log(sd_f / sd_j))
    diff = (mf[..., 0] - mj[..., 0]) / sd_j
    se = diff.std(0, ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else np.full(2, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        cond = np.abs(mf[..., 0] - mj[..., 0]) / sd_cj
    return {"max_shift": float(shift.max()), "max_width": float(width.max()),
            "shift_parameter": names[int(np.argmax(shift))],
            "width_parameter": names[int(np.argmax(width))],
            "shift_se": dict(zip(names, se.tolist(), strict=True)),
            "conditional_max_shift": float(np.nanmax(cond)), "n_unresolved": 0}  # fmt: skip


def jam_moments(theta, draws, w, integrals) -> tuple[np.ndarray, np.ndarray]:
    """JAM's posterior mean and standard deviation, shape (4,) each, by the difference estimator.

    ``E_JAM[f] ≈ mean_NUTS(f) + Σ_i w̃_i g_JAM,i − (1/n) Σ_i g_fit,i``, with ``g_i`` the
    conditional expectation of f on draw i's plane: f(θ_i) itself for q_int and ratio, the
    plane's exact moment under jampy's (or the fit's) likelihood for log10 M_BH and log10 Υ.

    Parameters
    ----------
    theta : ndarray, shape (n_chains, n_samples, 4)
    draws : ndarray, shape (n, 4)
    w : ndarray, shape (n,)
        Normalised importance weights of the draws' (q_int, ratio).
    integrals : list of PlaneIntegral, length n
    """
    flat = np.asarray(theta, np.float64).reshape(-1, draws.shape[1])
    g_jam = np.empty((len(draws), 4, 2))
    g_fit = np.empty((len(draws), 4, 2))
    g_jam[:, :2] = g_fit[:, :2] = np.stack([draws[:, :2], draws[:, :2] ** 2], axis=-1)
    g_jam[:, 2:] = np.array([i.moments_jampy for i in integrals])
    g_fit[:, 2:] = np.array([i.moments_fit for i in integrals])
    nuts = np.stack([flat.mean(0), (flat**2).mean(0)], axis=-1)
    est = nuts + np.einsum("i,ijk->jk", w, g_jam) - g_fit.mean(0)
    mean = est[:, 0]
    return mean, np.sqrt(np.clip(est[:, 1] - mean**2, 0, None))
