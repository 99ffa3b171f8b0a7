"""Shared helpers of the benchmark scripts: machine description and JSON output."""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict:
    """Machine, device and versions, recorded in every benchmark's JSON."""
    import dask
    import jampy
    import mgefit
    import numpy
    import scipy
    import zarr

    import jaxjam

    info = {
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "versions": {
            "jaxjam": jaxjam.__version__,
            "jampy": jampy.__version__,
            "mgefit": mgefit.__version__,
            "numpy": numpy.__version__,
            "scipy": scipy.__version__,
            "zarr": zarr.__version__,
            "dask": dask.__version__,
        },
        "blas_threads_env": {
            k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
        },
    }
    try:
        import jax

        info["jax_backend"] = jax.default_backend()
        info["jax_devices"] = [str(d) for d in jax.devices()]
        info["versions"]["jax"] = jax.__version__
    except Exception as exc:
        info["jax_backend"] = f"unavailable: {exc}"
    return info


def write_json(path, payload: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=float))
    print(f"wrote {path}")


def single_thread_blas() -> None:
    """One BLAS thread per process (must run before numpy is imported)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
