"""The training-set store: a chunked zarr group, one chunk per generation task.

Layout (``S`` samples per task, ``G`` = ``sampler.n_max_gauss``)::

    STORE/                     zarr v3 group; attrs["manifest"] = config, seed, versions, grid
      image        (N, 64, 64)       float32  log10 Σ photometry image (jaxjam.core.photometry)
      mge_surf     (N, G)            float64  normalised MGE (R_e = 1, L_tot = 1), zero-padded
      mge_sigma    (N, G)            float64
      mge_qobs     (N, G)            float64
      mge_mask     (N, G)            bool     True for real Gaussians
      q_int, ratio, inc_deg (N,)     float64  JAM parameters
      A, B         (N, n_r, n_theta) float32  component maps (units of G L_tot / R_e), one
                                              per component of ``config.components``, named
                                              by its symbol (:mod:`jaxjam.core.components`)
      status       (N,)              int8     0 physical; 1 A <= 0 somewhere (unphysical);
                                              2 physical, but A + f_max B <= 0 somewhere
                                              (f_max = labels.bh_max_fraction); 3 NaN;
                                              4 the sample failed (error logged in manifest)
      photometry_id (N,)             int64    global index of the photometry
      descriptors  (N, D)            float64  generating parameters (sampler.descriptor_names)
      H_log10_width_re (N,)          float64  per-sample input of a component that has one
                                              (``<symbol>_<input_name>``; the halo's width)
      physical_radius_re (N, n_theta) float32 with ``config.physical_radius``: at each grid
                                              angle, the outermost grid radius (R_e) out to
                                              which the stars' V² (A) is > 0 at every radius
                                              (0 if not at the innermost; r_max if everywhere)
      task_done    (n_tasks,)        uint8    1 once every chunk of a task is on disk

Every array is chunked by task along the sample axis. zarr's local store writes each chunk to a
temporary file and renames it, so a chunk is either absent or complete; ``task_done`` is set
only after all of a task's chunks are written, so a killed run loses at most the tasks in
flight and a rerun recomputes exactly those.

Every chunk carries a checksum and every chunk of a finished task is on disk
(:mod:`jaxjam.data_gen.integrity`): :class:`StoreReader` raises
:class:`~jaxjam.data_gen.integrity.StoreDamagedError`, naming the chunk, its samples and how to
regenerate them, instead of reading a missing chunk as zeros or a corrupt one as data; and
every array the manifest implies (:func:`expected_arrays`) must be there with its metadata,
or the store is refused on opening, naming the array.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from jaxjam.data_gen import integrity
from jaxjam.data_gen.integrity import StoreDamagedError

__all__ = [
    "STATUS_FAILED",
    "StoreDamagedError",
    "StoreReader",
    "array_specs",
    "expected_arrays",
    "manifest_hash",
    "split_by_photometry",
]

STATUS_FAILED = 4


def array_specs(config, n_samples: int) -> dict[str, tuple[tuple[int, ...], str]]:
    """Shapes and dtypes of every per-sample array for a config and size."""
    from jaxjam.data_gen.sampler import descriptor_names

    g = config.sampler.n_max_gauss
    n = n_samples
    inputs = {c.input_key: ((n,), "float64") for c in config.model_components if c.input_name}
    physical = {"physical_radius_re": ((n, config.grid.n_theta), "float32")}
    return {
        "image": ((n, *config.image.shape), "float32"),
        "mge_surf": ((n, g), "float64"),
        "mge_sigma": ((n, g), "float64"),
        "mge_qobs": ((n, g), "float64"),
        "mge_mask": ((n, g), "bool"),
        "q_int": ((n,), "float64"),
        "ratio": ((n,), "float64"),
        "inc_deg": ((n,), "float64"),
        **{c.symbol: ((n, *config.grid.shape), "float32") for c in config.model_components},
        "status": ((n,), "int8"),
        "photometry_id": ((n,), "int64"),
        "descriptors": ((n, len(descriptor_names(config.sampler))), "float64"),
        **inputs,
        **(physical if config.physical_radius else {}),
    }


def expected_arrays(manifest: dict) -> dict[str, tuple] | None:
    """Every array a store must hold, from its manifest: ``{name: (shape, dtype, chunks)}``.

    The per-sample arrays of :func:`array_specs` (chunked by task) and ``task_done`` (one flag
    per chunk). ``None`` if this version cannot read the manifest's config (a store written by a
    newer jaxjam).
    """
    from jaxjam.data_gen.config import GeneratorConfig

    try:
        config = GeneratorConfig.from_dict(manifest["config"])
    except Exception:
        return None
    per_task = int(manifest["samples_per_task"])
    out = {
        name: (shape, dtype, (per_task, *shape[1:]))
        for name, (shape, dtype) in array_specs(config, int(manifest["n_samples"])).items()
    }
    out["task_done"] = ((int(manifest["n_tasks"]),), "uint8", (1,))
    return out  # fmt: skip


def manifest_hash(manifest: dict) -> str:
    """SHA-256 of the manifest's reproducibility-relevant part (config, seed, size, versions)."""
    keys = ("config", "seed", "n_samples", "versions", "format_version")
    blob = json.dumps({k: manifest[k] for k in keys}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def split_by_photometry(photometry_id, val_fraction: float, seed: int):
    """Split sample indices into train and validation so that no photometry is in both.

    Parameters
    ----------
    photometry_id : array_like, shape (n,)
        Photometry index of every sample.
    val_fraction : float
        Fraction of distinct photometries sent to validation, in (0, 1).
    seed : int
        Seed of the split.

    Returns
    -------
    train_idx, val_idx : ndarray of int
        Sorted sample indices.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    pid = np.asarray(photometry_id)
    unique = np.unique(pid)
    rng = np.random.default_rng(seed)
    n_val = max(1, round(val_fraction * unique.size))
    val_ids = rng.choice(unique, size=n_val, replace=False)
    is_val = np.isin(pid, val_ids)
    return np.nonzero(~is_val)[0], np.nonzero(is_val)[0]


class StoreReader:
    """Lazy, read-only access to a finished (or partial) store.

    Opening reads the manifest and checks that every array the manifest implies is there, with
    metadata of the right shape, dtype and chunking
    (:func:`~jaxjam.data_gen.integrity.metadata_damage`); :meth:`iter_batches` reads one window of
    chunks at a time. Every read checks what it reads: a chunk of a finished task that is
    missing, truncated or fails its checksum raises :class:`StoreDamagedError` (naming the
    array, the chunk, its samples and how to regenerate them), and samples of unfinished
    tasks are refused (:mod:`jaxjam.data_gen.integrity`; stores written before checksums are
    checked for what can be checked).

    Parameters
    ----------
    path : str or Path
        The zarr store written by ``jaxjam generate``.

    Raises
    ------
    FileNotFoundError
        If there is no store at ``path``.
    ValueError
        If the path is not a jaxjam store (no manifest).
    StoreDamagedError
        On opening, if an array is missing or its metadata is damaged; from the reading
        methods, if a chunk they need is damaged.
    """

    def __init__(self, path):
        import zarr

        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"no store at {self.path}")
        try:
            self.group = zarr.open_group(str(self.path), mode="r")
        except Exception as exc:
            raise ValueError(f"{self.path} is not a zarr store: {exc}") from exc
        if "manifest" not in self.group.attrs:
            raise ValueError(f"{self.path} is not a jaxjam training store (no manifest)")
        self.manifest = dict(self.group.attrs["manifest"])
        self.n_samples = int(self.manifest["n_samples"])
        self.samples_per_task = int(self.manifest["samples_per_task"])
        self.n_tasks = int(self.manifest["n_tasks"])
        #: whether the store has chunk checksums and every chunk on disk (all checks apply)
        self.checksummed = integrity.is_strict(self.manifest)
        damage = integrity.metadata_damage(self.path, self.group, expected_arrays(self.manifest))
        if damage:
            raise StoreDamagedError(integrity.describe_metadata(self.path, self.manifest, damage))
        self._arrays = _Arrays(self.group)
        self._known_done = np.zeros(self.n_tasks, bool)  # a finished task stays finished

    def __len__(self):
        return self.n_samples

    def __getitem__(self, name):
        """The raw zarr array, unchecked: read samples through :meth:`read`."""
        return self.group[name]

    def _damaged(self, damage: list) -> None:
        raise StoreDamagedError(integrity.describe(self.path, self.manifest, damage))

    def _checked(self, name: str, tasks: np.ndarray, selection) -> np.ndarray:
        """``name`` at ``selection`` (inside ``tasks``), its chunks checked."""
        damage = integrity.missing_chunks(self.path, self._arrays, self.manifest, name, tasks)
        if damage:
            self._damaged(damage)
        try:
            return self._arrays[name].get_orthogonal_selection((selection,))
        except Exception:
            damage = integrity.undecodable_chunks(self._arrays, self.manifest, name, tasks)
            if damage:
                self._damaged(damage)
            raise

    def _task_done(self, tasks=None) -> np.ndarray:
        tasks = np.arange(self.n_tasks) if tasks is None else np.asarray(tasks, np.int64)
        ask = tasks[~self._known_done[tasks]]
        if ask.size:
            self._known_done[ask] = self._checked("task_done", ask, ask).astype(bool)
        return self._known_done[tasks]

    def regenerate_hint(self) -> str:
        """How to finish this store, or regenerate its damaged samples (a sentence)."""
        return integrity.regenerate_hint(self.path, self.manifest)

    def completed_mask(self) -> np.ndarray:
        """Boolean per sample: True where its task has finished. Shape (n_samples,)."""
        return np.repeat(self._task_done(), self.samples_per_task)[: self.n_samples]

    def usable_indices(self) -> np.ndarray:
        """Indices of finished, physical samples (status 0 or 2), the ordinary training labels.

        Unphysical (1) and failed (3, 4) samples stay in the store, flagged, and are never
        returned here.
        """
        done = np.nonzero(self.completed_mask())[0]
        status = self.read(done, ["status"])["status"]
        return done[np.isin(status, (0, 2))]

    def read(self, indices, fields=None) -> dict[str, np.ndarray]:
        """Read the given samples (sorted indices) for the given fields.

        Raises
        ------
        StoreDamagedError
            If a chunk holding these samples is missing, truncated or fails its checksum.
        ValueError
            If a sample belongs to a task that has not finished (see :meth:`completed_mask`).
        """
        fields = fields or [k for k in self.group.array_keys() if k != "task_done"]
        idx = np.asarray(indices, np.int64)
        tasks = np.unique(idx // self.samples_per_task)
        done = self._task_done(tasks)
        if not np.all(done):
            t = int(tasks[~done][0])
            start, stop = t * self.samples_per_task, min((t + 1) * self.samples_per_task,
                                                         self.n_samples)  # fmt: skip
            raise ValueError(
                f"samples {start}-{stop - 1} of store {self.path} belong to task {t}, which "
                "`jaxjam generate` has not finished: read only samples of completed_mask(), or "
                f"finish the store. {integrity.regenerate_hint(self.path, self.manifest)}."
            )
        return {f: self._checked(f, tasks, idx) for f in fields}

    def iter_batches(
        self,
        batch_size: int,
        seed: int,
        indices=None,
        fields=None,
        window_chunks: int = 8,
        drop_last: bool = False,
    ) -> Iterator[dict[str, np.ndarray]]:
        """Shuffled batches, read lazily one window of chunks at a time.

        At most ``window_chunks`` chunks (plus one partial batch) are held in memory. Chunk
        order is shuffled, and samples are shuffled within the window.

        Parameters
        ----------
        batch_size : int
            Samples per batch.
        seed : int
            Seed of the shuffling (recorded by the caller).
        indices : array_like, optional
            Sample indices to draw from (default: :meth:`usable_indices`).
        fields : list of str, optional
            Arrays to read (default: all per-sample arrays).
        window_chunks : int
            Number of chunks per read window.
        drop_last : bool
            Drop the final incomplete batch.

        Yields
        ------
        dict
            ``{field: ndarray}`` with leading dimension ``batch_size``.
        """
        rng = np.random.default_rng(seed)
        idx = np.sort(np.asarray(self.usable_indices() if indices is None else indices))
        chunk_of = idx // self.samples_per_task
        chunks = np.unique(chunk_of)
        rng.shuffle(chunks)
        carry: dict[str, np.ndarray] | None = None
        for w in range(math.ceil(chunks.size / window_chunks)):
            sel = np.isin(chunk_of, chunks[w * window_chunks : (w + 1) * window_chunks])
            data = self.read(idx[sel], fields)
            perm = rng.permutation(int(sel.sum()))
            data = {k: v[perm] for k, v in data.items()}
            if carry is not None:
                data = {k: np.concatenate([carry[k], v]) for k, v in data.items()}
            n = len(next(iter(data.values())))
            n_full = n // batch_size
            for b in range(n_full):
                yield {k: v[b * batch_size : (b + 1) * batch_size] for k, v in data.items()}
            carry = {k: v[n_full * batch_size :] for k, v in data.items()}
        if carry is not None and not drop_last and len(next(iter(carry.values()))) > 0:
            yield carry


class _Arrays:
    """A store's arrays, each opened once (opening reads its metadata file)."""

    def __init__(self, group):
        self._group, self._open = group, {}

    def __getitem__(self, name):
        if name not in self._open:
            self._open[name] = self._group[name]
        return self._open[name]
