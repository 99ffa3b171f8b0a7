"""The certificate in words and in the summary table: the one-line verdict a fit prints, and
the certificate's columns of ``summary.csv`` (:mod:`jaxjam.inference.certify`)."""

from __future__ import annotations

import numpy as np

__all__ = ["reasons", "verdict", "with_certificate"]


def _screened(cert: dict) -> str:
    """The verdict's note that cheaper settings were used because the screen found them
    equivalent to the converged ones (empty otherwise)."""
    conv = cert.get("converged_settings") or {}
    if not conv or cert["settings"] == conv:
        return ""
    n = cert["screen"]["n_draws"]  # cheaper settings are only chosen by the screen
    return f"; equivalent to nang {conv['nang']} at {n} draws"


def _num(x, fmt: str = ".2f") -> str | None:
    """``x`` formatted, or ``None`` where it is not a finite number."""
    return format(float(x), fmt) if x is not None and np.isfinite(x) else None


def _agreement(a: dict, where: str, max_shift: float, max_width: float) -> str:
    """Why an agreement check failed, in words with real parameters and finite figures."""
    if a.get("reason"):
        return f"{where}: {a['reason']}"
    if a.get("shift_parameter") is None:  # the quadratic of the log ratios is not concave
        return (f"{where}: JAM's marginal is much wider than the sampled one (the log "
                "importance ratios grow away from the posterior)")  # fmt: skip
    out = []
    if a["max_shift"] > max_shift:
        out.append(f"the fit's {a['shift_parameter']} is off JAM's by "
                   f"{a['max_shift']:.2g} sd (limit {max_shift:g})")  # fmt: skip
    if a["max_width"] > max_width:
        out.append(f"the widths of {a['width_parameter']} differ by a factor "
                   f"{np.exp(a['max_width']):.3g} (limit {np.exp(max_width):.3g})")  # fmt: skip
    return f"{where}: " + ", ".join(out)


def reasons(cert: dict) -> list[str]:
    """Every reason a certificate failed, in words (empty when it passed)."""
    c = cert
    if c["certified"]:
        return []
    why = []
    if c.get("too_few"):
        why.append(c["too_few"])
    if c.get("n_unphysical"):
        why.append(f"{c['n_unphysical']} draws unphysical in jampy")
    if c.get("n_fit_zero"):
        why.append(f"on {c['n_fit_zero']} draws' planes the fit has no mass on jampy's nodes")
    tail = c.get("tail") or {}
    if tail and not tail["passed"]:
        k = _num(c.get("k_hat"))
        if k is None:
            why.append("the importance weights' tail could not be fitted ("
                       + c.get("psis_error", "PSIS gave no k̂") + ")")  # fmt: skip
        else:
            why.append(f"the importance weights have a heavy tail: k̂ = {k} > "
                       f"{tail['k_hat_threshold']:.2f} (PSIS's threshold for {tail['n']} "
                       f"draws), log ratios spanning {tail['log_ratio_span']:.2g}")  # fmt: skip
    n, ess = c.get("n_draws", 0), c.get("ess", 0.0)
    if not c.get("too_few") and ess < c.get("min_rel_ess", 0.0) * n:
        why.append(f"importance ESS {ess:.0f} of {n} draws, below "
                   f"{c['min_rel_ess'] * n:.0f}")  # fmt: skip
    o = c.get("overdispersed") or {}
    if o.get("n_missed"):
        low = _num(o["max_log_excess"], ".3g")
        low = f"e^{low} times too low" if low else "zero"
        why.append(f"JAM's posterior reaches beyond the sampled one ({o['n_missed']} of "
                   f"{o['n_points']} points at ×{o['scale']:g} the posterior's spread are in "
                   f"JAM's bulk, the fit's density {low} there)")  # fmt: skip
    for key, where in (("plane_agreement", "on the (M_BH, M/L) planes"),
                       ("marginal_agreement", "in the (q_int, ratio) marginal")):  # fmt: skip
        a = c.get(key) or {}
        lim_s, lim_w = c.get("max_shift", np.inf), c.get("max_width", np.inf)
        if a and (a.get("reason") or not (a["max_shift"] <= lim_s and a["max_width"] <= lim_w)):
            why.append(_agreement(a, where, lim_s, lim_w))
    return why or ["the certificate failed for a reason it did not record"]


def verdict(cert: dict | None) -> str:
    """One line for the user: CERTIFIED or NOT CERTIFIED, every reason in words, and the
    figures that exist (never a placeholder, a NaN or an unnamed parameter)."""
    if cert is None:
        return "NOT CHECKED against jampy: certification was turned off (--no-certify); the " \
               "posterior is the emulator's, and `jaxjam fit` exits 0"  # fmt: skip
    c = cert
    s = c["settings"]
    parts = []
    tail = c.get("tail") or {}
    k = _num(c.get("k_hat"))
    if tail.get("bounded"):
        top = tail.get("log_max_over_mean")
        top = f", largest e^{top:.2f} × the mean" if top is not None else ""
        parts.append(f"bounded weights (log ratios span {tail['log_ratio_span']:.2f}{top}"
                     + (f", k̂ = {k} not needed" if k else "") + ")")  # fmt: skip
    elif k is not None:
        parts.append(f"k̂ = {k}")
    if not c.get("too_few"):
        parts.append(f"importance ESS {c['ess']:.0f}/{c['n_draws']}")
    dl = _num(c.get("max_abs_dlogl"))
    if dl is not None:
        parts.append(f"max |Δ log L| = {dl}")
    lead = ", ".join(parts) + " at " if parts else "at "
    body = (f"{lead}{c['n_draws']} posterior draws (jampy nang {s['nang']}, "
            f"nlos {s['nlos']}, padded{_screened(c)}), {c.get('rounds', 1)} round(s)")  # fmt: skip
    if c["certified"]:
        return f"CERTIFIED against converged jampy: {body}"
    return f"NOT CERTIFIED: {'; '.join(reasons(c))}; {body}: the posterior is not JAM's"


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
