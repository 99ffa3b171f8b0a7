"""The 64×64 photometry image that the CNN sees. Training and fitting both render it here.

A Cartesian image over ±3 R_e has pixels of ~0.1 R_e and cannot see the nucleus, so the image
samples the log surface brightness of the MGE on a (log r, θ) frame instead: rows are
log-spaced radii from 1e-3 to 10 R_e (pixel centres), columns are angles from the major axis
(0 deg) to the minor axis (90 deg). Values are ``log10 Σ`` with Σ in units of L_tot/R_e², so
the image is independent of distance, luminosity and angular size. Values are floored at
``LOG_SURF_FLOOR`` = −10, far below any measured photometry, so that the Gaussian truncation
of an MGE at large radii cannot produce arbitrarily negative pixels.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxjam.core.mge import MGE

__all__ = ["LOG_SURF_FLOOR", "ImageSpec", "render_photometry"]

LOG_SURF_FLOOR = -10.0


@dataclasses.dataclass(frozen=True)
class ImageSpec:
    """Geometry of the photometry image.

    Parameters
    ----------
    n_r, n_theta : int
        Image shape (radii × angles).
    r_min_re, r_max_re : float
        Radial extent in R_e (edges of the first and last pixel).
    """

    n_r: int = 64
    n_theta: int = 64
    r_min_re: float = 1e-3
    r_max_re: float = 10.0

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_r, self.n_theta)

    def pixel_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Radii (R_e) and angles (rad) of the pixel centres, shapes (n_r,) and (n_theta,)."""
        edges = np.linspace(np.log(self.r_min_re), np.log(self.r_max_re), self.n_r + 1)
        r = np.exp(0.5 * (edges[1:] + edges[:-1]))
        th = (np.arange(self.n_theta) + 0.5) * (np.pi / 2) / self.n_theta
        return r, th

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def render_photometry(mge: MGE, spec: ImageSpec = ImageSpec(), normalize: bool = True):
    """Render the CNN's photometry image of an MGE.

    Parameters
    ----------
    mge : MGE
        The galaxy's MGE in any units.
    spec : ImageSpec
        Image geometry.
    normalize : bool
        If True (default) the MGE is first rescaled to R_e = 1 and L_tot = 1. Pass False only
        for an MGE that is already normalised (``MGE.normalized()[0]``), to skip that work.

    Returns
    -------
    ndarray, shape (spec.n_r, spec.n_theta), float32
        ``log10 Σ`` in units of L_tot/R_e², rows = radius, columns = angle.
    """
    if normalize:
        mge = mge.normalized()[0]
    r, th = spec.pixel_centres()
    x = r[:, None] * np.cos(th)[None, :]
    y = r[:, None] * np.sin(th)[None, :]
    surf = mge.surface_brightness(x, y)
    return np.log10(np.maximum(surf, 10.0**LOG_SURF_FLOOR)).astype(np.float32)
