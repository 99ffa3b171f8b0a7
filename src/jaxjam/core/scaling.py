"""The exact, analytic part of the model: units, M/L and black-hole mass.

For a fixed tracer, inclination and anisotropy the Jeans equations are linear in the potential,
so the unconvolved second moment is

    V²(x, y) = (G L_tot / R_e) · [Υ · A(x/R_e, y/R_e) + (M_BH / L_tot) · B(x/R_e, y/R_e)],

where A (per unit M/L of the stellar potential) and B (per unit black-hole mass, in units of
L_tot) are dimensionless maps. Only A and B are learned; everything here is exact. The
functions use only arithmetic operators, so they work on NumPy and JAX arrays alike.
"""

from __future__ import annotations

import numpy as np

from jaxjam.core.constants import G_PC_KMS2_PER_MSUN, pc_per_arcsec

__all__ = ["v2_unit_kms2", "vrms2_from_components"]


def v2_unit_kms2(lum_lsun, re_arcsec, distance_mpc):
    """The unit of the A and B maps, ``G L_tot / R_e``, in (km/s)².

    Parameters
    ----------
    lum_lsun : float
        Total luminosity of the MGE, Lsun.
    re_arcsec : float
        Effective radius, arcsec.
    distance_mpc : float
        Distance, Mpc.
    """
    return G_PC_KMS2_PER_MSUN * lum_lsun / (re_arcsec * pc_per_arcsec(distance_mpc))


def vrms2_from_components(maps, scalings, lum_lsun, re_arcsec, distance_mpc):
    """Physical V_rms² in (km/s)² from the dimensionless component maps.

    Parameters
    ----------
    maps : array_like, shape (n_components, ...)
        Dimensionless second-moment maps, one per component (:mod:`jaxjam.core.components`: A, B).
    scalings : array_like, shape (n_components,)
        The components' mass scalings (:func:`jaxjam.core.components.scalings`: Υ in Msun/Lsun,
        M_BH/L_tot in Msun/Lsun).
    lum_lsun, re_arcsec, distance_mpc : float
        Total luminosity (Lsun), effective radius (arcsec) and distance (Mpc) of the galaxy.

    Returns
    -------
    array
        V_rms² in (km/s)², shape ``maps.shape[1:]``.
    """
    unit = v2_unit_kms2(lum_lsun, re_arcsec, distance_mpc)
    maps = np.asarray(maps)
    return unit * np.tensordot(np.asarray(scalings, float), maps, axes=1)
