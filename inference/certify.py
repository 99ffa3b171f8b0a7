"""The certificate of a fit: converged jampy at posterior draws, Pareto-smoothed importance
sampling (ArviZ), and the posterior reweighted to JAM.

After sampling, ``n_draws`` draws are taken evenly from the chains (a seeded permutation) and
jampy is run at each of them, at the galaxy's bins through its PSF
(:func:`jaxjam.reference.vrms_at_bins`, padded, at the certificate's settings, in parallel
processes). The log importance ratio of a draw is

    log w = log L_jampy(θ) − log L_fit(θ)

where ``L_jampy`` is the Gaussian likelihood of jampy's Vrms with the data errors alone (JAM's
posterior under the same priors) and ``L_fit`` the likelihood that NUTS sampled (the table or
network, with its model-error term). ArviZ's PSIS smooths the weights and gives the Pareto
k̂; the importance ESS is ``1/Σ w̃²``. The fit is **certified** when k̂ ≤ ``k_hat_max`` and
the relative ESS is at least ``min_rel_ess``, jampy is physical at every draw, and the sampled
posterior does not miss any of JAM's mass around it (below).

**Over-dispersed draws.** Importance sampling sees JAM's density only where the proposal put
its draws: a sampled posterior much narrower than JAM's (a likelihood that is a spike, or cut
off by a wall) gives nearly equal weights and passes k̂. So jampy also runs at
``n_overdispersed`` points drawn from a Gaussian with the posterior's mean and
``overdispersion``² times its covariance, inside the prior box. A point is *missed* when it is
inside JAM's bulk (its jampy log-likelihood is within χ²₀.₉₉₉(d)/2 of the best at the posterior
draws: 9.2 for 4 parameters) and its log importance ratio exceeds the mean weight of the
posterior draws by more than ``max_log_excess`` (the fit's density there is more than e³ ≈ 20
times too low, or zero). Any missed point fails the certificate. This also checks that the
fit's truncation at JAM's physical edge cuts away no mass that jampy allows. For a correct fit
about a quarter of the points land in JAM's bulk (P(χ²₄ < 2 · 9.2 / 3²) = 0.27); for a
posterior ten times too narrow all of them do, with ratios e^18 above the mean.

When certified, the posterior means and standard deviations are corrected to JAM's by the
difference estimator ``E_JAM[f] ≈ mean_all(f) + Σ_i (w̃_i − 1/n) f(θ_i)`` (the NUTS mean over
all draws, plus the reweighting's shift measured on the certificate's draws), reported in
``summary.csv`` as ``jam_mean`` and ``jam_sd``. When not, the fit refines again on jampy maps at
these draws and resamples (:mod:`jaxjam.inference.fit`).

``n_draws``: the default 64 is set by measurement. For log-normal weights, k̂ from 64 draws
is ≤ 0.7 in 99% of trials when the spread of log w is ≤ 0.3 and in 97% at 0.6, while the
wrong NGC 4342 model of DESIGN.md (spread ~5) gives k̂ > 1; ``tests/test_certify.py`` checks
that a degraded head fails.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from jaxjam.inference.priors import PARAM_NAMES
from jaxjam.reference import CONVERGED, LABELS, JampySettings

__all__ = [
    "BULK_QUANTILE",
    "CERTIFICATE_SETTINGS",
    "MIN_DRAWS",
    "CertifyConfig",
    "certify",
    "jampy_log_likelihood",
    "jampy_vrms",
]

#: jampy settings of the certificate's calls at the bins. Measured at IFU bins through the PSF
#: against nang 45 / nlos 800 (``benchmarks/reference_settings.py``): nang 30 / nlos 120 is
#: ≤ 0.016% (M32, 175 AO bins) and ≤ 0.033% (NGC 4342 mock, 701 AO bins) at worst, no worse
#: than nlos 300 at 60% of its cost (3–4 s a call).
CERTIFICATE_SETTINGS = CONVERGED
#: The cheaper settings tried first, cheapest first: the label settings (nang 15, 0.35 s a
#: call at M32's bins), then nang 20 / nlos 120 (0.04–0.07% off at M32's bins and 0.1% at
#: NGC 4342's at worst, 0.7 s a call). The cheapest one whose log-likelihood differs from the
#: converged settings' by an amount that varies by at most ``CertifyConfig.screen_dlogl`` over
#: ``SCREEN_DRAWS`` posterior draws is used for the galaxy's other draws.
SCREEN_SETTINGS = (LABELS, JampySettings(nang=20, nlos=120))
#: Fewest finite log ratios ArviZ's PSIS can smooth (its tail is n/5 draws, at least 5).
PSIS_MIN_DRAWS = 25
#: Fewest posterior draws of a certificate (a margin over PSIS_MIN_DRAWS for unphysical ones).
MIN_DRAWS = 32
#: Draws at which both settings are run to decide.
SCREEN_DRAWS = 3
#: JAM's bulk, for the over-dispersed draws: within the χ²(d) quantile / 2 of the best jampy
#: log-likelihood at the posterior draws (d: the number of parameters).
BULK_QUANTILE = 0.999


@dataclasses.dataclass(frozen=True)
class CertifyConfig:
    """Settings of the certificate.

    Parameters
    ----------
    enabled : bool
        Certify the fit (``False`` gives up the guarantee: the posterior is the emulator's).
    n_draws : int
        Posterior draws at which jampy is run (≥ :data:`MIN_DRAWS`).
    max_rounds : int
        Fits (refine, sample, certify) before giving up; 1 never refines again.
    k_hat_max : float
        Largest Pareto k̂ that passes (0.7: the PSIS convention).
    min_rel_ess : float
        Smallest importance ESS over ``n_draws`` that passes.
    settings : JampySettings
        jampy settings of the calls at the bins.
    screen : tuple of JampySettings, JampySettings or None
        Cheaper settings, cheapest first. At the first ``SCREEN_DRAWS`` draws jampy runs at
        each of them and at ``settings``; the cheapest whose log-likelihood minus that of
        ``settings`` varies by at most ``screen_dlogl`` from draw to draw is used at the other
        draws (a constant offset cancels in the normalised weights; so measured per galaxy),
        else ``settings``. ``None`` runs ``settings`` at every draw.
    screen_dlogl : float
    n_overdispersed : int
        Points of the over-dispersed check (0 turns it off).
    overdispersion : float
        Their spread over the posterior's (a scale on its standard deviations, > 1).
    max_log_excess : float
        Largest log importance ratio at a point inside JAM's bulk, over the log mean weight of
        the posterior draws, that passes.
    workers : int or None
        Processes for the jampy calls (``None``: all cores; 0: in this process).
    """

    enabled: bool = True
    n_draws: int = 64
    max_rounds: int = 3
    k_hat_max: float = 0.7
    min_rel_ess: float = 0.25
    settings: JampySettings = CERTIFICATE_SETTINGS
    screen: tuple[JampySettings, ...] | None = SCREEN_SETTINGS
    screen_dlogl: float = 0.1
    n_overdispersed: int = 16
    overdispersion: float = 3.0
    max_log_excess: float = 3.0
    workers: int | None = None

    def __post_init__(self):
        if self.n_draws < MIN_DRAWS:
            raise ValueError(f"the certificate needs n_draws ≥ {MIN_DRAWS} (ArviZ's PSIS fits "
                             f"its Pareto tail to n/5 ≥ 5 draws), got {self.n_draws}")  # fmt: skip
        if self.max_rounds < 1:
            raise ValueError(f"max_rounds must be ≥ 1, got {self.max_rounds}")
        if not (0 < self.min_rel_ess <= 1 and self.k_hat_max > 0):
            raise ValueError("need 0 < min_rel_ess ≤ 1 and k_hat_max > 0")
        if self.n_overdispersed < 0 or not self.overdispersion > 1 or not self.max_log_excess > 0:
            raise ValueError("need n_overdispersed ≥ 0, overdispersion > 1 and "
                             "max_log_excess > 0")  # fmt: skip
        if isinstance(self.settings, dict):
            object.__setattr__(self, "settings", JampySettings(**self.settings))
        screen = self.screen
        if screen is not None:
            if isinstance(screen, JampySettings | dict):
                screen = (screen,)
            screen = tuple(JampySettings(**s) if isinstance(s, dict) else s for s in screen)
            object.__setattr__(self, "screen", screen or None)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def jampy_vrms(galaxy, theta, settings=CERTIFICATE_SETTINGS) -> np.ndarray:
    """Padded jampy's Vrms (km/s) at a galaxy's bins, shape (n_bins,), through its PSF.

    Parameters
    ----------
    galaxy : Galaxy
        MGE (tracer, and potential scaled by M/L), bins, position angle, distance and PSF
        (``psf=None``: no convolution).
    theta : sequence of 4 floats
        (q_int, ratio, log10 M_BH [Msun], log10 M/L [Msun/Lsun]).
    settings : JampySettings
        jampy's accuracy (default: converged).

    Returns
    -------
    ndarray, shape (n_bins,)
        Vrms, km/s; NaN where jampy's V² ≤ 0.
    """
    from jaxjam.physics import bins_to_model_frame
    from jaxjam.reference import vrms_at_bins

    k = galaxy.kinematics
    x, y = bins_to_model_frame(k.x_arcsec, k.y_arcsec, galaxy.pa_deg)
    q, ratio, lg_mbh, lg_ml = (float(t) for t in theta)
    return vrms_at_bins(galaxy.mge, galaxy.distance_mpc, x, y, q, ratio, 10**lg_ml, 10**lg_mbh,
                        galaxy.psf, galaxy.pa_deg, settings)  # fmt: skip


def jampy_log_likelihood(vrms_kms, galaxy) -> float:
    """Gaussian log-likelihood of model Vrms (km/s, shape (n_bins,)) with the data errors
    alone; −inf where jampy has no physical solution at some bin."""
    k = galaxy.kinematics
    if not np.all(np.isfinite(vrms_kms)):
        return -np.inf
    r = (k.vrms_kms - vrms_kms) / k.vrms_err_kms
    return float(-0.5 * np.sum(r**2) - np.sum(np.log(np.sqrt(2 * np.pi) * k.vrms_err_kms)))


def pick_draws(theta, n: int, seed: int) -> np.ndarray:
    """``n`` distinct draws of ``theta`` (n_chains, n_samples, 4) at a seeded random choice,
    shape (n, 4)."""
    flat = np.asarray(theta, np.float64).reshape(-1, np.shape(theta)[-1])
    idx = np.random.default_rng(seed).choice(len(flat), size=min(n, len(flat)), replace=False)
    return flat[np.sort(idx)]


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


def missed_mass(ll_jam, ll_fit, ll_jam_post, log_ratio_post, config: CertifyConfig,
                n_params: int = 4) -> dict:  # fmt: skip
    """The over-dispersed check: which points have JAM's mass that the fit misses.

    Parameters
    ----------
    ll_jam, ll_fit : ndarray, shape (m,)
        jampy's and the fit's log-likelihoods at the over-dispersed points (−inf: unphysical).
    ll_jam_post, log_ratio_post : ndarray, shape (n,)
        jampy's log-likelihood and the log importance ratio at the posterior draws (finite).
    config : CertifyConfig
    n_params : int
        The posterior's dimension (sets JAM's bulk).

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


def _screen(galaxy, head, pool, config: CertifyConfig, progress: bool):
    """jampy at the draws ``head`` (n, 4) at the converged settings and every screen level;
    returns the settings chosen, the log-likelihoods at ``head`` with them, and the record."""
    levels = list(config.screen)
    jobs = [(galaxy, t, s) for s in [config.settings, *levels] for t in head]
    out = pool.map(jampy_vrms, jobs, "certificate: choosing jampy's settings", progress)
    ll = np.array([jampy_log_likelihood(v, galaxy) for v in out]).reshape(-1, len(head))
    chosen, record = None, []
    for i, level in enumerate(levels, start=1):
        # a constant offset between two settings cancels in the normalised weights: what
        # matters is how the difference varies from draw to draw
        gap = ll[i] - ll[0]
        spread = float(np.ptp(gap)) if np.all(np.isfinite(gap)) else float("inf")
        record.append({"settings": level.to_dict(), "dlogl_spread": spread,
                       "dlogl_offset": float(np.median(gap))})  # fmt: skip
        if chosen is None and spread <= config.screen_dlogl:
            chosen = i
    chosen = chosen or 0
    settings = levels[chosen - 1] if chosen else config.settings
    return settings, ll[chosen], {"n_draws": len(head), "levels": record,
                                  "chosen": settings.to_dict()}  # fmt: skip


def certify(galaxy, theta, fit_loglik, fit_loglik_pure, pool, config: CertifyConfig, seed: int,
            bounds=None, progress: bool = False) -> dict:  # fmt: skip
    """Run jampy at posterior draws and judge the fit.

    Parameters
    ----------
    galaxy : jaxjam.inference.Galaxy
    theta : ndarray, shape (n_chains, n_samples, 4)
        The posterior draws.
    fit_loglik, fit_loglik_pure : callable
        ``θ (n, 4) → (n,)``: the log-likelihood NUTS sampled, and the same without the
        model-error term (for the reported |Δ log L|).
    pool : jaxjam.inference.pool.JampyPool
    config : CertifyConfig
    seed : int
        Seed of the choice of draws and of the over-dispersed points.
    bounds : array, shape (4, 2), optional
        The prior box, for the over-dispersed points (``None``: the check is not made).

    Returns
    -------
    dict
        ``certified``, ``k_hat``, ``ess``, ``rel_ess``, ``n_draws``, ``n_unphysical``,
        ``max_abs_dlogl``, ``median_abs_dlogl`` (jampy − emulator, data errors alone; a constant
        offset removed), ``jam_mean`` / ``jam_sd`` per parameter (reweighted; only when
        certified), ``overdispersed`` (:func:`missed_mass`, with the points and their
        log-likelihoods), ``settings``, ``seconds``, and ``draws`` (n, 4) with their
        ``log_weights``.
    """
    from arviz_stats.base import array_stats

    t0 = time.perf_counter()
    draws = pick_draws(theta, config.n_draws, seed)
    settings, ll_head, screen, n_head = config.settings, [], None, 0
    if config.screen is not None:
        settings, ll_head, screen = _screen(galaxy, draws[:SCREEN_DRAWS], pool, config, progress)
        n_head = len(ll_head)
    wide = np.zeros((0, draws.shape[1]))
    if bounds is not None and config.n_overdispersed:
        wide = overdispersed_draws(theta, config.n_overdispersed, config.overdispersion, bounds,
                                   seed)  # fmt: skip
    todo = np.concatenate([draws[n_head:], wide])
    rest = pool.map(
        jampy_vrms,
        [(galaxy, t, settings) for t in todo],
        f"certificate: jampy (nang {settings.nang}) at {len(todo)} draws",
        progress,
    )
    ll_all = np.array([jampy_log_likelihood(v, galaxy) for v in rest]).reshape(-1)
    ll_jam = np.concatenate([ll_head, ll_all[: len(todo) - len(wide)]])
    ll_wide = ll_all[len(todo) - len(wide) :]
    # the draws and the over-dispersed points in one batch: one shape, one compiled program
    both = np.concatenate([draws, wide])
    ll_fit_both = np.asarray(fit_loglik(both), np.float64)
    ll_fit, ll_fit_wide = ll_fit_both[: len(draws)], ll_fit_both[len(draws) :]
    ll_pure = np.asarray(fit_loglik_pure(both), np.float64)[: len(draws)]
    ok = np.isfinite(ll_jam) & np.isfinite(ll_fit)
    n_bad = int((~np.isfinite(ll_jam)).sum())
    log_ratio = np.where(ok, ll_jam - ll_fit, -np.inf)
    out = {"n_draws": len(draws), "n_unphysical": n_bad, "settings": settings.to_dict(),
           "converged_settings": config.settings.to_dict(), "screen": screen,
           "k_hat_max": config.k_hat_max, "min_rel_ess": config.min_rel_ess}  # fmt: skip
    if ok.sum() < PSIS_MIN_DRAWS:
        out.update(certified=False, k_hat=float("inf"), ess=0.0, rel_ess=0.0,
                   max_abs_dlogl=float("nan"), median_abs_dlogl=float("nan"))  # fmt: skip
    else:
        finite = log_ratio[ok]
        try:
            lw_ok, k_hat = array_stats.psislw(finite - finite.max())
        except ValueError as err:  # a flat tail: the largest weights sit on one repeated draw
            out["psis_error"] = f"{err}: the chains repeat draws (they mix poorly)"
            lw_ok, k_hat = finite - finite.max(), float("inf")
            lw_ok = lw_ok - np.log(np.sum(np.exp(lw_ok)))
        lw = np.full(len(draws), -np.inf)
        lw[ok] = lw_ok
        w = np.exp(lw)
        ess = float(1.0 / np.sum(w**2))
        d = (ll_jam - ll_pure)[ok]
        d = np.abs(d - np.median(d))
        certified = bool(n_bad == 0 and k_hat <= config.k_hat_max
                         and ess >= config.min_rel_ess * len(draws))  # fmt: skip
        if len(wide):
            miss = missed_mass(ll_wide, ll_fit_wide, ll_jam[ok], finite, config,
                               n_params=draws.shape[1])  # fmt: skip
            out["overdispersed"] = {**miss, "scale": config.overdispersion,
                                    "points": wide.tolist(), "ll_jampy": ll_wide.tolist(),
                                    "ll_fit": ll_fit_wide.tolist()}  # fmt: skip
            certified = certified and miss["n_missed"] == 0
        out.update(certified=certified, k_hat=float(k_hat), ess=ess, rel_ess=ess / len(draws),
                   max_abs_dlogl=float(d.max()), median_abs_dlogl=float(np.median(d)))  # fmt: skip
        if certified:
            flat = np.asarray(theta, np.float64).reshape(-1, draws.shape[1])
            shift = (w - 1.0 / len(draws)) @ draws
            shift2 = (w - 1.0 / len(draws)) @ draws**2
            mean = flat.mean(0) + shift
            second = (flat**2).mean(0) + shift2
            sd = np.sqrt(np.clip(second - mean**2, 0, None))
            out["jam_mean"] = dict(zip(PARAM_NAMES, mean.tolist(), strict=True))
            out["jam_sd"] = dict(zip(PARAM_NAMES, sd.tolist(), strict=True))
        out["log_weights"] = lw.tolist()
    out["draws"] = draws.tolist()
    out["seconds"] = time.perf_counter() - t0
    return out


def _screened(cert: dict) -> str:
    """The verdict's note that cheaper settings were used because the screen found them
    equivalent to the converged ones (empty otherwise)."""
    conv = cert.get("converged_settings") or {}
    if not conv or cert["settings"] == conv:
        return ""
    n = (cert.get("screen") or {}).get("n_draws", SCREEN_DRAWS)
    return f"; equivalent to nang {conv['nang']} at {n} draws"


def verdict(cert: dict | None) -> str:
    """One line for the user."""
    if cert is None:
        return "NOT CERTIFIED: certification was turned off (--no-certify); the posterior is " \
               "the emulator's, unchecked against jampy"  # fmt: skip
    c = cert
    s = c["settings"]
    body = (f"k̂ = {c['k_hat']:.2f}, importance ESS {c['ess']:.0f}/{c['n_draws']}, "
            f"max |Δ log L| = {c['max_abs_dlogl']:.2f} at {c['n_draws']} posterior draws "
            f"(jampy nang {s['nang']}, nlos {s['nlos']}, padded{_screened(c)}), "
            f"{c.get('rounds', 1)} round(s)")  # fmt: skip
    if c["certified"]:
        return f"CERTIFIED against converged jampy: {body}"
    why = f"{c['n_unphysical']} draws unphysical in jampy; " if c["n_unphysical"] else ""
    o = c.get("overdispersed") or {}
    if o.get("n_missed"):
        why += (f"JAM's posterior reaches beyond the sampled one ({o['n_missed']} of "
                f"{o['n_points']} points at ×{o['scale']:g} the posterior's spread are in "
                f"JAM's bulk, the fit's density e^{o['max_log_excess']:.3g} too low "
                "there); ")  # fmt: skip
    return f"NOT CERTIFIED: {why}{body}: the posterior is not JAM's"


def with_certificate(summary, cert: dict | None):
    """The summary table with the certificate's columns: ``jam_mean``, ``jam_sd`` (the posterior
    reweighted to jampy; NaN when not certified), ``certified``, ``k_hat``, ``cert_ess``,
    ``cert_max_abs_dlogl``, ``cert_rounds`` (the same on every row)."""
    s = summary.copy()
    c = cert or {}
    for col, key in (("jam_mean", "jam_mean"), ("jam_sd", "jam_sd")):
        vals = c.get(key) or {}
        s[col] = [vals.get(name, float("nan")) for name in s.index]
    s["certified"] = bool(c.get("certified", False))
    s["k_hat"] = c.get("k_hat", float("nan"))
    s["cert_ess"] = c.get("ess", float("nan"))
    s["cert_max_abs_dlogl"] = c.get("max_abs_dlogl", float("nan"))
    s["cert_rounds"] = c.get("rounds", 0)
    return s
