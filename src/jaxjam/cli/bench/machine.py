"""The machine, device and versions that every benchmark figure records."""

from __future__ import annotations

import datetime
import os
import platform
import sys
from pathlib import Path

__all__ = ["cpu_model", "machine_info"]


def cpu_model() -> str:
    """CPU model name from ``/proc/cpuinfo`` (Linux) or :func:`platform.processor`."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict:
    """Date, machine, CPU model and cores, JAX backend and device, and package versions."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for pkg in ("jaxjam", "jax", "jaxlib", "flax", "optax", "blackjax", "jampy", "mgefit",
                "numpy", "scipy", "arviz", "zarr", "dask", "emcee"):  # fmt: skip
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    info = {
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "python": sys.version.split()[0],
        "versions": versions,
        "blas_threads_env": {
            k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
        },
    }
    try:
        import jax

        info["jax_backend"] = jax.default_backend()
        info["jax_devices"] = [str(d) for d in jax.devices()]
        info["device_kind"] = jax.devices()[0].device_kind
    except Exception as exc:  # a broken accelerator install is recorded, not fatal
        info["jax_backend"] = f"unavailable: {exc}"
    return info
