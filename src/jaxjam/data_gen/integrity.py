"""Integrity of a training store: missing, truncated and corrupt chunks are found, never read.

A store written by this version (``manifest["integrity"]``) has

- a zstd frame checksum (XXH64 of the decoded bytes) in every chunk, checked by zstd whenever
  the chunk is decoded, so one flipped bit fails the read instead of changing a value;
- every chunk of a finished task on disk, all-zero ones included (zarr skips chunks that equal
  the fill value unless told otherwise), and every ``task_done`` flag, so that a chunk that is
  absent is damage, not zeros.

Every array the manifest's config implies must be present with metadata (``NAME/zarr.json``)
that opens and gives the shape, dtype and chunking the config implies: an array whose metadata
is deleted is otherwise invisible to zarr (its chunks are then never read, let alone checked).
:func:`metadata_damage` finds such arrays; ``jaxjam generate`` rewrites their metadata from the
config (a checksummed store's chunks are then verified by :func:`scan` as usual) and
:class:`~jaxjam.data_gen.store.StoreReader` refuses to open the store.

Older stores have neither checksums nor every chunk. For them a missing chunk is damage unless
its task's contents could legitimately equal the fill value (``status`` and ``mge_qobs``
chunks, the first ``photometry_id`` chunk, any chunk of a task whose samples all failed);
truncated chunks fail to decode and are found, flipped bits only when zstd cannot decode the
result.

:func:`scan` finds every damaged chunk (``jaxjam generate`` runs it when it resumes a store,
then :func:`repair` deletes those chunks and marks their tasks unfinished, so that exactly
those tasks are regenerated, bit-identical); :class:`~jaxjam.data_gen.store.StoreReader` runs
:func:`missing_chunks` and :func:`undecodable_chunks` on what it reads and raises
:class:`StoreDamagedError`.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

__all__ = [
    "INTEGRITY",
    "ArrayDamage",
    "Damage",
    "StoreDamagedError",
    "chunk_compressor",
    "describe",
    "describe_metadata",
    "is_strict",
    "metadata_damage",
    "missing_chunks",
    "regenerate_hint",
    "repair",
    "scan",
    "undecodable_chunks",
    "writable",
]

#: Recorded in the manifest of every store written with checksums and every chunk on disk
#: (not part of the manifest hash: the samples are the same bits as in an older store).
INTEGRITY = {
    "chunk_checksum": "zstd frame checksum (XXH64 of the decoded chunk), checked on every read",
    "all_chunks_written": True,
}

STATUS_FAILED = 4  # jaxjam.data_gen.store.STATUS_FAILED (not imported: store imports this)


class StoreDamagedError(ValueError):
    """A chunk of a training store is missing, truncated or corrupt."""


@dataclasses.dataclass(frozen=True)
class Damage:
    """One damaged chunk.

    Attributes
    ----------
    array : str
        Array name (``"A"``, ``"status"``, ``"task_done"``, ...).
    task : int
        Chunk index along the sample axis, which is the generation task.
    key : str
        Path of the chunk file inside the store (``"A/c/3/0/0"``).
    start, stop : int
        Sample range ``[start, stop)`` of the chunk.
    problem : str
        What is wrong, as a phrase (``"is missing"``, ``"fails its checksum"``, ...).
    """

    array: str
    task: int
    key: str
    start: int
    stop: int
    problem: str

    def __str__(self) -> str:
        return (f"{self.array} chunk {self.key} (task {self.task}, samples {self.start}"
                f"-{self.stop - 1}) {self.problem}")  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ArrayDamage:
    """An array whose metadata is missing, unreadable or not what the manifest implies.

    Attributes
    ----------
    array : str
        Array name (``"q_int"``, ``"task_done"``, ...).
    key : str
        Path of its metadata file inside the store (``"q_int/zarr.json"``).
    problem : str
        What is wrong, as a phrase (``"is missing"``, ``"cannot be read (...)"``, ...).
    """

    array: str
    key: str
    problem: str

    def __str__(self) -> str:
        return f"the metadata of array {self.array!r} ({self.key}) {self.problem}"


def metadata_damage(path, group, expected: dict | None) -> list[ArrayDamage]:
    """Every expected array whose metadata is missing, unreadable or of another layout.

    Parameters
    ----------
    path : str or Path
        The store directory.
    group : zarr.Group
        The open store.
    expected : dict or None
        ``{name: (shape, dtype, chunks)}`` of every array the store must hold
        (:func:`jaxjam.data_gen.store.expected_arrays`); ``None`` (a manifest whose config
        this version cannot read) checks only the arrays that zarr lists.

    Returns
    -------
    list of ArrayDamage
        In the order of ``expected``.
    """
    if expected is None:
        try:
            names = list(group.array_keys())
        except Exception as exc:
            return [ArrayDamage("?", "*/zarr.json", f"cannot be listed ({exc})")]
        expected = dict.fromkeys(names)
    out = []
    for name, spec in expected.items():
        key = f"{name}/zarr.json"
        if not (Path(path) / key).is_file():
            out.append(ArrayDamage(name, key, "is missing"))
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # zarr's warnings about foreign objects
                array = group[name]
            layout = (tuple(array.shape), np.dtype(array.dtype).str, tuple(array.chunks))
        except Exception as exc:
            out.append(ArrayDamage(name, key, f"cannot be read ({type(exc).__name__}: {exc})"))
            continue
        if spec is None:
            continue
        want = (tuple(spec[0]), np.dtype(spec[1]).str, tuple(spec[2]))
        if layout != want:
            problem = (f"gives shape {layout[0]}, dtype {layout[1]}, chunks {layout[2]}; the "
                       f"manifest's config implies {want[0]}, {want[1]}, {want[2]}")  # fmt: skip
            out.append(ArrayDamage(name, key, problem))
    return out


def describe_metadata(path, manifest: dict, damage: list[ArrayDamage], hint=True) -> str:
    """A message naming the arrays whose metadata is damaged and (``hint``) the fix."""
    text = f"store {path} is damaged: " + "; ".join(str(d) for d in damage)
    if not hint:
        return text
    command = (f"`jaxjam generate --out {path} --n {manifest['n_samples']} --seed "
               f"{manifest['seed']}` with the --config it was made with")  # fmt: skip
    if is_strict(manifest):
        return (f"{text}. Rerun {command}: it rewrites the arrays' metadata from the manifest, "
                "checks every chunk against its checksum and regenerates exactly the damaged "
                "tasks")  # fmt: skip
    return (f"{text}. This store has no chunk checksums, so its chunks cannot be verified "
            f"under rewritten metadata: delete it and generate it again ({command})")  # fmt: skip


def chunk_compressor():
    """The compressor of every array of a new store: zstd with its frame checksum on."""
    from zarr.codecs import ZstdCodec

    return ZstdCodec(level=0, checksum=True)


def is_strict(manifest: dict) -> bool:
    """Whether a store has checksums and every chunk on disk (written by this version)."""
    return bool(manifest.get("integrity", {}).get("all_chunks_written", False))


def writable(array):
    """The array, writing every chunk, including those equal to the fill value."""
    return array.with_config({"write_empty_chunks": True})


def _key(name: str, array, task: int) -> str:
    return f"{name}/{array.metadata.encode_chunk_key((task,) + (0,) * (array.ndim - 1))}"


def _samples(manifest: dict, task: int) -> tuple[int, int]:
    s = int(manifest["samples_per_task"])
    return task * s, min((task + 1) * s, int(manifest["n_samples"]))


def _may_be_absent(group, manifest: dict, name: str, task: int) -> bool:
    """Whether an older store (zarr skipped fill-valued chunks) may lack this chunk."""
    if name in ("task_done", "status", "mge_qobs"):  # not done; all physical; all round
        return True
    start, stop = _samples(manifest, task)
    if name == "photometry_id":  # every sample of the chunk from photometry 0
        return (stop - 1) // int(manifest["config"]["draws_per_photometry"]) == 0
    try:  # every sample failed: its arrays hold the fill value
        return bool(np.all(group["status"][start:stop] == STATUS_FAILED))
    except Exception:
        return False


def missing_chunks(path, group, manifest: dict, name: str, tasks: Iterable[int]) -> list[Damage]:
    """The chunks of ``name`` among ``tasks`` whose file is absent (and may not be).

    Parameters
    ----------
    path : str or Path
        The store directory.
    group : zarr.Group
        The open store.
    manifest : dict
        Its manifest.
    name : str
        Array name.
    tasks : iterable of int
        Chunk (task) indices to check, finished tasks only for the per-sample arrays.

    Returns
    -------
    list of Damage
    """
    array = group[name]
    strict = is_strict(manifest)
    out = []
    for t in tasks:
        key = _key(name, array, int(t))
        if (Path(path) / key).is_file():
            continue
        if strict or not _may_be_absent(group, manifest, name, int(t)):
            out.append(Damage(name, int(t), key, *_samples(manifest, int(t)), "is missing"))
    return out


def _problem(exc: Exception) -> str:
    text = str(exc)
    if "checksum" in text:
        return "fails its checksum (a changed byte)"
    return f"cannot be decoded (truncated or corrupt: {type(exc).__name__}: {text})"


def undecodable_chunks(group, manifest: dict, name: str, tasks: Iterable[int]) -> list[Damage]:
    """The chunks of ``name`` among ``tasks`` that fail to decode or fail their checksum."""
    array = group[name]
    s = array.chunks[0]
    out = []
    for t in tasks:
        try:
            array[int(t) * s : (int(t) + 1) * s]
        except Exception as exc:
            out.append(Damage(name, int(t), _key(name, array, int(t)),
                              *_samples(manifest, int(t)), _problem(exc)))  # fmt: skip
    return out


def _decode_all(group, manifest: dict, name: str, window_chunks: int) -> list[Damage]:
    """Decode a whole array, a window of chunks at a time; locate the damage in any window
    that fails."""
    array = group[name]
    s = array.chunks[0]
    n_chunks = -(-array.shape[0] // s)
    out = []
    for w0 in range(0, n_chunks, window_chunks):
        w1 = min(w0 + window_chunks, n_chunks)
        try:
            array[w0 * s : w1 * s]
        except Exception:
            out += undecodable_chunks(group, manifest, name, range(w0, w1))
    return out


def scan(path, group, manifest: dict, window_chunks: int = 64) -> list[Damage]:
    """Every damaged chunk of a store: each array is decoded once (checksums checked), and
    every chunk of a finished task must exist.

    Parameters
    ----------
    path : str or Path
        The store directory.
    group : zarr.Group
        The open store.
    manifest : dict
        Its manifest.
    window_chunks : int
        Chunks decoded per read.

    Returns
    -------
    list of Damage
        Sorted by task, then array. A damaged ``task_done`` flag counts its task unfinished.

    Raises
    ------
    StoreDamagedError
        If an array's metadata cannot be read (the store cannot be repaired).
    """
    names = ["task_done", *sorted(k for k in group.array_keys() if k != "task_done")]
    for name in names:
        try:
            group[name]
        except Exception as exc:
            raise StoreDamagedError(
                f"store {path}: the metadata of array {name!r} cannot be read ({exc}); the "
                "store cannot be repaired: delete it and rerun `jaxjam generate`"
            ) from exc
    n_tasks = int(manifest["n_tasks"])
    damage = missing_chunks(path, group, manifest, "task_done", range(n_tasks))
    damage += _decode_all(group, manifest, "task_done", window_chunks=n_tasks)
    bad = {d.task for d in damage}
    flags = np.zeros(n_tasks, np.uint8)
    if bad:  # read the intact flags one by one; a damaged one counts its task unfinished
        for t in set(range(n_tasks)) - bad:
            flags[t] = group["task_done"][t]
    else:
        flags[:] = group["task_done"][:]
    done = np.nonzero(flags == 1)[0].tolist()
    for name in names[1:]:
        damage += missing_chunks(path, group, manifest, name, done)
        damage += _decode_all(group, manifest, name, window_chunks)
    return sorted(set(damage), key=lambda d: (d.task, d.array))


def repair(path, group, damage: list[Damage]) -> list[int]:
    """Delete the damaged chunks and mark their tasks unfinished (to be regenerated).

    Returns
    -------
    list of int
        The tasks to regenerate.
    """
    for d in damage:
        (Path(path) / d.key).unlink(missing_ok=True)
    tasks = sorted({d.task for d in damage})
    flags = writable(group["task_done"])
    for t in tasks:
        flags[t] = 0
    return tasks


def regenerate_hint(path, manifest: dict) -> str:
    """How to regenerate a store's damaged samples."""
    return (
        f"Rerun `jaxjam generate --out {path} --n {manifest['n_samples']} --seed "
        f"{manifest['seed']}` with the --config it was made with (the manifest's config): it "
        "checks every chunk, regenerates exactly the damaged tasks (bit-identical to the lost "
        "samples) and finishes any unfinished ones"
    )


def describe(path, manifest: dict, damage: list[Damage], limit: int = 8, hint=True) -> str:
    """A message naming the damaged chunks and (``hint``) how to regenerate them."""
    listed = "; ".join(str(d) for d in damage[:limit])
    more = f"; and {len(damage) - limit} more" if len(damage) > limit else ""
    text = f"store {path} is damaged: {listed}{more}"
    return f"{text}. {regenerate_hint(path, manifest)}." if hint else text
