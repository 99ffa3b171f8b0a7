"""A survey's catalogue: one row per galaxy, read with astropy, each row checked on its own.

Columns (CSV or ECSV; paths relative to the catalogue's folder):

=================  ========  ==================================================================
column             required  meaning
=================  ========  ==================================================================
``name``           yes       galaxy name, also its output folder: letters, digits, ``._+-``
``mge``            yes       MGE text file (``surf_lsun_pc2 sigma_arcsec qobs``)
``kinematics``     yes       kinematics file (``x_arcsec y_arcsec vrms_kms vrms_err_kms``)
``distance_mpc``   yes       distance, Mpc
``sigmapsf``       no        PSF sigmas, arcsec, comma-separated (jampy's ``sigmapsf``)
``normpsf``        no        their weights, comma-separated
``pixsize``        no        pixel size, arcsec
``pa_deg``         no        position angle of the major axis from the data's +x axis, degrees
``seed``           no        the fit's seed (default: the survey's ``--seed``)
``q_int_bounds``   no        prior bounds ``LO,HI``; one ``NAME_bounds`` column per parameter
                             of the model (:class:`~jaxjam.core.model.Model`): for the
                             shipped one also ``ratio_bounds``, ``log10_mbh_bounds``,
                             ``log10_ml_bounds``
=================  ========  ==================================================================

An empty cell means "not given": the survey's own option applies (``--sigmapsf``, ``--pa``,
``--q-int-bounds``, ...). A row that cannot be read is a :class:`BadRow`, named by its row
number and name; it does not stop the others. A path to a file that does not exist stops the
survey before it starts (:class:`CatalogError`, naming every such path), as does a catalogue
in another format than CSV or ECSV, or a ``*_bounds`` column of no parameter of the model.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxjam.cli.parsing import bounds_pair, floats, psf_from_text
from jaxjam.core.model import Model

__all__ = ["FORMATS", "BadRow", "CatalogError", "Entry", "read_catalog"]

REQUIRED = ("name", "mge", "kinematics", "distance_mpc")
OPTIONAL = ("sigmapsf", "normpsf", "pixsize", "pa_deg", "seed")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
#: catalogue file name endings → astropy's table formats
FORMATS = {".csv": "ascii.csv", ".ecsv": "ascii.ecsv"}


class CatalogError(ValueError):
    """The catalogue as a whole cannot be used (missing file or columns, unreadable table)."""


class _MissingFileError(ValueError):
    """A row names a file that does not exist (collected: they stop the survey)."""


class Entry(NamedTuple):
    """One readable catalogue row.

    Attributes
    ----------
    row : int
        Row number in the catalogue (1 = the first galaxy).
    name : str
    galaxy : jaxjam.inference.Galaxy
    seed : int or None
        The row's own seed (``None``: the survey's).
    bounds : dict
        Prior bounds given by the row, ``{"q_int": (lo, hi), ...}`` (PriorBounds' fields).
    inputs_sha256 : str
        Hash of the row's values and of its two files' bytes: a finished galaxy whose inputs
        changed is fitted again.
    """

    row: int
    name: str
    galaxy: object
    seed: int | None
    bounds: dict
    inputs_sha256: str


class BadRow(NamedTuple):
    """A catalogue row that cannot be fitted, and why."""

    row: int
    name: str
    reason: str


def _cell(table, col: str, i: int):
    """The row's value of ``col`` as text, or ``None`` when the column is absent or the cell
    empty (masked)."""
    if col not in table.colnames:
        return None
    value = table[col][i]
    if np.ma.is_masked(value):
        return None
    text = str(value).strip()
    return text or None


def _defaults_psf(defaults: dict, row: dict):
    """The row's PSF; its columns replace the survey's PSF options as a whole."""
    cols = ("sigmapsf", "normpsf", "pixsize")
    if any(row[c] is not None for c in cols):
        return psf_from_text(*(row[c] for c in cols), names=cols)
    return defaults.get("psf")


def _entry(table, i: int, base: Path, defaults: dict, seen: set, model: Model) -> Entry:
    from jaxjam.core.kinematics import read_kinematics
    from jaxjam.core.mge import read_mge
    from jaxjam.inference import Galaxy

    bound_columns = tuple(p.column for p in model.parameters)
    row = {c: _cell(table, c, i) for c in REQUIRED + OPTIONAL + bound_columns}
    name = row["name"]
    if name is None:
        raise ValueError("no name")
    if not _NAME.match(name):
        raise ValueError(f"name {name!r} is not a folder name: use letters, digits and ._+-")
    if name in seen:
        raise ValueError(f"name {name!r} appears more than once in the catalogue")
    seen.add(name)
    for col in ("mge", "kinematics", "distance_mpc"):
        if row[col] is None:
            raise ValueError(f"no {col}")
    paths = {c: (base / row[c]) for c in ("mge", "kinematics")}
    absent = [f"{c} {row[c]}" for c in ("mge", "kinematics") if not paths[c].exists()]
    if absent:
        raise _MissingFileError(" and ".join(absent))
    (distance,) = floats(row["distance_mpc"], "distance_mpc")
    if not (np.isfinite(distance) and distance > 0):
        raise ValueError(f"distance_mpc must be a positive number of Mpc, got {distance}")
    pa = defaults.get("pa_deg", 0.0)
    if row["pa_deg"] is not None:
        (pa,) = floats(row["pa_deg"], "pa_deg")
        if not np.isfinite(pa):
            raise ValueError(f"pa_deg must be a finite number, got {pa}")
    seed = None
    if row["seed"] is not None:
        try:
            seed = int(row["seed"])
        except ValueError:
            raise ValueError(f"seed must be an integer, got {row['seed']!r}") from None
    bounds = {}
    for col in bound_columns:
        if row[col] is not None:
            bounds[col.removesuffix("_bounds")] = bounds_pair(row[col], col)
    galaxy = Galaxy(read_mge(paths["mge"]), read_kinematics(paths["kinematics"]), distance,
                    _defaults_psf(defaults, row), pa)  # fmt: skip
    digest = hashlib.sha256(json.dumps(row, sort_keys=True).encode())
    for c in ("mge", "kinematics"):
        digest.update(paths[c].read_bytes())
    return Entry(i + 1, name, galaxy, seed, bounds, digest.hexdigest())


def read_catalog(path, defaults: dict | None = None,
                 model: Model | None = None) -> tuple[list[Entry], list[BadRow]]:  # fmt: skip
    """Read a survey catalogue (see the module docstring for its columns).

    Parameters
    ----------
    path : str or Path
        CSV or ECSV table, named ``*.csv`` or ``*.ecsv`` (:data:`FORMATS`).
    defaults : dict, optional
        ``psf`` (a :class:`~jaxjam.core.psf.PSF`) and ``pa_deg`` for rows that give none.
    model : Model, optional
        The fitted model, whose parameters name the ``NAME_bounds`` columns (default: the
        shipped model's, :class:`~jaxjam.core.model.Model`).

    Returns
    -------
    entries : list of Entry
        The rows that can be fitted, in catalogue order.
    bad : list of BadRow
        The others, with the reason.

    Raises
    ------
    CatalogError
        For a missing or unreadable file, a name that does not end in ``.csv`` or ``.ecsv``, a
        missing required column, a ``*_bounds`` column of no parameter of ``model``, an empty
        table, or rows that name files that do not exist (all of them are listed).
    """
    from astropy.table import Table

    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"catalogue not found: {path}")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise CatalogError(
            f"catalogue {path}: {path.suffix or 'a name without an ending'} is not a catalogue "
            "format jaxjam reads; it reads CSV (.csv) and ECSV (.ecsv) tables: write the "
            "catalogue as one of those (or rename it, if it is one)"
        )
    try:
        table = Table.read(path, format=fmt)
    except Exception as exc:  # astropy raises many types for a malformed table
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        kind = fmt.removeprefix("ascii.").upper()
        raise CatalogError(f"cannot read the catalogue {path} as {kind}: {first}") from exc
    missing = [c for c in REQUIRED if c not in table.colnames]
    if missing:
        raise CatalogError(f"catalogue {path} lacks the column(s) {missing}; it has "
                           f"{table.colnames} (required: {list(REQUIRED)})")  # fmt: skip
    model = model or Model()
    known = {p.column for p in model.parameters}
    stray = [c for c in table.colnames if c.endswith("_bounds") and c not in known]
    if stray:
        raise CatalogError(f"catalogue {path}: the column(s) {stray} bound no parameter of the "
                           f"model; its bounds columns are {sorted(known)}")  # fmt: skip
    if len(table) == 0:
        raise CatalogError(f"catalogue {path} has no rows")
    entries, bad, seen, absent = [], [], set(), []
    for i in range(len(table)):
        name = _cell(table, "name", i) or f"row{i + 1}"
        try:
            entries.append(_entry(table, i, path.parent, defaults or {}, seen, model))
        except _MissingFileError as exc:
            absent.append(f"row {i + 1} ({name}): {exc}")
        except (ValueError, FileNotFoundError, OSError) as exc:
            bad.append(BadRow(i + 1, name, str(exc)))
    if absent:
        shown = "; ".join(absent[:10]) + (f"; and {len(absent) - 10} more" if len(absent) > 10
                                          else "")  # fmt: skip
        raise CatalogError(
            f"catalogue {path} names {len(absent)} file(s) that do not exist (paths are "
            f"relative to {path.parent.resolve()}): {shown}. Correct those paths, or remove "
            "those rows"
        )
    return entries, bad
