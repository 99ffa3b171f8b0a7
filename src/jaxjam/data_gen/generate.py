"""Resumable training-set generation on dask.distributed.

Each task draws ``photometries_per_task`` photometries and ``draws_per_photometry`` JAM
parameter draws for each, runs jampy, and returns the arrays of one zarr chunk. Photometry
``p`` draws from its own stream, ``SeedSequence(seed, spawn_key=(p,))``, so a sample depends
only on the seed and its index: which worker ran it, and whether the run was interrupted, make
no difference to the bits on disk.

Workers compute; the client alone writes, so the store needs no shared filesystem when a remote
cluster is given (``--scheduler``) and there is never more than one writer.

Resuming a store first checks that every array is there with its metadata (a missing or
damaged ``zarr.json`` is rewritten from the manifest's config), then every chunk
(:func:`jaxjam.data_gen.integrity.scan`): chunks of finished tasks that are missing, truncated
or fail their checksum are deleted and exactly their tasks are regenerated.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import math
import os
import shutil
import sys
import traceback
import uuid
from pathlib import Path

import numpy as np

from jaxjam.core.cluster import dask_client
from jaxjam.data_gen import integrity
from jaxjam.data_gen.config import GeneratorConfig
from jaxjam.data_gen.store import STATUS_FAILED, array_specs, expected_arrays, manifest_hash

__all__ = ["compute_task", "generate", "open_or_create_store", "task_range"]

FORMAT_VERSION = 1

#: One BLAS/OpenMP thread per worker process: parallelism comes from processes (DESIGN.md).


def versions() -> dict[str, str]:
    """Versions of everything that determines the bits of a sample."""
    import dask
    import jampy
    import mgefit
    import scipy
    import zarr

    import jaxjam

    return {
        "jaxjam": jaxjam.__version__,
        "jampy": jampy.__version__,
        "mgefit": mgefit.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "zarr": zarr.__version__,
        "dask": dask.__version__,
        "python": sys.version.split()[0],
    }


def task_range(task: int, config: GeneratorConfig, n_samples: int) -> tuple[int, int]:
    """Sample index range ``[start, stop)`` of a task."""
    s = config.samples_per_task
    return task * s, min((task + 1) * s, n_samples)


def compute_task(config_dict: dict, seed: int, n_samples: int, task: int) -> dict:
    """Compute all samples of one task (runs on a dask worker).

    Parameters
    ----------
    config_dict : dict
        ``GeneratorConfig.to_dict()``.
    seed : int
        Root seed of the training set.
    n_samples : int
        Size of the whole training set (the last task may be partial).
    task : int
        Task index.

    Returns
    -------
    dict
        ``{"task": int, "arrays": {name: ndarray}, "errors": [str]}``, arrays with leading
        dimension ``stop - start``.
    """
    from jaxjam.core.photometry import render_photometry
    from jaxjam.data_gen.jam_labels import STATUS_NONFINITE, component_maps, physical_radius_re
    from jaxjam.data_gen.sampler import (
        Photometry,
        descriptor_names,
        draw_jam_parameters,
        draw_photometry,
    )

    config = GeneratorConfig.from_dict(config_dict)
    start, stop = task_range(task, config, n_samples)
    n = stop - start
    specs = array_specs(config, n)
    out = {k: np.zeros(shape, dtype) for k, (shape, dtype) in specs.items()}
    out["mge_qobs"][:] = 1.0
    errors = []
    radii_re = config.grid.r_re if config.physical_radius else None
    d = config.draws_per_photometry
    for local in range(0, n, d):
        pid = (start + local) // d
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(pid,)))
        rows = range(local, min(local + d, n))
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # mgefit prints fit warnings
                phot: Photometry = draw_photometry(rng, config.sampler)
            image = render_photometry(phot.mge, config.image, normalize=False)
        except Exception:
            errors.append(f"photometry {pid}: {traceback.format_exc(limit=3)}")
            for i in rows:
                out["status"][i] = STATUS_FAILED
                out["photometry_id"][i] = pid
            continue
        padded = phot.mge.to_padded_arrays(config.sampler.n_max_gauss)
        for i in rows:
            q_int, ratio = draw_jam_parameters(rng, phot.mge.qobs_min, config.sampler)
            inputs = {}
            for c in (c for c in config.model_components if c.input_name):
                inputs[c.input_name] = out[c.input_key][i] = float(rng.uniform(*c.input_range))
            out["image"][i] = image
            out["mge_surf"][i], out["mge_sigma"][i], out["mge_qobs"][i], out["mge_mask"][i] = padded
            out["q_int"][i], out["ratio"][i] = q_int, ratio
            out["photometry_id"][i] = pid
            out["descriptors"][i] = phot.descriptors
            try:
                maps = component_maps(phot.mge, q_int, ratio, config.grid, config.labels,
                                      components=config.model_components,
                                      inputs=inputs)  # fmt: skip
            except Exception:
                errors.append(f"sample {start + i}: {traceback.format_exc(limit=3)}")
                out["status"][i] = STATUS_FAILED
                continue
            out["inc_deg"][i] = maps.inc_deg
            with np.errstate(invalid="ignore", over="ignore"):
                for c, m in zip(config.model_components, maps.maps, strict=True):
                    out[c.symbol][i] = m
            out["status"][i] = maps.status
            if config.physical_radius:
                out["physical_radius_re"][i] = physical_radius_re(maps.maps[0], radii_re)
            if maps.status == STATUS_NONFINITE:
                errors.append(f"sample {start + i}: jampy returned non-finite values")
    assert len(descriptor_names(config.sampler)) == out["descriptors"].shape[1]
    return {"task": task, "arrays": out, "errors": errors}


def _new_manifest(config: GeneratorConfig, seed: int, n_samples: int) -> dict:
    from jaxjam.data_gen.jam_labels import (
        STATUS_A_NONPOSITIVE,
        STATUS_B_NONPOSITIVE,
        STATUS_NONFINITE,
        STATUS_OK,
    )
    from jaxjam.data_gen.sampler import descriptor_names

    extra_units = {c.input_key: f"{c.name}: per-sample input {c.input_name}"
                   for c in config.model_components if c.input_name}  # fmt: skip
    if config.physical_radius:
        extra_units["physical_radius_re"] = (
            "per grid angle, the outermost grid radius (R_e) out to "
            "which A > 0 at every radius (0: not at the innermost)"
        )
    m = {
        "format_version": FORMAT_VERSION,
        "kind": "jaxjam training set",
        "config": config.to_dict(),
        "seed": int(seed),
        "n_samples": int(n_samples),
        "samples_per_task": config.samples_per_task,
        "n_tasks": math.ceil(n_samples / config.samples_per_task),
        "n_photometries": math.ceil(n_samples / config.draws_per_photometry),
        "versions": versions(),
        "grid": config.grid.to_dict(),
        "image": config.image.to_dict(),
        "padding": {
            "surf_factor": config.labels.pad_surf_factor,
            "sigma_factor": config.labels.pad_sigma_factor,
            "note": "negligible outer Gaussian appended for jampy (MGE.padded_outer)",
        },
        "units": {
            **{
                c.symbol: f"{c.name}: {c.description}, V^2 in units of G L_tot / R_e"
                for c in config.model_components
            },
            "mge": "sigma in R_e, surf in L_tot / R_e^2",
            "image": "log10 surface brightness in L_tot / R_e^2",
            **extra_units,
        },
        "status_codes": {
            str(STATUS_OK): "physical",
            str(STATUS_A_NONPOSITIVE): "A <= 0 somewhere (no physical Jeans solution)",
            str(STATUS_B_NONPOSITIVE): (
                "physical, but A + bh_max_fraction * B <= 0 somewhere "
                "(a warning: B oscillates near the outer edge)"
            ),
            str(STATUS_NONFINITE): "jampy returned non-finite values",
            str(STATUS_FAILED): "sample failed (see errors)",
        },
        "descriptor_names": list(descriptor_names(config.sampler)),
        "integrity": dict(integrity.INTEGRITY),
        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(),
    }
    m = json.loads(json.dumps(m))  # tuples -> lists, exactly as stored
    m["hash"] = manifest_hash(m)
    return m


def _differences(a, b, prefix=""):
    """Dotted paths at which two JSON-like values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _differences(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [f"{prefix[:-1]}: {a!r} != {b!r}"]


def open_or_create_store(path, config: GeneratorConfig, seed: int, n_samples: int):
    """Open an existing store for resuming, or create a new one atomically.

    A new store is built in a temporary sibling directory and renamed into place, so a store
    at ``path`` always has its manifest.

    Raises
    ------
    ValueError
        If a store exists at ``path`` with a different config, seed, size or versions.
    """
    import zarr

    path = Path(path)
    requested = _new_manifest(config, seed, n_samples)
    if path.exists():
        try:
            group = zarr.open_group(str(path), mode="r+")
            manifest = dict(group.attrs["manifest"])
        except Exception as exc:
            raise ValueError(f"{path} exists but is not a jaxjam store: {exc}") from exc
        stored = dict(manifest)
        with contextlib.suppress(Exception):  # fields added since: compare with their defaults
            stored["config"] = json.loads(json.dumps(
                GeneratorConfig.from_dict(manifest["config"]).to_dict()))  # fmt: skip
        for key in ("config", "seed", "n_samples", "format_version"):
            if stored[key] != requested[key]:
                diff = "; ".join(_differences(stored[key], requested[key], f"{key}.")[:5])
                raise ValueError(
                    f"store {path} was made with a different {key} (stored != requested: "
                    f"{diff}); rerun with the original settings or use another --out path"
                )
        if manifest["versions"] != requested["versions"]:
            raise ValueError(
                f"store {path} was made with other package versions ({manifest['versions']}); "
                f"resuming now ({requested['versions']}) would not be bit-identical"
            )
        for partial in path.rglob("*.partial"):  # temp files of writes killed mid-way
            partial.unlink(missing_ok=True)
        return group

    tmp = path.with_name(f".{path.name}.creating-{uuid.uuid4().hex[:8]}")
    group = zarr.open_group(str(tmp), mode="w")
    _create_arrays(group, config, n_samples)
    integrity.writable(group["task_done"])[:] = 0  # every flag on disk: a missing one is damage
    group.attrs["manifest"] = requested
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(tmp, path)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return zarr.open_group(str(path), mode="r+")


def _create_arrays(group, config: GeneratorConfig, n_samples: int, names=None) -> None:
    """Create the store's arrays (metadata only, no chunk written): all, or those in ``names``."""
    chunk = config.samples_per_task
    specs = dict(array_specs(config, n_samples))
    specs["task_done"] = ((math.ceil(n_samples / chunk),), "uint8")
    for name, (shape, dtype) in specs.items():
        if names is not None and name not in names:
            continue
        group.create_array(
            name, shape=shape, dtype=dtype,
            chunks=(1,) if name == "task_done" else (chunk, *shape[1:]),
            fill_value=(1.0 if name == "mge_qobs" else 0),
            compressors=integrity.chunk_compressor(),
        )  # fmt: skip


def _restore_metadata(out, config: GeneratorConfig, n_samples: int, names: list[str]) -> None:
    """Rewrite the metadata (``zarr.json``) of the arrays ``names`` of a store as a new store of
    this config has it, keeping their chunks (each file replaced atomically)."""
    import tempfile

    import zarr

    out = Path(out)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.metadata-") as tmp:
        _create_arrays(zarr.open_group(tmp, mode="w"), config, n_samples, names)
        for name in names:
            (out / name).mkdir(exist_ok=True)
            partial = out / name / "zarr.json.partial"  # deleted on resume if killed here
            shutil.copyfile(Path(tmp) / name / "zarr.json", partial)
            os.replace(partial, out / name / "zarr.json")


def _warm_worker() -> None:
    """Import the heavy modules once per worker, before timing and work start."""
    import jampy  # noqa: F401
    import mgefit  # noqa: F401
    import scipy.optimize  # noqa: F401

    import jaxjam.data_gen.jam_labels
    import jaxjam.data_gen.sampler  # noqa: F401


def _write_task(group, config, n_samples, result) -> None:
    start, stop = task_range(result["task"], config, n_samples)
    for name, values in result["arrays"].items():
        integrity.writable(group[name])[start:stop] = values  # all-zero chunks too
    integrity.writable(group["task_done"])[result["task"]] = 1  # last: marks the task complete


def _repair(out, group, manifest: dict, config: GeneratorConfig) -> tuple[list[int], list[str]]:
    """Check a resumed store: rewrite the metadata of arrays that lack it (or whose metadata is
    damaged), then check every chunk, delete the damaged ones and mark their tasks unfinished.
    Returns those tasks and the arrays whose metadata was rewritten."""
    bad = integrity.metadata_damage(out, group, expected_arrays(manifest))
    if bad:
        if not integrity.is_strict(manifest):  # unchecked chunks: never trust them
            raise integrity.StoreDamagedError(integrity.describe_metadata(out, manifest, bad))
        names = [d.array for d in bad]
        _restore_metadata(out, config, int(manifest["n_samples"]), names)
        print(f"{integrity.describe_metadata(out, manifest, bad, hint=False)}; rewrote it from "
              "the manifest's config, and checking every chunk", file=sys.stderr)  # fmt: skip
    return _repair_chunks(out, group, manifest), [d.array for d in bad]


def _repair_chunks(out, group, manifest: dict) -> list[int]:
    """Check every chunk of a resumed store; delete the damaged ones and mark their tasks
    unfinished. Returns those tasks."""
    damage = integrity.scan(out, group, manifest)
    if not damage:
        return []
    tasks = integrity.repair(out, group, damage)
    print(f"{integrity.describe(out, manifest, damage, hint=False)}; regenerating task(s) "
          f"{tasks}", file=sys.stderr)  # fmt: skip
    return tasks


def _record_errors(group, errors) -> None:
    if not errors:
        return
    manifest = dict(group.attrs["manifest"])
    manifest["errors"] = (manifest.get("errors", []) + errors)[-1000:]
    group.attrs["manifest"] = manifest


def generate(
    out,
    n_samples: int,
    seed: int,
    config: GeneratorConfig = GeneratorConfig(),
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    scheduler_timeout: float | None = None,
) -> dict:
    """Generate (or finish) a training set.

    Parameters
    ----------
    out : str or Path
        Store path. If it exists with the same config and seed, only unfinished tasks are run.
    n_samples : int
        Number of samples (photometries × draws).
    seed : int
        Root seed; recorded in the manifest.
    config : GeneratorConfig
        What to generate.
    workers : int, optional
        Processes of the default LocalCluster (default: all cores; at most that, with a
        warning).
    scheduler : str, optional
        Address of an existing dask scheduler to use instead (e.g. from dask-jobqueue).
    progress : bool
        Show a progress bar.
    scheduler_timeout : float, optional
        Seconds to wait for ``scheduler`` to answer (default:
        :data:`jaxjam.core.cluster.SCHEDULER_TIMEOUT`).

    Returns
    -------
    dict
        Summary: samples, tasks run now, tasks repaired (damaged chunks of a resumed store,
        regenerated), arrays whose metadata was missing or damaged and was rewritten from the
        manifest's config, unphysical and failed fractions, wall time.

    Raises
    ------
    jaxjam.data_gen.integrity.StoreDamagedError
        If a resumed store is damaged beyond repair: an array's metadata is missing or
        damaged in a store written without chunk checksums.
    jaxjam.core.cluster.SchedulerUnreachableError
        If ``scheduler`` does not answer within ``scheduler_timeout``.
    """
    import time

    from dask.distributed import as_completed
    from tqdm.auto import tqdm

    if n_samples < 1:
        raise ValueError(f"--n must be positive, got {n_samples}")
    resuming = Path(out).exists()
    group = open_or_create_store(out, config, seed, n_samples)
    manifest = dict(group.attrs["manifest"])
    repaired, restored = _repair(out, group, manifest, config) if resuming else ([], [])
    done = np.asarray(group["task_done"][:], bool)
    pending = [int(t) for t in np.nonzero(~done)[0]]
    t0 = time.perf_counter()
    n_done_samples = sum(
        b - a for a, b in (task_range(t, config, n_samples) for t in np.nonzero(done)[0])
    )
    compute_seconds = 0.0
    if pending:
        with dask_client(workers, scheduler, scheduler_timeout=scheduler_timeout) as client:
            print(f"dask dashboard: {client.dashboard_link}", file=sys.stderr)
            client.run(_warm_worker)
            t_ready = time.perf_counter()
            n_workers = max(1, len(client.scheduler_info().get("workers", {})))
            window = 2 * n_workers
            cfg = config.to_dict()
            queue = list(pending)
            futures = as_completed()
            for _ in range(min(window, len(queue))):
                futures.add(
                    client.submit(compute_task, cfg, seed, n_samples, queue.pop(0), pure=False)
                )
            bar = tqdm(total=n_samples, initial=n_done_samples, unit="sample", disable=not progress,
                       desc="jampy labels", dynamic_ncols=True)  # fmt: skip
            for fut in futures:
                result = fut.result()
                fut.release()
                _write_task(group, config, n_samples, result)
                _record_errors(group, result["errors"])
                start, stop = task_range(result["task"], config, n_samples)
                bar.update(stop - start)
                if queue:
                    futures.add(
                        client.submit(compute_task, cfg, seed, n_samples, queue.pop(0), pure=False)
                    )
            bar.close()
            compute_seconds = time.perf_counter() - t_ready
    status = np.asarray(group["status"][:])
    return {
        "store": str(out),
        "n_samples": n_samples,
        "n_tasks_run": len(pending),
        "n_tasks_repaired": len(repaired),
        "arrays_metadata_rewritten": restored,
        "seconds": time.perf_counter() - t0,
        "seconds_after_cluster_start": compute_seconds,
        "unphysical_fraction": float(np.mean(status == 1)),
        "bh_warning_fraction": float(np.mean(status == 2)),
        "failed_fraction": float(np.mean(status >= 3)),
        "manifest_hash": manifest["hash"],
    }
