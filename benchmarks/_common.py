"""Shared helpers of the benchmark scripts: machine description, JSON output, option parsing."""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = [
    "machine_info",
    "parse_grid",
    "parse_part",
    "parse_settings",
    "single_thread_blas",
    "write_json",
]


def machine_info() -> dict:
    """:func:`jaxjam.cli.bench.machine.machine_info`, imported late: importing jaxjam imports
    numpy, which must come after :func:`single_thread_blas`."""
    from jaxjam.cli.bench.machine import machine_info as info

    return info()


def write_json(path, payload: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=float))
    print(f"wrote {path}")


def single_thread_blas() -> None:
    """One BLAS thread per process (must run before numpy is imported)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"


def parse_grid(text: str):
    """``"N_R,N_THETA,R_MIN_RE,R_MAX_RE"`` → :class:`jaxjam.core.grid.PolarGrid`."""
    from jaxjam.core.grid import PolarGrid

    n_r, n_theta, r_min, r_max = text.split(",")
    return PolarGrid(int(n_r), int(n_theta), float(r_min), float(r_max))


def parse_settings(text: str) -> dict:
    """``"NANG,NLOS"`` → ``{"nang": NANG, "nlos": NLOS}`` (jampy's label settings)."""
    nang, nlos = (int(v) for v in text.split(","))
    return {"nang": nang, "nlos": nlos}


def parse_part(text: str) -> tuple[int, int]:
    """``"K/N"`` → ``(K, N)``: this process measures every N-th case from the K-th."""
    k, n = (int(v) for v in text.split("/"))
    if not 0 <= k < n:
        raise ValueError(f"--part K/N needs 0 <= K < N, got {text!r}")
    return k, n
