"""One galaxy of a survey, as a dask task: fit it, write its folder atomically, return its row.

The task runs on any worker (it reads nothing but its arguments and the model; it writes only
inside the survey's folder). Its jampy calls go to the same cluster
(:class:`jaxjam.inference.pool.JampyPool` gives up the worker's thread while it waits).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import time
import traceback
import uuid
from pathlib import Path

import numpy as np

__all__ = ["ROW_FILE", "fit_entry", "galaxy_row", "read_row"]

#: the last file written into a galaxy's folder before it is renamed into place
ROW_FILE = "row.json"


@functools.lru_cache(maxsize=4)
def _emulator(model_dir):
    """One emulator per worker process and model (its compiled programs live with it)."""
    from jaxjam.emulator.emulator import Emulator

    return Emulator.load(model_dir)


def _compilation_cache(path: str | None) -> None:
    """Share compiled XLA programs between the workers (and with later surveys)."""
    if path:
        import jax

        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def galaxy_row(result, entry, seed: int) -> dict:
    """A galaxy's row of ``survey.csv`` from its :class:`~jaxjam.inference.FitResult`.

    Per parameter ``P``: ``P_median``, ``P_p16``, ``P_p84`` (posterior percentiles), ``P_r_hat``,
    ``P_ess_bulk``, and ``P_jam_mean``, ``P_jam_sd`` (the posterior reweighted to converged
    jampy by the certificate; NaN without one). Then the certificate's ``k_hat`` and
    ``cert_rounds``, the number of divergences and the fit's wall time ``wall_s``.
    """
    from jaxjam.inference.diagnostics import parameter_names

    dt, s = result.datatree, result.summary
    status = "certified" if result.certified else "not certified"  # cert_rounds 0: not tried
    row = {"name": entry.name, "status": status, "seed": int(seed),
           "n_bins": int(entry.galaxy.kinematics.vrms_kms.size)}  # fmt: skip
    for p in parameter_names(dt):
        draws = np.asarray(dt["posterior"][p].values, np.float64).ravel()
        lo, med, hi = np.percentile(draws, [16, 50, 84])
        row.update({f"{p}_median": float(med), f"{p}_p16": float(lo), f"{p}_p84": float(hi),
                    f"{p}_r_hat": float(s.loc[p, "r_hat"]),
                    f"{p}_ess_bulk": float(s.loc[p, "ess_bulk"]),
                    f"{p}_jam_mean": float(s.loc[p, "jam_mean"]),
                    f"{p}_jam_sd": float(s.loc[p, "jam_sd"])})  # fmt: skip
    cert = result.certificate or {}
    row["k_hat"] = float(cert.get("k_hat", float("nan")))
    row["cert_rounds"] = int(cert.get("rounds", 0))
    row["divergences"] = int(np.asarray(dt["sample_stats"]["diverging"].values).sum())
    return row


def read_row(folder: Path) -> dict | None:
    """The record of a finished galaxy's folder, or ``None`` if there is none readable."""
    try:
        return json.loads((folder / ROW_FILE).read_text())
    except (OSError, ValueError):
        return None


def _place(tmp: Path, final: Path, inputs_sha256: str) -> bool:
    """Rename the complete ``tmp`` folder to ``final``; False when a finished folder of the
    same inputs is already there (a duplicate task: the copy is dropped)."""
    if final.exists():
        old = read_row(final)
        if old is not None and old.get("inputs_sha256") == inputs_sha256:
            shutil.rmtree(tmp, ignore_errors=True)
            return False
        # stale (other inputs): move it aside, then replace; a kill in between leaves the
        # galaxy absent, hence fitted again by the next run
        aside = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(final, aside)
        os.rename(tmp, final)
        shutil.rmtree(aside, ignore_errors=True)
        return True
    os.rename(tmp, final)
    return True


def fit_entry(entry, config, model_dir, out_dir: str, cache_dir: str | None,
              plots: bool = True) -> dict:  # fmt: skip
    """Fit one catalogue entry and write ``out_dir/NAME/`` (complete or absent).

    Parameters
    ----------
    entry : jaxjam.cli.survey.catalog.Entry
    config : jaxjam.inference.FitConfig
        The survey's settings, with this galaxy's seed and bounds already in it.
    model_dir : str or None
        The emulator (``None``: the shipped model).
    out_dir : str
        The survey's folder.
    cache_dir : str or None
        JAX's persistent compilation cache, shared by the workers.
    plots : bool
        Write ``corner.png``, ``trace.png`` and ``maps.png`` too.

    Returns
    -------
    dict
        The galaxy's row (:func:`galaxy_row`) plus ``inputs_sha256``, ``run_id`` and
        ``wall_s``; or, when the fit raised, ``status`` ``"failed: ..."`` and the traceback.
    """
    from jaxjam.inference import fit
    from jaxjam.inference.report import save_fit

    _compilation_cache(cache_dir)
    t0 = time.perf_counter()
    out = Path(out_dir)
    tmp = out / f".{entry.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        client = None
        try:
            from distributed import get_client

            client = get_client()
        except (ImportError, ValueError):  # not on a dask worker: jampy runs in this process
            pass
        if client is None:
            import dataclasses

            config = dataclasses.replace(
                config, certify=dataclasses.replace(config.certify, workers=0)
            )
        result = fit(entry.galaxy, config, _emulator(model_dir), progress=False, warn=False,
                     client=client)  # fmt: skip
        row = galaxy_row(result, entry, config.seed)
        row.update(inputs_sha256=entry.inputs_sha256, run_id=uuid.uuid4().hex,
                   wall_s=time.perf_counter() - t0)  # fmt: skip
        save_fit(result, tmp, plots=plots)
        (tmp / ROW_FILE).write_text(json.dumps(row, indent=1))
        _place(tmp, out / entry.name, entry.inputs_sha256)
        return row
    except Exception as exc:  # one galaxy's failure must not stop the survey
        shutil.rmtree(tmp, ignore_errors=True)
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        return {"name": entry.name, "status": f"failed: {reason}",
                "seed": int(config.seed), "n_bins": int(entry.galaxy.kinematics.vrms_kms.size),
                "inputs_sha256": entry.inputs_sha256, "wall_s": time.perf_counter() - t0,
                "traceback": traceback.format_exc()}  # fmt: skip
