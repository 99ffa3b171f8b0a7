"""Inclination and anisotropy parameterisation shared by the generator, the emulator and fits.

Inclination is parameterised, as in jampy's examples, by ``q_int``: the intrinsic axial ratio
of the flattest MGE Gaussian (Cappellari 2008, eq. 14). Posteriors are smooth in ``q_int`` and
not in the inclination.

Anisotropy follows eq. (37) of Cappellari (2026), the family used in jampy's own examples to
mimic a cylindrically aligned velocity ellipsoid:

    β(r, θ) = 1 − ratio^(−2 cos 2θ).
"""

from __future__ import annotations

import numpy as np

from jaxjam.core.errors import ArgumentError

__all__ = [
    "Q_INT_MIN",
    "RATIO_RANGE",
    "beta_eq37",
    "check_q_int",
    "check_ratio",
    "inc_from_q_int",
    "q_int_from_inc",
    "q_int_range",
]

#: Lower limit of the intrinsic axial ratio, as in jampy's examples (jampy itself refuses
#: deprojections flatter than q = 0.05).
Q_INT_MIN = 0.051

#: Allowed range of the anisotropy ratio of eq. (37). jampy's Bayesian black-hole example lets
#: it reach 1.5 (tangential orbits near a black hole).
RATIO_RANGE = (0.5, 1.5)


def q_int_range(qobs_min: float) -> tuple[float, float]:
    """Allowed ``(low, high)`` of q_int for an MGE whose flattest Gaussian has ``q'min``.

    ``q_int`` must lie in the open interval ``(0.051, q'min)``; ``q_int → q'min`` is edge-on.
    """
    if not (np.isfinite(qobs_min) and Q_INT_MIN < qobs_min <= 1):
        raise ValueError(
            f"q'min = {qobs_min} leaves no allowed q_int: it must satisfy {Q_INT_MIN} < q'min <= 1"
        )
    return Q_INT_MIN, float(qobs_min)


def check_q_int(q_int, qobs_min: float) -> None:
    """Raise ``ValueError`` unless ``Q_INT_MIN < q_int <= q'min`` and q_int is finite."""
    lo, hi = q_int_range(qobs_min)
    q = np.asarray(q_int, float)
    if not np.all(np.isfinite(q)):
        raise ArgumentError(f"{{q_int}} must be finite, got {q_int}")
    if np.any(q <= lo) or np.any(q > hi):
        inc_lo = inc_from_q_int(np.nextafter(lo, 1.0), qobs_min)
        raise ValueError(
            f"q_int = {q_int} is outside the range allowed by this MGE, ({lo}, {hi:.4g}]: the "
            f"inclination would be below the MGE's limit of {inc_lo:.2f} deg (q'min = "
            f"{qobs_min:.4g})"
        )


def check_ratio(ratio) -> None:
    """Raise ``ValueError`` unless ``ratio`` is finite and inside :data:`RATIO_RANGE`."""
    r = np.asarray(ratio, float)
    if not np.all(np.isfinite(r)):
        raise ArgumentError(f"{{ratio}} must be finite, got {ratio}")
    lo, hi = RATIO_RANGE
    if np.any(r < lo) or np.any(r > hi):
        raise ValueError(f"anisotropy ratio = {ratio} is outside its allowed range [{lo}, {hi}]")


def inc_from_q_int(q_int, qobs_min):
    """Inclination in degrees from the intrinsic axial ratio of the flattest Gaussian.

    ``inc = degrees(arctan2(sqrt(1 − q'min²), sqrt(q'min² − q_int²)))`` (90 deg is edge-on).

    Parameters
    ----------
    q_int : float or array_like
        Intrinsic axial ratio of the flattest Gaussian, in ``(0.051, q'min]``.
    qobs_min : float or array_like
        Observed axial ratio q'min of the flattest Gaussian.

    Returns
    -------
    float or ndarray
        Inclination in degrees, broadcast shape of the inputs.
    """
    q_int = np.asarray(q_int, float)
    qobs_min = np.asarray(qobs_min, float)
    return np.degrees(np.arctan2(np.sqrt(1 - qobs_min**2), np.sqrt(qobs_min**2 - q_int**2)))


def q_int_from_inc(inc_deg, qobs_min):
    """Inverse of :func:`inc_from_q_int`: ``q_int² = (q'min² − cos² i) / sin² i``.

    Raises
    ------
    ValueError
        If the inclination is below the limit the MGE allows (``cos i > q'min``).
    """
    inc = np.radians(np.asarray(inc_deg, float))
    qobs_min = np.asarray(qobs_min, float)
    q2 = (qobs_min**2 - np.cos(inc) ** 2) / np.sin(inc) ** 2
    if np.any(~np.isfinite(q2)) or np.any(q2 <= 0):
        raise ValueError(
            f"inclination {inc_deg} deg is below the limit allowed by q'min = {qobs_min}"
        )
    return np.sqrt(q2)


def beta_eq37(ratio: float):
    """Anisotropy callable for jampy: eq. (37) of Cappellari (2026).

    Parameters
    ----------
    ratio : float
        ``σ_θ/σ_r``-like ratio; 1 is isotropic, < 1 radial, > 1 tangential.

    Returns
    -------
    callable
        ``beta_fun(r, th) -> (beta, dbeta_dtheta)``, vectorised over spherical ``r`` (pc) and
        ``th`` (radians), as jampy's ``beta`` keyword expects.
    """
    check_ratio(ratio)
    log_ratio = float(np.log(ratio))

    def beta_fun(r, th):
        power = ratio ** (-2 * np.cos(2 * th))
        return 1 - power, -4 * log_ratio * power * np.sin(2 * th)

    return beta_fun
