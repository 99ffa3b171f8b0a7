"""Run a survey: every catalogue galaxy fitted on dask.distributed, resumable, one table.

``OUT/survey.json`` records what the results depend on: the fit settings, the model, the
default PSF and position angle, and the catalogue (its path and bytes). A rerun with other
settings, or with another catalogue, is refused. ``OUT/NAME/`` holds each galaxy's fit
(``posterior.nc``, ``summary.csv``, plots, ``row.json``), renamed into place once complete;
``OUT/survey.csv`` has one row per catalogue row, rewritten (atomically) after every galaxy.
Rerunning the same command fits only the galaxies without a finished folder (or whose inputs
changed); failed galaxies are tried again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

from jaxjam.cli.survey.catalog import read_catalog
from jaxjam.cli.survey.task import ROW_FILE, fit_entry, read_row
from jaxjam.core.model import Model

__all__ = ["FAILED", "MANIFEST", "TABLE", "SurveyMismatchError", "entry_config", "finished",
           "run_survey", "survey_columns"]  # fmt: skip

MANIFEST = "survey.json"
#: folder of the failed galaxies' tracebacks (``_failed/NAME.txt``; galaxy names start with a
#: letter or digit)
FAILED = "_failed"
TABLE = "survey.csv"
_FIXED = ("row", "name", "status", "seed", "n_bins")
_TAIL = ("k_hat", "cert_rounds", "divergences", "wall_s")
_INTEGERS = ("row", "seed", "n_bins", "cert_rounds", "divergences")


class SurveyMismatchError(ValueError):
    """``OUT`` holds a survey made with other settings or another model."""


def survey_columns(parameter_names) -> list[str]:
    """The columns of ``survey.csv``, in order."""
    per = ("median", "p16", "p84", "r_hat", "ess_bulk", "jam_mean", "jam_sd")
    return [*_FIXED, *(f"{p}_{s}" for p in parameter_names for s in per), *_TAIL]


def entry_config(config, entry):
    """The survey's :class:`~jaxjam.inference.FitConfig` with the row's seed and bounds."""
    seed = config.seed if entry.seed is None else entry.seed
    bounds = config.bounds.updated(entry.bounds)
    return dataclasses.replace(config, seed=seed, bounds=bounds)


def _defaults(defaults: dict | None) -> dict:
    """The survey-wide defaults of the rows (the PSF and position angle options), by flag."""
    defaults = defaults or {}
    psf = defaults.get("psf")
    return {"sigmapsf": None if psf is None else list(psf.sigma_arcsec),
            "normpsf": None if psf is None else list(psf.weights),
            "pixsize": None if psf is None else float(psf.pixsize_arcsec),
            "pa": float(defaults.get("pa_deg", 0.0))}  # fmt: skip


def _catalog_identity(catalog) -> dict:
    """The catalogue a survey belongs to: its absolute path and the SHA-256 of its bytes."""
    path = Path(catalog).resolve()
    return {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _manifest(config, emulator, defaults=None, catalog=None) -> dict:
    """What a survey's results depend on (checked on a rerun), and the version that made it."""
    import jaxjam

    fit_config = json.loads(json.dumps(config.to_dict()))
    return {"fit_config": fit_config,
            "model_weights_sha256": emulator.metadata.get("weights_sha256"),
            "defaults": _defaults(defaults),
            "catalog": None if catalog is None else _catalog_identity(catalog),
            "jaxjam_version": jaxjam.__version__}  # fmt: skip


def _write_manifest(out: Path, manifest: dict) -> None:
    tmp = out / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, out / MANIFEST)


def _check_manifest(out: Path, old: dict, manifest: dict) -> None:
    """Refuse to resume the survey ``old`` with settings or a catalogue other than its own.

    Raises
    ------
    SurveyMismatchError
        When the fit settings, the model, the default PSF or position angle (``--sigmapsf``,
        ``--normpsf``, ``--pixsize``, ``--pa``) or the catalogue differ.
    """
    missing = [k for k in ("defaults", "catalog") if k not in old]
    if missing:
        raise SurveyMismatchError(
            f"{out} holds a survey made by jaxjam {old.get('jaxjam_version', '?')}, which did not "
            "record its PSF and position angle options nor its catalogue: a rerun cannot check "
            "that they are the same, and would mix fits made with others into its table; "
            "choose another --out"
        )
    keys = []
    a, b = old.get("fit_config") or {}, manifest["fit_config"]
    keys += [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    if old.get("model_weights_sha256") != manifest["model_weights_sha256"]:
        keys.append("model_weights_sha256")
    a, b = old["defaults"] or {}, manifest["defaults"]
    keys += [f"--{k}" for k in b if a.get(k) != b[k]]
    if keys:
        raise SurveyMismatchError(
            f"{out} holds a survey made with other settings (they differ in {keys}): "
            "rerun it with its own options, or choose another --out"
        )
    was, now = old["catalog"], manifest["catalog"]
    if was is None or now is None or was == now:
        return
    if was.get("path") != now["path"] and was.get("sha256") != now["sha256"]:
        raise SurveyMismatchError(
            f"{out} holds the survey of another catalogue ({was.get('path')}); {now['path']} "
            f"would replace its {TABLE}: rerun it with --catalog {was.get('path')} (edited or "
            "not), or choose another --out for this catalogue"
        )
    _write_manifest(out, {**old, "catalog": now})  # the same catalogue, edited or moved


def _prepare(out: Path, manifest: dict) -> None:
    """Create ``out`` with its manifest, or check the one there; drop unfinished folders."""
    path = out / MANIFEST
    if path.exists():
        _check_manifest(out, json.loads(path.read_text()), manifest)
    else:
        if out.is_dir() and any(out.iterdir()):
            raise SurveyMismatchError(f"{out} is not empty and holds no survey ({MANIFEST}): "
                                      "choose another --out")  # fmt: skip
        out.mkdir(parents=True, exist_ok=True)
        _write_manifest(out, manifest)
    for stale in out.glob(".*.tmp-*"):  # a killed run's unfinished galaxies
        shutil.rmtree(stale, ignore_errors=True)
    for stale in out.glob(".*.old-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _write_table(out: Path, rows: list[dict], columns: list[str]) -> None:
    import pandas as pd

    frame = pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns)
    for c in _INTEGERS:  # integers stay integers beside the failed rows' empty cells
        frame[c] = frame[c].astype("Int64")
    tmp = out / f".{TABLE}.tmp"
    frame.to_csv(tmp, index=False)
    os.replace(tmp, out / TABLE)


@contextlib.contextmanager
def _cluster(client, workers, scheduler, scheduler_timeout):
    if client is not None:
        yield client
        return
    from jaxjam.core.cluster import dask_client

    with dask_client(workers, scheduler, accelerator=True,
                     scheduler_timeout=scheduler_timeout) as c:  # fmt: skip
        yield c


def _slots(client) -> int:
    """Worker threads of the cluster now (an adaptive cluster grows and shrinks)."""
    workers = client.scheduler_info().get("workers", {})
    return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))


def run_survey(catalog, out_dir, config, *, model_dir=None, workers=None, scheduler=None,
               client=None, defaults=None, plots=True, progress=True, cache_dir=None,
               scheduler_timeout=None) -> dict:  # fmt: skip
    """Fit every galaxy of a catalogue on dask.distributed; see the module docstring.

    Parameters
    ----------
    catalog : str or Path
        The catalogue (:mod:`jaxjam.cli.survey.catalog`).
    out_dir : str or Path
        The survey's folder; rerun with the same catalogue and settings to resume.
    config : jaxjam.inference.FitConfig
        The fits' settings; a row's ``seed`` and bounds replace its seed and bounds.
    model_dir : str, optional
        The emulator (default: the shipped model).
    workers, scheduler, client
        A LocalCluster of ``workers`` processes (default: all cores; at most that, with a
        warning), an existing scheduler's address, or a ``dask.distributed.Client``. At most
        one fit per worker thread runs at a time; their jampy calls run on the same workers.
    defaults : dict, optional
        ``psf`` and ``pa_deg`` for rows that give none.
    plots : bool
        Write each galaxy's corner, trace and maps plots.
    progress : bool
        A progress bar (galaxies done, failed, per hour). The bad rows and the failed fits
        are reported on stderr in any case.
    cache_dir : str, optional
        JAX's persistent compilation cache, shared by the workers.
    scheduler_timeout : float, optional
        Seconds to wait for ``scheduler`` to answer (default:
        :data:`jaxjam.core.cluster.SCHEDULER_TIMEOUT`).

    Returns
    -------
    dict
        ``n_galaxies``, ``n_done_before`` (finished by an earlier run), ``n_fitted`` (this
        run), ``n_certified``, ``n_not_certified``, ``n_failed``, ``seconds`` and ``table``.

    Raises
    ------
    jaxjam.cli.survey.CatalogError
        When the catalogue cannot be used as a whole (see
        :func:`~jaxjam.cli.survey.read_catalog`).
    SurveyMismatchError
        When ``out_dir`` holds a survey of another catalogue, or one made with other settings
        (fit settings, model, default PSF or position angle).
    jaxjam.core.cluster.SchedulerUnreachableError
        When ``scheduler`` does not answer.
    """
    from tqdm.auto import tqdm

    from jaxjam.core.components import parameter_names
    from jaxjam.emulator.emulator import Emulator

    t0 = time.perf_counter()
    out = Path(out_dir)
    emulator = Emulator.load(model_dir)
    entries, bad = read_catalog(catalog, defaults, Model(emulator.components))
    columns = survey_columns(parameter_names(emulator.components))
    _prepare(out, _manifest(config, emulator, defaults, catalog))
    rows: dict[int, dict] = {}
    for b in bad:
        rows[b.row] = {"row": b.row, "name": b.name, "status": f"failed: row {b.row}: {b.reason}"}
        tqdm.write(f"row {b.row} ({b.name}): {b.reason}", file=sys.stderr)
    todo = []
    for e in entries:
        done = read_row(out / e.name)
        if done is not None and done.get("inputs_sha256") == e.inputs_sha256:
            rows[e.row] = {**done, "row": e.row}
        else:
            todo.append(e)
            rows[e.row] = {"row": e.row, "name": e.name, "status": "pending",
                           "seed": entry_config(config, e).seed,
                           "n_bins": int(e.galaxy.kinematics.vrms_kms.size)}  # fmt: skip
    n_before = len(entries) - len(todo)

    def table():
        _write_table(out, [rows[k] for k in sorted(rows)], columns)

    table()
    counts = {"certified": 0, "not certified": 0, "failed": 0, "fitted": 0}
    if todo:
        with _cluster(client, workers, scheduler, scheduler_timeout) as c:
            _run(c, todo, config, model_dir, out, cache_dir, plots, progress, rows, counts, table,
                 n_before, len(entries) + len(bad))  # fmt: skip
    table()
    final = [rows[k] for k in sorted(rows)]
    return {"n_galaxies": len(final), "n_done_before": n_before, "n_fitted": counts["fitted"],
            "n_certified": sum(r["status"] == "certified" for r in final),
            "n_not_certified": sum(r["status"] == "not certified" for r in final),
            "n_failed": sum(r["status"].startswith("failed") for r in final),
            "seconds": time.perf_counter() - t0, "table": str(out / TABLE)}  # fmt: skip


def _run(client, todo, config, model_dir, out, cache_dir, plots, progress, rows, counts, table,
         n_before, n_total):  # fmt: skip
    """Submit the fits, at most one per worker thread at a time, and collect their rows."""
    from dask.distributed import as_completed
    from tqdm.auto import tqdm

    by_key = {}
    queue = list(todo)
    pending = as_completed()
    t0 = time.perf_counter()

    def submit():
        e = queue.pop(0)
        cfg = entry_config(config, e)
        key = f"jaxjam-survey-{e.name}-{e.inputs_sha256[:16]}"
        fut = client.submit(fit_entry, e, cfg, model_dir, str(out), cache_dir, plots, key=key,
                            pure=False, priority=0)  # fmt: skip
        by_key[fut.key] = e
        pending.add(fut)

    for _ in range(min(len(queue), _slots(client))):
        submit()
    bar = tqdm(total=n_total, initial=n_total - len(todo), desc="survey", unit="galaxy",
               disable=not progress, dynamic_ncols=True)  # fmt: skip
    try:
        for fut in pending:
            e = by_key.pop(fut.key)
            try:
                row = fut.result()
            except Exception as exc:  # the task itself was lost (e.g. a worker killed too often)
                reason = " ".join(f"{type(exc).__name__}: {exc}".split())
                row = {"name": e.name, "status": f"failed: {reason}"}
            status = row["status"]
            if status.startswith("failed"):
                counts["failed"] += 1
                tqdm.write(f"{e.name}: {status}", file=sys.stderr)
                if row.get("traceback"):
                    (out / FAILED).mkdir(exist_ok=True)
                    (out / FAILED / f"{e.name}.txt").write_text(row["traceback"])
                row = {k: v for k, v in row.items() if k != "traceback"}
            else:
                (out / FAILED / f"{e.name}.txt").unlink(missing_ok=True)
                counts["fitted"] += 1
                counts["certified" if status == "certified" else "not certified"] += 1
            rows[e.row] = {**rows[e.row], **row, "row": e.row}
            table()
            rate = (counts["fitted"] + counts["failed"]) * 3600 / (time.perf_counter() - t0)
            bar.set_postfix(done=counts["fitted"] + n_before, failed=counts["failed"],
                            per_hour=f"{rate:.0f}")  # fmt: skip
            bar.update()
            while queue and pending.count() < _slots(client):
                submit()
    finally:
        bar.close()


def finished(out_dir) -> dict[str, dict]:
    """The finished galaxies' records in a survey folder, by name."""
    out = Path(out_dir)
    found = {}
    for folder in sorted(p for p in out.iterdir() if p.is_dir() and p.name[0].isalnum()):
        row = read_row(folder)
        if row is not None and (folder / ROW_FILE).exists():
            found[folder.name] = row
    return found
