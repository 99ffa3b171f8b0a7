"""MGEs of real galaxies, never used in training: M32 and mgefit's HST images.

- M32: Table B1 of Cappellari et al. (2006), shipped as ``jaxjam/data/m32_mge.txt``.
- NGC 4342 (HST/WFPC2 F814W) and NGC 5831 (HST F702W mosaic): fitted here with mgefit's
  ``sectors_photometry`` and ``fit_sectors`` (axisymmetric MGE), following the procedure and
  the numbers (sky, PSF, pixel scale, centre) of mgefit's own ``mge_fit_example.py``. For
  NGC 5831 the axisymmetric fit replaces the example's twisted one, since JAM needs an
  axisymmetric MGE.

Surface brightnesses are in the images' counts per arcsec² (only shapes matter for the
scale-free emulator).
"""

from __future__ import annotations

import contextlib
import functools
import io
from importlib import resources

import numpy as np

from jaxjam.core.mge import MGE, read_mge

__all__ = ["m32_mge", "ngc4342_mge", "ngc5831_mge", "real_galaxy_mges"]


def m32_mge() -> MGE:
    """MGE of M32 (Cappellari et al. 2006, Table B1), Lsun/pc² and arcsec."""
    return read_mge(resources.files("jaxjam") / "data" / "m32_mge.txt")


def _counts_to_mge(sol, scale_arcsec):
    counts, sigma_pix, q = sol
    surf_pix = counts / (2 * np.pi * sigma_pix**2 * q)  # peak counts per pixel
    return MGE(surf_pix / scale_arcsec**2, sigma_pix * scale_arcsec, q)


@functools.cache
def ngc4342_mge() -> MGE:
    """Axisymmetric MGE of NGC 4342 fitted by mgefit to its shipped HST/WFPC2 image."""
    import mgefit as mge
    from astropy.io import fits

    img = fits.getdata(resources.files("mgefit") / "images/ngc4342_f814w_pc.fits").astype(float)
    img -= 0.55  # sky, counts/pixel (mgefit example)
    scale = 0.0455  # arcsec/pixel
    with contextlib.redirect_stdout(io.StringIO()):
        f = mge.find_galaxy(img, fraction=0.04, plot=False, quiet=True)
        s = mge.sectors_photometry(img, f.eps, f.theta, f.xpeak, f.ypeak, minlevel=0.5, plot=False)
        m = mge.fit_sectors(
            s.radius, s.angle, s.counts, f.eps, ngauss=12, scale=scale, plot=False,
            sigmapsf=[0.494, 1.44, 4.71, 13.4], normpsf=[0.294, 0.559, 0.0813, 0.0657],
            bulge_disk=False, linear=False, quiet=True,
        )  # fmt: skip
    return _counts_to_mge(m.sol, scale)


@functools.cache
def ngc5831_mge() -> MGE:
    """Axisymmetric MGE of NGC 5831 fitted by mgefit to its shipped HST mosaic."""
    import mgefit as mge
    from astropy.io import fits

    img = fits.getdata(resources.files("mgefit") / "images/ngc5831_f702w_mosaic.fits")
    img = img.astype(float)
    scale = 0.100  # arcsec/pixel
    eps, ang, xc, yc = 0.28, 141.0, 974, 969  # mgefit example
    mask = img > 0
    yy, xx = np.indices(img.shape)
    mask &= np.hypot(xx - 1408.1, yy - 357.7) > 200  # companion, as in the example
    with contextlib.redirect_stdout(io.StringIO()):
        sky, skysig = mge.sky_level(img[mask], plot=False, quiet=True)
        img -= sky
        s = mge.sectors_photometry(
            img, eps, ang, xc, yc, minlevel=skysig / 2, plot=False, mask=mask
        )
        m = mge.fit_sectors(
            s.radius, s.angle, s.counts, eps, ngauss=11, sigmapsf=0.4, scale=scale,
            plot=False, quiet=True,
        )  # fmt: skip
    return _counts_to_mge(m.sol, scale)


def real_galaxy_mges() -> dict[str, MGE]:
    """``{"M32": ..., "NGC4342": ..., "NGC5831": ...}``."""
    return {"M32": m32_mge(), "NGC4342": ngc4342_mge(), "NGC5831": ngc5831_mge()}
