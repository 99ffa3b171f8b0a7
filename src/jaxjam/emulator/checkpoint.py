"""Emulator checkpoints: the nnx state with Orbax, plus JSON metadata. Never pickles.

Layout of a model directory::

    MODEL_DIR/
      metadata.json    schema version, parameter order, network config, normalisation, grid,
                       image spec, validity domain, jampy version, training-set manifest hash
                       and seed, SHA-256 of the weights and of the normalisation, test metrics
      state/           Orbax StandardCheckpointer directory of the network parameters

Loading checks the schema version, the files, the checkpoint's index (the CRC-32C checksums of
the Orbax/OCDBT manifest and b-tree nodes), the parameter shapes and the two hashes, and fails
loudly with :class:`CheckpointError` otherwise: a changed byte in the weights, their index or
the normalisation is an error naming the file and the fix, never a silently different emulator.
Models saved before the hashes (no ``weights_sha256`` in their metadata) load unchecked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from jaxjam.core import components
from jaxjam.emulator.network import EmulatorNet, NetworkConfig
from jaxjam.emulator.transforms import SCALAR_NAMES, Normalization

__all__ = [
    "SCHEMA_VERSION",
    "CheckpointError",
    "is_packaged",
    "load_model",
    "normalization_sha256",
    "packaged_models_dir",
    "save_model",
    "update_metadata",
    "weights_sha256",
]

SCHEMA_VERSION = 1


class CheckpointError(RuntimeError):
    """A model directory is missing, incomplete, corrupt or of another schema."""


def weights_sha256(state) -> str:
    """SHA-256 of a network's weights, independent of how they are stored on disk.

    Parameters
    ----------
    state : pytree
        ``nnx.to_pure_dict`` of the network's state (or the tree Orbax restores).

    Returns
    -------
    str
        Hex digest over every array in key-path order: its path, dtype, shape and bytes.
    """
    h = hashlib.sha256()
    leaves = jax.tree_util.tree_flatten_with_path(state)[0]
    for key, leaf in sorted((_key_path(k), v) for k, v in leaves):
        a = np.ascontiguousarray(np.asarray(leaf))
        h.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _key_path(path) -> str:
    """``"encoder/conv/0/kernel"`` for a pytree key path (independent of jax's ``keystr``)."""
    parts = (getattr(k, "key", getattr(k, "idx", getattr(k, "name", k))) for k in path)
    return "/".join(str(p) for p in parts)


def normalization_sha256(normalization: dict) -> str:
    """SHA-256 of a normalisation as stored in ``metadata.json`` (canonical JSON)."""
    blob = json.dumps(json.loads(json.dumps(normalization)), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def save_model(path, model: EmulatorNet, normalization: Normalization, metadata: dict) -> Path:
    """Write a model directory (overwriting an existing one).

    Parameters
    ----------
    path : str or Path
        Model directory.
    model : EmulatorNet
        The network.
    normalization : Normalization
        Input and target statistics.
    metadata : dict
        JSON-serialisable extras: grid, image spec, validity domain, jampy version, data
        manifest hash, test metrics, ...

    Returns
    -------
    Path
        The model directory.
    """
    import orbax.checkpoint as ocp

    path = Path(path).absolute()
    path.mkdir(parents=True, exist_ok=True)
    _, state = nnx.split(model)
    pure = nnx.to_pure_dict(state)
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(path / "state", pure, force=True)
        ckptr.wait_until_finished()
    meta = {
        **metadata,
        "schema_version": SCHEMA_VERSION,
        "parameter_order": list(SCALAR_NAMES),
        "network": model.config.to_dict(),
        "components": list(components.names(normalization.components)),
        "normalization": normalization.to_dict(),
        "weights_sha256": weights_sha256(pure),
        "normalization_sha256": normalization_sha256(normalization.to_dict()),
    }
    _write_metadata(path, meta)
    return path


def _write_metadata(path: Path, meta: dict) -> None:
    tmp = path / "metadata.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1))
    tmp.replace(path / "metadata.json")  # atomic: never a half-written metadata file


def update_metadata(path, updates: dict) -> dict:
    """Merge ``updates`` into a model directory's metadata (e.g. ``test_metrics``)."""
    path = Path(path)
    meta = {**_read_metadata(path), **updates}
    _write_metadata(path, meta)
    return meta


def _read_metadata(path: Path) -> dict:
    if not path.exists():
        raise CheckpointError(f"no model directory at {path}")
    meta_file = path / "metadata.json"
    if not meta_file.is_file():
        raise CheckpointError(f"{path} has no metadata.json: not a jaxjam model directory")
    try:
        meta = json.loads(meta_file.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{meta_file} is corrupt: {exc}") from exc
    version = meta.get("schema_version")
    if version != SCHEMA_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint schema version {version!r}; this jaxjam reads version "
            f"{SCHEMA_VERSION}. Retrain, or install the jaxjam version that wrote it."
        )
    if meta.get("parameter_order") != list(SCALAR_NAMES):
        raise CheckpointError(
            f"{path} was trained with parameters {meta.get('parameter_order')}, expected "
            f"{list(SCALAR_NAMES)}"
        )
    if not (path / "state").is_dir():
        raise CheckpointError(f"{path} has no state/ directory (network weights)")
    return meta


def load_model(path) -> tuple[EmulatorNet, Normalization, dict]:
    """Load a model directory written by :func:`save_model`.

    Returns
    -------
    model : EmulatorNet
    normalization : Normalization
    metadata : dict

    Raises
    ------
    CheckpointError
        Missing directory or files, another schema version or parameter order, a damaged
        index of the weights (a CRC-32C checksum that fails), corrupt or mismatching weights,
        weights or normalisation that differ from their recorded SHA-256.
    """
    import orbax.checkpoint as ocp

    path = Path(path).absolute()
    meta = _read_metadata(path)
    expected = meta.get("normalization_sha256")
    if expected is not None and normalization_sha256(meta.get("normalization")) != expected:
        raise CheckpointError(
            f"the normalisation in {path}/metadata.json differs from its recorded SHA-256: the "
            f"file is damaged. {_recover(path)}"
        )
    try:
        config = NetworkConfig.from_dict(meta["network"])
        # models before the component list hold the stars and the black hole
        comps = components.by_name(meta.get("components", components.names(components.DEFAULT)))
        if config.n_components != len(comps):
            raise ValueError(f"the network has {config.n_components} component outputs but "
                             f"the metadata lists {len(comps)} components")  # fmt: skip
        normalization = Normalization.from_dict(meta["normalization"], comps)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}/metadata.json is incomplete: {exc}") from exc
    abstract = nnx.eval_shape(lambda: EmulatorNet(config, nnx.Rngs(0)))
    graphdef, abstract_state = nnx.split(abstract)
    # Restore onto this process's default device: a checkpoint written on a CPU must load on a
    # GPU and vice versa (without a sharding, Orbax refuses the other topology).
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    target = jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device),
        nnx.to_pure_dict(abstract_state),
    )
    _verify_index(path)  # a damaged index is named here, not inside Orbax's async restore
    try:
        with ocp.StandardCheckpointer() as ckptr:
            restored = ckptr.restore(path / "state", target)
    except Exception as exc:
        raise CheckpointError(f"cannot read the weights in {path}/state: "
                              f"{_tensorstore_text(exc)}. {_recover(path)}") from exc  # fmt: skip
    expected = meta.get("weights_sha256")
    if expected is not None and weights_sha256(restored) != expected:
        raise CheckpointError(
            f"the weights in {path}/state differ from the SHA-256 recorded in its "
            f"metadata.json: a weight file is damaged. {_recover(path)}"
        )
    for a, b in zip(jax.tree_util.tree_leaves(restored), jax.tree_util.tree_leaves(target),
                    strict=True):  # fmt: skip
        if a.shape != b.shape or not np.all(np.isfinite(np.asarray(a))):
            raise CheckpointError(f"weights in {path}/state are corrupt or do not match")
    nnx.replace_by_pure_dict(abstract_state, restored)
    return nnx.merge(graphdef, abstract_state), normalization, meta


def _tensorstore_text(exc: Exception) -> str:
    """A tensorstore error without the JSON spec it appends (kilobytes of driver options)."""
    import re

    text = re.sub(r"\s*\[tensorstore_spec.*", "", str(exc), flags=re.S)
    return re.sub(r"\.?\s*See full TensorStore details:.*", "", text, flags=re.S).strip()


def _verify_index(path: Path) -> None:
    """Read every entry of the weights' OCDBT database once, synchronously.

    tensorstore checks the CRC-32C checksum of the manifest and of every b-tree node (the
    index) as it reads them, and reading every value finds truncated or missing data files. A
    damaged file fails here with one clean message naming it; inside Orbax's asynchronous
    restore the same error comes buried in asyncio tracebacks and the tensorstore spec. (The
    weights' values are checked by their SHA-256 afterwards.) Errors that are not damage are
    left to the restore.

    Raises
    ------
    CheckpointError
        If a file is damaged: a checksum fails, it cannot be decoded, it is shorter than its
        index says, or it is missing.
    """
    import re

    state = path / "state"
    if not (state / "manifest.ocdbt").is_file():
        return
    try:
        import tensorstore as ts

        kv = ts.KvStore.open({"driver": "ocdbt", "base": f"file://{state}/"}).result()
        for key in kv.list().result():
            kv.read(key).result()
    except Exception as exc:
        text = _tensorstore_text(exc)
        damage = ("DATA_LOSS", "OUT_OF_RANGE", "NOT_FOUND", "checksum", "Error decoding")
        if not any(w in text for w in damage):
            return  # not damage this check recognises: the restore reports it
        files = re.findall(r'local file "([^"]+)"', text)
        where = files[-1] if files else "a file under state/"
        with contextlib.suppress(ValueError):
            where = str(Path(where).relative_to(path))
        reason = text.split(f'"{files[-1]}"')[-1].lstrip(": ") if files else text
        role = ", part of the checkpoint's index," if "node" in text or "manifest" in text else ""
        raise CheckpointError(
            f"a weight file in {path}/state is damaged: {where}{role} fails to read"
            f"{f' ({reason})' if reason else ''}. {_recover(path)}"
        ) from exc


def packaged_models_dir() -> Path:
    """The directory of the models shipped inside the installed package (``pretrained/``)."""
    from importlib import resources

    return Path(str(resources.files("jaxjam") / "pretrained"))


def is_packaged(path) -> bool:
    """Whether ``path`` lies inside the installed package's shipped models."""
    root = packaged_models_dir().resolve()
    return Path(path).resolve().is_relative_to(root)


def _recover(path: Path) -> str:
    """How to get an intact copy of a model directory."""
    if is_packaged(path):
        return ("Reinstall jaxjam (pip install --force-reinstall jaxjam), or rebuild the model "
                "as docs/training.md (Reproducing the pretrained model) describes")  # fmt: skip
    return (
        "Copy the model directory again from where it was trained, or retrain it "
        "(`jaxjam train` into a fresh --out)"
    )
