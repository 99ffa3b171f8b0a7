"""Observed second-moment kinematics: the contract's text format, validated.

Format (jampy's example files): whitespace columns ``x_arcsec y_arcsec vrms_kms vrms_err_kms``
with an optional fifth column ``flux`` that is ignored; ``#`` starts a comment.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = ["Kinematics", "read_bins", "read_kinematics"]


class Kinematics(NamedTuple):
    """Binned Vrms data.

    Attributes
    ----------
    x_arcsec, y_arcsec : ndarray, shape (n_bins,)
        Bin centres on the sky, arcsec.
    vrms_kms, vrms_err_kms : ndarray, shape (n_bins,)
        Observed V_rms = sqrt(V² + σ²) and its 1σ error, km/s.
    """

    x_arcsec: np.ndarray
    y_arcsec: np.ndarray
    vrms_kms: np.ndarray
    vrms_err_kms: np.ndarray

    @classmethod
    def from_arrays(cls, x_arcsec, y_arcsec, vrms_kms, vrms_err_kms) -> Kinematics:
        """Validated kinematics.

        Raises
        ------
        ValueError
            For an empty bin set, mismatched shapes, non-finite values or errors ≤ 0.
        """
        arrays = [np.asarray(a, float) for a in (x_arcsec, y_arcsec, vrms_kms, vrms_err_kms)]
        names = cls._fields
        if arrays[0].ndim != 1 or arrays[0].size == 0:
            raise ValueError(f"kinematics need a non-empty 1D bin set, got shape {arrays[0].shape}")
        for name, a in zip(names, arrays, strict=True):
            if a.shape != arrays[0].shape:
                raise ValueError(f"{name} has shape {a.shape}, expected {arrays[0].shape}")
            bad = ~np.isfinite(a)
            if bad.any():
                raise ValueError(
                    f"{name} has {bad.sum()} NaN or infinite value(s), e.g. bin {np.argmax(bad)}"
                )
        if np.any(arrays[3] <= 0):
            bad = np.nonzero(arrays[3] <= 0)[0]
            raise ValueError(
                f"vrms_err_kms must be positive; {bad.size} bin(s) are not, e.g. bin {bad[0]} "
                f"({arrays[3][bad[0]]})"
            )
        if np.any(arrays[2] <= 0):
            raise ValueError("vrms_kms must be positive")
        return cls(*arrays)


def _read_table(path, what: str, allowed: tuple[int, ...], columns: str) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="loadtxt: input contained no data")
            data = np.loadtxt(path, comments="#", ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{what} file {path} is not a table of numbers: {exc}") from exc
    if data.shape[0] == 0:
        raise ValueError(f"{what} file {path} has no bins")
    if data.shape[1] not in allowed:
        raise ValueError(f"{what} file {path} has {data.shape[1]} columns; expected {columns}")
    return data


def read_kinematics(path) -> Kinematics:
    """Read a kinematics file (see the module docstring).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        For a wrong number of columns or invalid values (:meth:`Kinematics.from_arrays`).
    """
    data = _read_table(path, "kinematics", (4, 5), "x_arcsec y_arcsec vrms_kms vrms_err_kms [flux]")
    try:
        return Kinematics.from_arrays(*data[:, :4].T)
    except ValueError as exc:
        raise ValueError(f"invalid kinematics in {path}: {exc}") from exc


def read_bins(path) -> tuple[np.ndarray, np.ndarray]:
    """Bin positions (first two columns) of a kinematics file, for ``jaxjam predict``."""
    data = _read_table(path, "bins", (2, 3, 4, 5), "x_arcsec y_arcsec [...]")
    x, y = data[:, 0], data[:, 1]
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError(f"bins file {path} has NaN or infinite coordinates")
    return x, y
