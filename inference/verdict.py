"""The certificate in words and in the summary table: the one-line verdict a fit prints, and
the certificate's columns of ``summary.csv`` (:mod:`jaxjam.inference.certify`)."""

from __future__ import annotations

import numpy as np

__all__ = ["verdict", "with_certificate"]


def _screened(cert: dict) -> str:
    """The verdict's note that cheaper settings were used because the screen found them
    equivalent to the converged ones (empty otherwise)."""
    conv = cert.get("converged_settings") or {}
    if not conv or cert["settings"] == conv:
        return ""
    n = cert["screen"]["n_draws"]  # cheaper settings are only chosen by the screen
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
    if c.get("n_fit_zero"):
        why += f"on {c['n_fit_zero']} draws' planes the fit has no mass on jampy's nodes; "
    o = c.get("overdispersed") or {}
    if o.get("n_missed"):
        why += (f"JAM's posterior reaches beyond the sampled one ({o['n_missed']} of "
                f"{o['n_points']} points at ×{o['scale']:g} the posterior's spread are in "
                f"JAM's bulk, the fit's density e^{o['max_log_excess']:.3g} too low "
                "there); ")  # fmt: skip
    for key, where in (("plane_agreement", "given (q_int, ratio) "), ("marginal_agreement", "")):
        a = c.get(key) or {}
        if a and (a["max_shift"] > c.get("max_shift", np.inf)
                  or a["max_width"] > c.get("max_width", np.inf)):  # fmt: skip
            why += (
                f"{where}the fit's {a['shift_parameter']} is off JAM's by "
                f"{a['max_shift']:.2g} sd, widths differ by up to e^{a['max_width']:.2g}; "
            )
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
