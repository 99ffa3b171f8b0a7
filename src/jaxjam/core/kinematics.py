"""Observed second-moment kinematics: the contract's text format, validated.

Format (jampy's example files): whitespace columns ``x_arcsec y_arcsec vrms_kms vrms_err_kms``
with an optional fifth column ``flux`` that is ignored; ``#`` starts a comment.

Checks: values must be finite and Vrms and its errors positive (errors); bins that repeat the
(x, y) of another bin are counted twice by a likelihood, so they warn
(:class:`DuplicateBinsWarning`); and a fit takes at most :data:`MAX_BINS` bins unless told
otherwise (:func:`check_n_bins`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = [
    "MAX_BINS",
    "DuplicateBinsWarning",
    "Kinematics",
    "check_n_bins",
    "duplicate_bins",
    "read_bins",
    "read_kinematics",
]

#: The most bins a fit takes unless told otherwise (``jaxjam fit --max-bins``,
#: ``fit(..., max_bins=...)``). A fit's forward operator, per-fit table and refinement grow
#: with the bins; measured on 2 CPU cores (the M32 field and AO PSF, one stage of a fit's
#: setup, of which a fit has up to four): 1,000 bins 20 s and 0.8 GB, 5,000 bins 50 s and
#: 1.1 GB, 10,000 bins 95 s and 1.7 GB, 30,000 bins 290 s and 3.5 GB; 100,000 did not finish
#: (over 150 s and 7 GB in the table's SVD alone).
MAX_BINS = 10_000


class DuplicateBinsWarning(UserWarning):
    """Two or more bins at the same (x, y): each counts in the likelihood."""


def duplicate_bins(x_arcsec, y_arcsec) -> list[np.ndarray]:
    """Groups of bins at exactly the same (x, y), each group's indices in input order.

    Returns
    -------
    list of ndarray of int
        One array per repeated position (empty list if every position is distinct).
    """
    xy = np.column_stack([np.asarray(x_arcsec, float), np.asarray(y_arcsec, float)])
    _, inverse = np.unique(xy, axis=0, return_inverse=True)
    order = np.argsort(inverse.ravel(), kind="stable")  # input order within each position
    groups = np.split(order, np.nonzero(np.diff(inverse.ravel()[order]))[0] + 1)
    return [g for g in groups if g.size > 1]


def check_n_bins(n_bins: int, max_bins: int | None = MAX_BINS) -> None:
    """Refuse more bins than a fit takes, before any heavy work.

    Parameters
    ----------
    n_bins : int
        Number of kinematic bins.
    max_bins : int or None
        The limit (default :data:`MAX_BINS`); ``None``: no limit.

    Raises
    ------
    ValueError
        If ``n_bins > max_bins``, with the reason and what to do.
    """
    if max_bins is None or n_bins <= max_bins:
        return
    raise ValueError(
        f"{n_bins:,} kinematic bins are more than the {max_bins:,} a fit takes: its forward "
        "operator, per-fit table and refinement grow with the bins (on 2 CPU cores one stage "
        "of a fit's setup takes about 95 s and 1.7 GB at 10,000 bins and 290 s and 3.5 GB at "
        f"30,000; 100,000 did not finish). Bin the data to at most {max_bins:,} bins, e.g. "
        "Voronoi binning to a target S/N (vorbin); or raise the limit (`jaxjam fit --max-bins "
        f"{n_bins}`, fit(..., max_bins={n_bins})) to try anyway"
    )


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

        Warns
        -----
        DuplicateBinsWarning
            If bins repeat the (x, y) of another bin (:func:`duplicate_bins`).
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
        groups = duplicate_bins(arrays[0], arrays[1])
        if groups:
            g = groups[0]
            n = sum(len(k) - 1 for k in groups)
            warnings.warn(
                f"{n} kinematic bin(s) repeat the (x, y) of another bin, e.g. bins "
                f"{', '.join(str(i) for i in g[:4])} at ({arrays[0][g[0]]:g}, "
                f"{arrays[1][g[0]]:g}) arcsec: each counts in the likelihood, so these positions "
                "weigh double. Remove the duplicates, or merge each group into one bin "
                "(inverse-variance mean of Vrms), if they are one measurement",
                DuplicateBinsWarning,
                stacklevel=2,
            )
        return cls(*arrays)


def _read_table(path, what: str, allowed: tuple[int, ...] | None, columns: str) -> np.ndarray:
    """A text table; ``allowed`` column counts (``None``: any from 2)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="loadtxt: input contained no data")
            data = np.loadtxt(path, comments="#", ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{what} file {path} is not a table of numbers: {exc}") from exc
    if data.shape[0] == 0:
        raise ValueError(f"{what} file {path} has no bins")
    if (data.shape[1] < 2) if allowed is None else (data.shape[1] not in allowed):
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

    Warns
    -----
    DuplicateBinsWarning
        If bins repeat the (x, y) of another bin; the message names the file.
    """
    data = _read_table(path, "kinematics", (4, 5), "x_arcsec y_arcsec vrms_kms vrms_err_kms [flux]")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DuplicateBinsWarning)
            kin = Kinematics.from_arrays(*data[:, :4].T)
    except ValueError as exc:
        raise ValueError(f"invalid kinematics in {path}: {exc}") from exc
    for w in caught:  # the same warnings, naming the file
        warnings.warn(f"{path}: {w.message}", w.category, stacklevel=2)
    return kin


def read_bins(path) -> tuple[np.ndarray, np.ndarray]:
    """Bin positions (first two columns) of a text file of at least two columns, for ``jaxjam
    predict``; further columns are ignored."""
    data = _read_table(path, "bins", None, "at least 2, x_arcsec y_arcsec [...]")
    x, y = data[:, 0], data[:, 1]
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError(f"bins file {path} has NaN or infinite coordinates")
    return x, y
