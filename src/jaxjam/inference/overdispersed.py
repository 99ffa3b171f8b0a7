"""The certificate's over-dispersed check: points spread wider than the sampled posterior, and
which of them hold JAM's mass that the fit misses (:mod:`jaxjam.inference.certify`)."""

from __future__ import annotations

import numpy as np

__all__ = ["BULK_QUANTILE", "marginal_agreement", "missed_mass", "overdispersed_draws"]

#: JAM's bulk, for the over-dispersed draws: within the χ²(d) quantile / 2 of the best jampy
#: log-likelihood at the posterior draws (d: the number of parameters).
BULK_QUANTILE = 0.999


def overdispersed_draws(theta, n: int, scale: float, bounds, seed: int) -> np.ndarray:
    """``n`` points from a Gaussian with the mean of ``theta`` (n_chains, n_samples, d) and
    ``scale``² times its covariance, inside ``bounds`` (d, 2) (redrawn until inside, at most
    100 rounds), shape (≤ n, d)."""
    flat = np.asarray(theta, np.float64).reshape(-1, np.shape(theta)[-1])
    d = flat.shape[1]
    cov = np.cov(flat.T) + 1e-12 * np.eye(d)  # a parameter pinned at one value stays usable
    chol = np.linalg.cholesky(cov)
    lo, hi = np.asarray(bounds, np.float64).T
    rng = np.random.default_rng([seed, 1])
    out = []
    for _ in range(100):
        z = flat.mean(0) + scale * rng.standard_normal((n, d)) @ chol.T
        out.extend(z[np.all((z > lo) & (z < hi), axis=1)])
        if len(out) >= n:
            break
    return np.array(out[:n]).reshape(-1, d)


def missed_mass(ll_jam, ll_fit, ll_jam_post, log_ratio_post, config,
                n_params: int = 4) -> dict:  # fmt: skip
    """The over-dispersed check: which points have JAM's mass that the fit misses.

    Parameters
    ----------
    ll_jam, ll_fit : ndarray, shape (m,)
        jampy's and the fit's log-likelihoods (the certificate: integrated over each point's
        plane) at the over-dispersed points (−inf: unphysical).
    ll_jam_post, log_ratio_post : ndarray, shape (n,)
        The same of jampy and the log importance ratio at the posterior draws (finite).
    config : CertifyConfig
    n_params : int
        The dimension of the points (sets JAM's bulk; the certificate's planes: 2).

    Returns
    -------
    dict
        ``n_points``, ``n_in_bulk`` (inside JAM's bulk), ``n_missed``, ``max_log_excess``
        (the largest log ratio over the posterior draws' log mean weight, among the points in
        the bulk; −inf if none) and ``bulk_dlogl``.
    """
    from scipy.special import logsumexp
    from scipy.stats import chi2

    bulk_dlogl = float(chi2.ppf(BULK_QUANTILE, n_params) / 2)
    in_bulk = np.isfinite(ll_jam) & (ll_jam >= np.max(ll_jam_post) - bulk_dlogl)
    mean_lw = logsumexp(log_ratio_post) - np.log(len(log_ratio_post))
    with np.errstate(invalid="ignore"):
        excess = np.where(in_bulk, ll_jam - ll_fit - mean_lw, -np.inf)  # fit −inf: +inf
    return {"n_points": len(ll_jam), "n_in_bulk": int(in_bulk.sum()),
            "n_missed": int((excess > config.max_log_excess).sum()),
            "max_log_excess": float(excess.max()) if len(excess) else -float("inf"),
            "bulk_dlogl": bulk_dlogl}  # fmt: skip


def marginal_agreement(theta_qr, points_qr, log_ratio, names=("q_int", "ratio")) -> dict:
    """How far JAM's marginal of (q_int, ratio) is from the sampled one, from the importance
    ratios at the certificate's points.

    In coordinates z standardised by the sampled posterior (mean μ, covariance Σ), the log
    ratio log p_JAM(z) − log p_fit(z) is fitted by least squares with a quadratic
    ``c + gᵀz + ½ zᵀHz``. For a Gaussian p_fit, JAM's marginal is then Gaussian with precision
    ``I − H`` and mean ``(I − H)⁻¹ g``: its mean is compared with μ in units of JAM's sd, and
    its sd with the sampled one.

    Parameters
    ----------
    theta_qr : ndarray, shape (n_samples, 2)
        The sampled posterior's (q_int, ratio).
    points_qr : ndarray, shape (m, 2)
        Points where the log ratio is known (posterior draws and over-dispersed points).
    log_ratio : ndarray, shape (m,)
        Finite log importance ratios there (a constant offset is irrelevant).

    Returns
    -------
    dict
        ``max_shift`` (largest |mean_JAM − mean_fit| / sd_JAM), ``max_width`` (largest
        |ln(sd_fit / sd_JAM)|; inf when JAM's precision is not positive: much wider), with the
        parameter of each, and JAM's implied ``mean`` and ``sd``.
    """
    flat = np.asarray(theta_qr, np.float64)
    mu = flat.mean(0)
    cov = np.cov(flat.T) + 1e-12 * np.eye(2)
    chol = np.linalg.cholesky(cov)
    z = np.linalg.solve(chol, (np.asarray(points_qr, np.float64) - mu).T).T
    design = np.column_stack([np.ones(len(z)), z, 0.5 * z[:, 0] ** 2, z[:, 0] * z[:, 1],
                              0.5 * z[:, 1] ** 2])  # fmt: skip
    coef = np.linalg.lstsq(design, np.asarray(log_ratio, np.float64), rcond=None)[0]
    g = coef[1:3]
    h = np.array([[coef[3], coef[4]], [coef[4], coef[5]]])
    prec = np.eye(2) - h
    inf = {"max_shift": float("inf"), "max_width": float("inf"), "shift_parameter": None,
           "width_parameter": None, "mean": None, "sd": None}  # fmt: skip
    if np.any(np.linalg.eigvalsh(prec) <= 0):
        return inf
    cov_z = np.linalg.inv(prec)
    mean = mu + chol @ (cov_z @ g)
    sd_jam = np.sqrt(np.diag(chol @ cov_z @ chol.T))
    shift = np.abs(mean - mu) / sd_jam
    width = np.abs(np.log(np.sqrt(np.diag(cov)) / sd_jam))
    return {"max_shift": float(shift.max()), "max_width": float(width.max()),
            "shift_parameter": names[int(np.argmax(shift))],
            "width_parameter": names[int(np.argmax(width))],
            "mean": mean.tolist(), "sd": sd_jam.tolist()}  # fmt: skip
