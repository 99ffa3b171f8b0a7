"""Physical constants and unit conversions, in jampy's conventions."""

#: Gravitational constant in (km/s)^2 pc / Msun. This is the value hard-coded in jampy 9.0.2
#: (``jampy.axi.jam_axi_intr.G``); using the same number keeps the analytic rescalings of
#: jaxjam identical to jampy's to machine precision.
G_PC_KMS2_PER_MSUN = 0.004301

#: Parsec per arcsec at a distance of 1 Mpc (jampy uses ``distance*np.pi/0.648``).
PC_PER_ARCSEC_PER_MPC = 3.141592653589793 / 0.648


def pc_per_arcsec(distance_mpc):
    """Parsec per arcsec at a distance.

    Parameters
    ----------
    distance_mpc : float or array_like
        Distance in Mpc.

    Returns
    -------
    float or ndarray
        pc per arcsec, same shape as ``distance_mpc``.
    """
    return distance_mpc * PC_PER_ARCSEC_PER_MPC
