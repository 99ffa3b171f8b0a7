"""Multi-Gaussian Expansion (MGE) of a galaxy's surface brightness.

The MGE is jampy's description of a galaxy's photometry (Emsellem et al. 1994; Cappellari
2002): a sum of concentric, aligned 2D Gaussians

    Σ(x', y') = Σ_k surf_k exp(-(x'^2 + y'^2/q'_k^2) / (2 σ_k^2)),

with x' along the projected major axis.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from jaxjam.core.constants import pc_per_arcsec

__all__ = ["MGE", "read_mge", "write_mge"]


def _as_1d_float(name, value):
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        arr = arr[None]
    if arr.ndim != 1:
        raise ValueError(f"MGE field `{name}` must be one-dimensional, got shape {arr.shape}")
    return arr


@dataclasses.dataclass(frozen=True, eq=False)
class MGE:
    """An axisymmetric MGE, validated on construction.

    Parameters
    ----------
    surf_lsun_pc2 : array_like, shape (n_gauss,)
        Peak surface brightness of each Gaussian in Lsun/pc^2 (any positive unit works for the
        scale-free quantities, e.g. counts/pixel^2 from mgefit).
    sigma_arcsec : array_like, shape (n_gauss,)
        Dispersion of each Gaussian along the projected major axis, in arcsec.
    qobs : array_like, shape (n_gauss,)
        Observed (projected) axial ratio of each Gaussian, 0 < q' <= 1.

    Raises
    ------
    ValueError
        Naming the offending field when a value is not finite, not positive, q' is outside
        (0, 1], or the three arrays differ in length.
    """

    surf_lsun_pc2: np.ndarray
    sigma_arcsec: np.ndarray
    qobs: np.ndarray

    def __post_init__(self):
        fields = {}
        for name in ("surf_lsun_pc2", "sigma_arcsec", "qobs"):
            arr = _as_1d_float(name, getattr(self, name))
            if arr.size == 0:
                raise ValueError(f"MGE field `{name}` is empty: an MGE needs at least one Gaussian")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"MGE field `{name}` contains NaN or infinite values: {arr}")
            if not np.all(arr > 0):
                raise ValueError(f"MGE field `{name}` must be strictly positive, got {arr}")
            fields[name] = arr
        sizes = {k: v.size for k, v in fields.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"MGE fields have different lengths: {sizes}")
        if np.any(fields["qobs"] > 1):
            raise ValueError(f"MGE field `qobs` must satisfy 0 < q' <= 1, got {fields['qobs']}")
        for k, v in fields.items():
            v.setflags(write=False)
            object.__setattr__(self, k, v)

    # ------------------------------------------------------------------ basic properties
    @property
    def n_gauss(self) -> int:
        """Number of Gaussians."""
        return self.surf_lsun_pc2.size

    @property
    def qobs_min(self) -> float:
        """Axial ratio q'min of the flattest Gaussian, which sets the inclination limit."""
        return float(self.qobs.min())

    def luminosity_lsun(self, distance_mpc: float) -> float:
        """Total luminosity in Lsun, ``Σ_k 2π surf_k (σ_k pc)^2 q'_k``.

        Parameters
        ----------
        distance_mpc : float
            Distance in Mpc.
        """
        sigma_pc = self.sigma_arcsec * pc_per_arcsec(distance_mpc)
        return float(np.sum(2 * np.pi * self.surf_lsun_pc2 * sigma_pc**2 * self.qobs))

    def luminosity_arcsec2(self) -> float:
        """Total luminosity in units of surf × arcsec^2 (distance independent)."""
        return float(np.sum(2 * np.pi * self.surf_lsun_pc2 * self.sigma_arcsec**2 * self.qobs))

    def effective_radius_arcsec(self) -> float:
        """Circularised projected half-light radius R_e in arcsec.

        Computed by jampy's ``mge.half_light_radius`` (Cappellari et al. 2013, MNRAS 432,
        1709, after eq. 11): each Gaussian is circularised conserving its light and R_e is the
        radius enclosing half of the analytic total. Unlike ``half_light_isophote``, which
        counts pixels, this is a smooth function of the MGE, so the scale-free units of jaxjam
        vary smoothly with the photometry.
        """
        from jampy.mge import half_light_radius

        reff = half_light_radius(self.surf_lsun_pc2, self.sigma_arcsec, self.qobs)[0]
        return float(reff)

    def surface_brightness(self, x_arcsec, y_arcsec):
        """Surface brightness at sky positions, in the units of ``surf_lsun_pc2``.

        Parameters
        ----------
        x_arcsec, y_arcsec : array_like
            Coordinates along the projected major and minor axes, any broadcastable shape.

        Returns
        -------
        ndarray
            Σ(x, y), with the broadcast shape of the inputs.
        """
        x = np.asarray(x_arcsec, float)[..., None]
        y = np.asarray(y_arcsec, float)[..., None]
        arg = (x**2 + (y / self.qobs) ** 2) / (2 * self.sigma_arcsec**2)
        return np.sum(self.surf_lsun_pc2 * np.exp(-arg), axis=-1)

    # ------------------------------------------------------------------ transformations
    def normalized(self) -> tuple[MGE, float, float]:
        """The scale-free version of this MGE: R_e = 1 and total luminosity 1.

        Returns
        -------
        mge_norm : MGE
            Same shape, with ``sigma`` in units of R_e and ``surf`` in units of L_tot/R_e^2.
        re_arcsec : float
            R_e of the input, arcsec.
        lum_arcsec2 : float
            Total luminosity of the input in units of surf × arcsec^2.
        """
        re = self.effective_radius_arcsec()
        lum = self.luminosity_arcsec2()
        return (
            MGE(self.surf_lsun_pc2 * re**2 / lum, self.sigma_arcsec / re, self.qobs),
            re,
            lum,
        )

    def padded_outer(self, surf_factor: float = 1e-4, sigma_factor: float = 3.0) -> MGE:
        """Append a negligible outer Gaussian (guards jampy 9.0.2's near-round MGE error).

        jampy's spectral Jeans solver is inaccurate for near-round MGEs (q' ≳ 0.95) at the
        default ``nang=15`` unless the MGE extends well beyond the data; the new Gaussian has
        ``surf = surf_factor × surf[argmax σ]``, ``σ = sigma_factor × max σ`` and the q' of the
        outermost Gaussian, so q'min (and the inclination limit) are unchanged.
        """
        k = int(np.argmax(self.sigma_arcsec))
        return MGE(
            np.append(self.surf_lsun_pc2, surf_factor * self.surf_lsun_pc2[k]),
            np.append(self.sigma_arcsec, sigma_factor * self.sigma_arcsec[k]),
            np.append(self.qobs, self.qobs[k]),
        )

    def to_padded_arrays(self, n_max: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Fixed-length arrays for storage: (surf, sigma, qobs, mask), each shape (n_max,).

        Unused slots hold zeros (surf, sigma) or ones (qobs) and ``mask=False``.
        """
        if self.n_gauss > n_max:
            raise ValueError(f"MGE has {self.n_gauss} Gaussians, more than n_max={n_max}")
        surf, sigma, q = np.zeros(n_max), np.zeros(n_max), np.ones(n_max)
        mask = np.zeros(n_max, bool)
        surf[: self.n_gauss] = self.surf_lsun_pc2
        sigma[: self.n_gauss] = self.sigma_arcsec
        q[: self.n_gauss] = self.qobs
        mask[: self.n_gauss] = True
        return surf, sigma, q, mask

    @classmethod
    def from_padded_arrays(cls, surf, sigma, qobs, mask) -> MGE:
        """Inverse of :meth:`to_padded_arrays`."""
        mask = np.asarray(mask, bool)
        return cls(np.asarray(surf)[mask], np.asarray(sigma)[mask], np.asarray(qobs)[mask])

    def __repr__(self):
        return (
            f"MGE(n_gauss={self.n_gauss}, sigma_arcsec=[{self.sigma_arcsec.min():.3g}.."
            f"{self.sigma_arcsec.max():.3g}], qobs_min={self.qobs_min:.3f})"
        )


def read_mge(path) -> MGE:
    """Read an MGE text file: whitespace columns ``surf_lsun_pc2 sigma_arcsec qobs``.

    Lines starting with ``#`` are comments (jampy's convention).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file does not have exactly three numeric columns, or the MGE is invalid.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MGE file not found: {path}")
    try:
        data = np.loadtxt(path, comments="#", ndmin=2)
    except ValueError as exc:
        raise ValueError(f"MGE file {path} is not a table of numbers: {exc}") from exc
    if data.shape[0] == 0:
        raise ValueError(f"MGE file {path} has no rows")
    if data.shape[1] != 3:
        raise ValueError(
            f"MGE file {path} must have 3 columns (surf_lsun_pc2 sigma_arcsec qobs), "
            f"found {data.shape[1]}"
        )
    try:
        return MGE(*data.T)
    except ValueError as exc:
        raise ValueError(f"invalid MGE in {path}: {exc}") from exc


def write_mge(path, mge: MGE, comment: str | None = None) -> None:
    """Write an MGE text file readable by :func:`read_mge` and by ``np.loadtxt``.

    Values are written with 17 significant digits, so a round trip is exact.
    """
    header = "surf_lsun_pc2 sigma_arcsec qobs"
    if comment:
        header = comment.rstrip("\n") + "\n" + header
    data = np.column_stack([mge.surf_lsun_pc2, mge.sigma_arcsec, mge.qobs])
    np.savetxt(path, data, fmt="%.17g", header=header)
