"""Training the emulator: Optax AdamW with warm-up + cosine schedule and gradient clipping,
a train/validation split by photometry, early stopping, and an Orbax CheckpointManager that
saves parameters, optimizer state and history every epoch so that a killed run resumes.

Run directory::

    RUN_DIR/
      train_config.json     the frozen TrainConfig
      data_used.json        the store's samples used (a resumed run must find the same)
      normalization.json    input/target statistics measured on the training split
      checkpoints/          Orbax CheckpointManager: one step per epoch (params, opt_state, meta)
      model/                best-validation model (jaxjam.emulator.checkpoint layout)
      history.json, loss_curve.png

The loss (:mod:`jaxjam.emulator.batches`), per physical sample and node, is the squared relative
error
of Vrms of each component's part at its loss scaling, plus the physicality term on every
sample. A factorised head (``network.head_rank``, the v2 layout) starts from the principal
components of the training targets.

A store whose generation has not finished is refused unless asked for (``allow_partial``), a
training split smaller than one batch is refused before anything is written, and an epoch
whose loss is not finite stops the run before anything of it is saved.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxjam.core import configs
from jaxjam.emulator.batches import FIELDS, fields, pca_basis, prepare_batch, qobs_min, store_inputs
from jaxjam.emulator.batches import loss_fn as _loss_fn
from jaxjam.emulator.checkpoint import save_model
from jaxjam.emulator.network import EmulatorNet, NetworkConfig, set_basis
from jaxjam.emulator.transforms import Normalization, jam_scalars

__all__ = ["FIELDS", "TrainConfig", "TrainingError", "fields", "prepare_batch", "train"]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training settings (dumped to ``train_config.json``).

    ``max_samples`` restricts training to the first that many finished samples of the store (in
    store order), so that a run on a store that is still being generated is reproducible and
    resumes on the same data: an incomplete store is accepted without ``allow_partial``
    (:func:`train`) when its first ``max_samples`` samples are all finished. ``in_memory``
    prepares the whole split once (about 30 KiB per sample) instead of reading and
    standardising every batch from disk each epoch.

    ``init_model`` warm-starts from a model directory (``jaxjam.emulator.checkpoint`` layout) of
    the same architecture: its weights initialise the network and its normalisation is reused, so
    that a
    model trained on part of a store can be fine-tuned on all of it. The optimizer and the
    schedule start afresh.

    ``early_stopping_metric`` picks the best epoch and drives ``patience``: ``"val_loss"`` (the
    training loss on the validation split) or ``"val_rms_rel_vrms"`` (the rms relative Vrms
    error of the A maps, the quantity the evaluation reports; the loss's black-hole and
    physicality terms make it noisy from epoch to epoch on large stores).

    ``checkpoint_every`` writes the checkpoint, the history, the loss plot and the best model
    every that many epochs (and at the last): on small stores an epoch takes milliseconds and
    the writes would dominate. A killed run repeats at most that many epochs.
    """

    network: NetworkConfig = NetworkConfig()
    batch_size: int = 256
    max_epochs: int = 400
    learning_rate: float = 1e-3
    warmup_epochs: int = 5
    weight_decay: float = 1e-5
    grad_clip_norm: float = 1.0
    patience: int = 40
    val_fraction: float = 0.1
    seed: int = 0
    bh_loss_fraction: float = 1e-2
    physical_loss_weight: float = 1e-3
    norm_samples: int = 5000
    window_chunks: int = 64
    max_to_keep: int = 2
    checkpoint_every: int = 1
    max_samples: int | None = None
    in_memory: bool = True
    init_model: str | None = None
    early_stopping_metric: str = "val_loss"

    def __post_init__(self):
        at_least = {"batch_size": 1, "max_epochs": 1, "warmup_epochs": 0, "patience": 0,
                    "norm_samples": 1, "window_chunks": 1, "max_to_keep": 1,
                    "checkpoint_every": 1}  # fmt: skip
        for name, low in at_least.items():
            val = getattr(self, name)
            if isinstance(val, bool) or not isinstance(val, numbers.Integral) or val < low:
                raise ValueError(f"TrainConfig.{name} must be an integer >= {low}, got {val!r}")
        if self.max_samples is not None and not (
            isinstance(self.max_samples, numbers.Integral) and self.max_samples >= 1
        ):
            raise ValueError("TrainConfig.max_samples must be None or an integer >= 1, got "
                             f"{self.max_samples!r}")  # fmt: skip
        for name, low in (("learning_rate", ">= 0"), ("weight_decay", ">= 0"),
                          ("grad_clip_norm", "> 0"), ("bh_loss_fraction", ">= 0"),
                          ("physical_loss_weight", ">= 0")):  # fmt: skip
            val = getattr(self, name)
            ok = isinstance(val, numbers.Real) and not isinstance(val, bool) and np.isfinite(val)
            if not ok or val < 0 or (low == "> 0" and val == 0):
                raise ValueError(f"TrainConfig.{name} must be a finite number {low}, got {val!r}")
        if not (isinstance(self.val_fraction, numbers.Real) and 0 < self.val_fraction < 1):
            raise ValueError(f"TrainConfig.val_fraction must lie in (0, 1), got "
                             f"{self.val_fraction!r}")  # fmt: skip
        if self.early_stopping_metric not in ("val_loss", "val_rms_rel_vrms"):
            raise ValueError("early_stopping_metric must be 'val_loss' or 'val_rms_rel_vrms', got "
                             f"{self.early_stopping_metric!r}")  # fmt: skip

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """From a dict, the network's config included; unknown keys are refused
        (:func:`jaxjam.core.configs.from_dict`)."""
        return configs.from_dict(cls, d)

    @classmethod
    def from_json(cls, path) -> TrainConfig:
        """From a JSON file (:func:`jaxjam.core.configs.from_json`)."""
        return configs.from_json(cls, path)


def _radius_edges(norm, cfg):
    """The grid's first and last radius for a radius physicality head, else None."""
    if cfg.network.physicality != "radius":
        return None
    return float(norm.r_re[0]), float(norm.r_re[-1])


def _batches(store, indices, seed, drop_last, norm, cfg):
    """Prepared batches read lazily from the store (one window of chunks at a time)."""
    edges = _radius_edges(norm, cfg)
    for raw in store.iter_batches(
        cfg.batch_size,
        seed=seed,
        indices=indices,
        fields=fields(norm.components, edges is not None),
        window_chunks=cfg.window_chunks,
        drop_last=drop_last,
    ):
        yield prepare_batch(raw, norm, cfg.bh_loss_fraction, edges)


def _prepare_all(store, indices, norm, cfg) -> dict:
    """All samples of a split, prepared once (order is irrelevant: every epoch reshuffles)."""
    parts = list(_batches(store, np.sort(indices), 0, False, norm, cfg))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _iter_prepared(data: dict, batch_size: int, seed: int, drop_last: bool):
    """Shuffled batches of an in-memory prepared split."""
    n = len(data["physical"])
    perm = np.random.default_rng(seed).permutation(n)
    stop = n - n % batch_size if drop_last else n
    for i in range(0, stop, batch_size):
        sel = perm[i : i + batch_size]
        yield {k: v[sel] for k, v in data.items()}


def _make_steps(graphdef, rest, tx, norm_arrays, cfg):
    @jax.jit
    def train_step(params, opt_state, batch):
        grad_fn = jax.value_and_grad(_loss_fn, argnums=1, has_aux=True)
        (_, aux), grads = grad_fn(graphdef, params, rest, batch, norm_arrays, cfg)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, aux

    @jax.jit
    def eval_step(params, batch):
        return _loss_fn(graphdef, params, rest, batch, norm_arrays, cfg)[1]

    return train_step, eval_step


def _domain(manifest: dict) -> dict:
    """Validity domain of a model trained on a store: the generator's parameter ranges."""
    sampler = manifest["config"]["sampler"]
    grid = manifest["grid"]
    return {
        "q_int_min": 0.051,
        "ratio": list(sampler["ratio"]),
        "qobs_min": [sampler["q_floor"], 1.0],
        "radius_re": [grid["r_min_re"], grid["r_max_re"]],
        # M_BH/(Υ L_tot) up to which the labels' maps were checked (Emulator.check_mbh)
        "mbh_fraction_max": manifest["config"].get("labels", {}).get("bh_max_fraction", 1e-2),
    }


def _init_model(config: TrainConfig, manifest: dict):
    """Load ``config.init_model`` and check that it can warm-start this run."""
    from jaxjam.emulator.checkpoint import load_model

    model, norm, meta = load_model(config.init_model)
    if model.config != config.network:
        raise ValueError(
            f"init_model {config.init_model} has network {model.config.to_dict()}, "
            f"not the configured {config.network.to_dict()}"
        )
    if meta["grid"] != manifest["grid"] or meta["image"] != manifest["image"]:
        raise ValueError(f"init_model {config.init_model} was trained on another grid or image")
    return model, norm


def _plot_history(history, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogy(ep, [h["train_loss"] for h in history], label="train")
    ax.semilogy(ep, [h["val_loss"] for h in history], label="validation")
    ax.set(xlabel="epoch", ylabel="loss (≈ mean squared relative Vrms error)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


class TrainingError(ValueError):
    """Training cannot give a model: no optimizer step would run, or the loss is not finite."""


def train(data, run_dir, config: TrainConfig = TrainConfig(), progress: bool = True,
          allow_partial: bool = False) -> dict:  # fmt: skip
    """Train (or resume training) an emulator on a store.

    Parameters
    ----------
    data : str or Path
        Training store written by ``jaxjam generate``.
    run_dir : str or Path
        Run directory; if it holds checkpoints of the same config, training resumes from the
        last one.
    config : TrainConfig
        Settings; the seed drives initialisation, the split and the batch order.
    progress : bool
        Show a progress bar.
    allow_partial : bool
        Train on the finished samples of a store whose generation has not finished (``jaxjam
        train --allow-partial``). Without it such a store is refused, unless
        ``config.max_samples`` asks only for samples at the start of the store that are all
        finished. Either way the model's metadata records the samples used (``data_used``).

    Returns
    -------
    dict
        Summary: epochs run, best epoch and validation loss, model directory.

    Raises
    ------
    ValueError
        For an incomplete store (without ``allow_partial``), a run directory holding another
        run, or a config that does not fit the store.
    TrainingError
        If the training split is smaller than one batch (no optimizer step would run), or the
        loss of an epoch is not finite; no model is written from such an epoch.
    jaxjam.data_gen.store.StoreDamagedError
        If the store is damaged.
    """
    import orbax.checkpoint as ocp
    from tqdm.auto import tqdm

    from jaxjam.data_gen.store import StoreReader

    run_dir = Path(run_dir).absolute()
    _check_run_dir(run_dir, config)
    store = StoreReader(data)
    train_idx, val_idx, used = _split(store, data, config, allow_partial)
    _store_components(store, config)
    if train_idx.size < config.batch_size:
        raise TrainingError(
            f"the training split of store {data} has {train_idx.size} samples, fewer than "
            f"batch_size = {config.batch_size}: no optimizer step would run (an epoch takes only "
            f"full batches) and the model would be untrained. Set batch_size to at most "
            f"{train_idx.size} (--config), or train on a larger store"
        )
    init = _init_model(config, store.manifest) if config.init_model else None
    _claim_run_dir(run_dir, config, used)
    norm = _normalization(store, train_idx, config, run_dir / "normalization.json", init)
    norm_arrays = (tuple(jnp.asarray(s) for s in norm.target_std), jnp.asarray(norm.r_re),
                   tuple(c.target == "linear_r" for c in norm.components),
                   tuple(c.input_scale is not None for c in norm.components))  # fmt: skip

    model = init[0] if init is not None else EmulatorNet(config.network, nnx.Rngs(config.seed))
    if init is None and config.network.head_rank is not None:
        _init_bases(model, store, train_idx, norm, config)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx = _optimizer(config, max(1, train_idx.size // config.batch_size))
    opt_state = tx.init(params)
    train_step, eval_step = _make_steps(graphdef, rest, tx, norm_arrays, config)
    batches = _batch_source(store, {"train": train_idx, "val": val_idx}, norm, config)

    options = ocp.CheckpointManagerOptions(max_to_keep=config.max_to_keep, create=True)
    history, best = [], {"score": np.inf, "epoch": -1, "since": 0}
    with ocp.CheckpointManager(run_dir / "checkpoints", options=options) as mngr:
        start, unsaved = 0, None
        if mngr.latest_step() is not None:
            params, opt_state, history, best, start = _restore(mngr, params, opt_state)
        bar = tqdm(range(start, config.max_epochs), initial=start, total=config.max_epochs,
                   unit="epoch", disable=not progress, desc="training")  # fmt: skip
        for epoch in bar:
            if best["since"] >= config.patience:
                break
            params, opt_state, row = _epoch(epoch, params, opt_state, train_step, eval_step,
                                            batches, config)  # fmt: skip
            _check_epoch(row, run_dir, best)  # before anything of this epoch is saved
            history.append(row)
            score = row[config.early_stopping_metric]
            if score < best["score"]:
                best = {"score": score, "epoch": epoch, "since": 0}
                unsaved = (params, row["val_loss"])
            else:
                best["since"] += 1
            last = epoch == config.max_epochs - 1 or best["since"] >= config.patience
            if (epoch + 1) % config.checkpoint_every == 0 or last:
                # the best model first, then the checkpoint that records it: a run killed
                # between checkpoints resumes from the last one, whose best model is on disk
                if unsaved is not None:
                    save_model(run_dir / "model", nnx.merge(graphdef, unsaved[0], rest), norm,
                               _model_metadata(store.manifest, config, best["epoch"],
                                               train_idx.size, val_idx.size,
                                               unsaved[1], used))  # fmt: skip
                    unsaved = None
                _checkpoint(mngr, epoch, params, opt_state, history, best)
                (run_dir / "history.json").write_text(json.dumps(history, indent=1))
                _plot_history(history, run_dir / "loss_curve.png")
            bar.set_postfix(train=f"{row['train_loss']:.2e}", val=f"{row['val_loss']:.2e}")
        bar.close()
    return {
        "run_dir": str(run_dir),
        "epochs": len(history),
        "best_epoch": best["epoch"],
        "best_val_loss": history[best["epoch"]]["val_loss"] if history else None,
        "best_score": best["score"],
        "model": str(run_dir / "model"),
    }


def _check_run_dir(run_dir: Path, config: TrainConfig) -> None:
    """Refuse a run directory that holds a run with another config (writes nothing)."""
    cfg_file = run_dir / "train_config.json"
    if cfg_file.exists():
        stored = json.loads(cfg_file.read_text())
        if stored != json.loads(json.dumps(config.to_dict())):
            raise ValueError(f"{run_dir} holds a run with another config; use another --out")


def _claim_run_dir(run_dir: Path, config: TrainConfig, used: dict) -> None:
    """Create the run directory and record the config and the samples used; refuse one that
    holds another run, or a run on other samples of the store (a partial store that has grown
    since)."""
    _check_run_dir(run_dir, config)
    used_file = run_dir / "data_used.json"
    if used_file.exists():
        before = json.loads(used_file.read_text())
        if before.get("samples_sha256") != used["samples_sha256"]:
            raise ValueError(
                f"{run_dir} holds a run on other samples of the store ({before.get('n_samples')}"
                f" then, {used['n_samples']} now: the store changed since, e.g. more of its "
                "tasks finished); train into another --out, or set max_samples to train on a "
                "fixed part of the store"
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg_file = run_dir / "train_config.json"
    if not cfg_file.exists():
        cfg_file.write_text(json.dumps(config.to_dict(), indent=1))
    if not used_file.exists():
        used_file.write_text(json.dumps(used, indent=1))


def _ranges(values) -> str:
    """``[0, 1, 2, 5]`` → ``"0-2,5"``."""
    v = np.asarray(values, np.int64)
    if v.size == 0:
        return ""
    breaks = np.nonzero(np.diff(v) != 1)[0] + 1
    return ",".join(f"{r[0]}-{r[-1]}" if r.size > 1 else f"{r[0]}"
                    for r in np.split(v, breaks))  # fmt: skip


def _split(store, data, config: TrainConfig,
           allow_partial: bool = False) -> tuple[np.ndarray, np.ndarray, dict]:  # fmt: skip
    """Finished samples (the first ``max_samples``), split by photometry: train and val
    indices into the store, and what was used (recorded as the model's ``data_used``).

    An incomplete store is refused unless ``allow_partial``, or unless ``max_samples`` asks
    only for samples at the start of the store that are all finished (then the samples used
    do not depend on which tasks happened to finish)."""
    import hashlib

    from jaxjam.data_gen.store import split_by_photometry

    finished = store.completed_mask()
    done = np.nonzero(finished)[0]
    complete = bool(finished.all())
    prefix = int(np.argmin(finished)) if not complete else finished.size  # finished at start
    fixed = config.max_samples is not None and config.max_samples <= prefix
    if not (complete or fixed or allow_partial):
        n_tasks_done = np.unique(done // store.samples_per_task).size
        at_start = (f", or set max_samples to at most {prefix} (the finished samples at the "
                    "start of the store)" if prefix >= 2 else "")  # fmt: skip
        raise ValueError(
            f"store {data} is incomplete: {done.size} of its {store.n_samples} samples are "
            f"finished ({n_tasks_done} of {store.n_tasks} tasks; its `jaxjam generate` was "
            "stopped, or is still running). Finish it first. "
            f"{store.regenerate_hint()}. Or pass --allow-partial "
            "(train(..., allow_partial=True)) to train on the finished samples only, which the "
            f"model then records{at_start}"
        )
    if config.max_samples is not None:
        if done.size < config.max_samples:
            raise ValueError(
                f"store {data} has {done.size} finished samples, fewer than "
                f"max_samples={config.max_samples}"
            )
        done = done[: config.max_samples]
    if done.size < 2:
        raise ValueError(f"store {data} has fewer than 2 finished samples")
    pid = store.read(done, ["photometry_id"])["photometry_id"]
    tr_pos, va_pos = split_by_photometry(pid, config.val_fraction, config.seed)
    used = {
        "store_complete": complete,  # every task of the store had finished
        "n_samples": int(done.size),  # train + validation
        "n_samples_in_store": int(store.n_samples),
        "samples": _ranges(done),
        "tasks": _ranges(np.unique(done // store.samples_per_task)),
        "samples_sha256": hashlib.sha256(np.asarray(done, "<i8").tobytes()).hexdigest(),
    }
    return done[tr_pos], done[va_pos], used


def _normalization(store, train_idx, config: TrainConfig, norm_file: Path, init):
    """The run's normalisation: as recorded, the initial model's, or measured on up to
    ``norm_samples`` physical training samples (then recorded)."""
    comps = _store_components(store, config)
    if norm_file.exists():
        return Normalization.from_dict(json.loads(norm_file.read_text()), comps)
    if init is not None:
        norm = init[1]
    else:
        s = _norm_sample(store, train_idx, config, comps)
        g = store.manifest["grid"]
        grid_r = np.exp(np.linspace(np.log(g["r_min_re"]), np.log(g["r_max_re"]), g["n_r"]))
        maps = np.stack([s[c.symbol] for c in comps], axis=1)
        norm = Normalization.fit(s["image"], jam_scalars(s["q_int"], s["ratio"], qobs_min(s)),
                                 maps, grid_r, components=comps,
                                 inputs=store_inputs(s, comps))  # fmt: skip
    norm_file.write_text(json.dumps(norm.to_dict()))
    return norm


def _norm_sample(store, train_idx, config: TrainConfig, comps) -> dict:
    """Up to ``norm_samples`` physical training samples (seeded), in store order."""
    status = store.read(train_idx, ["status"])["status"]
    phys = train_idx[np.isin(status, (0, 2))]
    rng = np.random.default_rng(config.seed)
    pick = np.sort(rng.choice(phys, size=min(config.norm_samples, phys.size), replace=False))
    return store.read(pick, fields(comps))


def _init_bases(model, store, train_idx, norm, config: TrainConfig) -> None:
    """Start each component's basis (factorised head) from its targets' principal maps on
    the normalisation sample."""
    s = _norm_sample(store, train_idx, config, norm.components)
    maps = np.stack([s[c.symbol] for c in norm.components], axis=1)
    z = norm.encode_targets(maps, store_inputs(s, norm.components))
    for k in range(len(norm.components)):
        set_basis(model, k, pca_basis(z[:, k].reshape(len(z), -1), config.network.head_rank))


def _store_components(store, config: TrainConfig):
    """The store's model components (stores before the component list: stars and black hole),
    checked against the network's outputs."""
    from jaxjam.core import components

    comps = components.by_name(store.manifest["config"].get("components", ("stars", "black_hole")))
    if config.network.n_components != len(comps):
        raise ValueError(f"the store labels {len(comps)} components "
                         f"{components.names(comps)}; set network.n_components = {len(comps)} "
                         f"(it is {config.network.n_components})")  # fmt: skip
    want = tuple(tuple(c.input_range) if c.input_name else None for c in comps)
    have = config.network.input_ranges or (None,) * len(comps)
    if tuple(None if r is None else tuple(r) for r in have) != want:
        raise ValueError(f"the store's components {components.names(comps)} take inputs over "
                         f"{list(want)}; set network.input_ranges = {list(want)} (and a "
                         f"head_rank), it is {list(have)}")  # fmt: skip
    if config.network.physicality == "radius" and not store.manifest["config"].get(
        "physical_radius", False
    ):
        raise ValueError("network.physicality = 'radius' needs a store generated with "
                         "physical_radius = true (per-sample physical radii)")  # fmt: skip
    return comps


def _optimizer(config: TrainConfig, steps_per_epoch: int):
    """AdamW with a warm-up and cosine decay, after global-norm clipping (Optax)."""
    warmup = config.warmup_epochs * steps_per_epoch
    schedule = optax.warmup_cosine_decay_schedule(
        0.0,
        config.learning_rate,
        warmup,
        max(warmup + 1, config.max_epochs * steps_per_epoch),
        end_value=config.learning_rate * 1e-2,
    )
    return optax.chain(
        optax.clip_by_global_norm(config.grad_clip_norm),
        optax.adamw(schedule, weight_decay=config.weight_decay),
    )


def _batch_source(store, splits: dict, norm, config: TrainConfig):
    """``batches(split, seed, drop_last)``: from memory (``config.in_memory``) or the store."""
    cached = (
        {k: _prepare_all(store, idx, norm, config) for k, idx in splits.items()}
        if config.in_memory
        else None
    )

    def batches(split: str, seed: int, drop_last: bool):
        if cached is not None:
            return _iter_prepared(cached[split], config.batch_size, seed, drop_last)
        return _batches(store, splits[split], seed, drop_last, norm, config)

    return batches


def _model_metadata(manifest: dict, config: TrainConfig, best_epoch: int, n_train: int,
                    n_val: int, val_loss: float, used: dict) -> dict:  # fmt: skip
    """What every saved model records about its data and training (keys in this order):
    ``data_manifest_hash`` names the store, ``data_used`` the samples of it that were used."""
    return {
        "grid": manifest["grid"],
        "domain": _domain(manifest),
        "image": manifest["image"],
        "jampy_version": manifest["versions"]["jampy"],
        "data_manifest_hash": manifest["hash"],
        "data_seed": manifest["seed"],  # a store of the same seed repeats these samples
        "data_used": used,
        "train_config": config.to_dict(),
        "best_epoch": best_epoch,
        "n_train": int(n_train),
        "n_val": int(n_val),
        "val_loss": val_loss,
    }


def _check_epoch(row: dict, run_dir: Path, best: dict) -> None:
    """Refuse an epoch without an optimizer step or with a loss that is not finite."""
    losses = (row["train_loss"], row["val_loss"])
    if row["steps"] > 0 and np.all(np.isfinite(losses)):
        return
    kept = (f"; the model in {run_dir / 'model'} is the best of the epochs before "
            f"(epoch {best['epoch']})" if best["epoch"] >= 0 and (run_dir / "model").exists()
            else "; no model was written")  # fmt: skip
    if row["steps"] == 0:
        why = "ran no optimizer step (fewer training samples than batch_size)"
        fix = "Set a smaller batch_size (--config), or train on a larger store"
    else:
        why = f"gave a training loss of {losses[0]} and a validation loss of {losses[1]}"
        fix = ("Lower learning_rate or grad_clip_norm (--config), check the store's samples, "
               "and train into a fresh --out")  # fmt: skip
    raise TrainingError(f"epoch {row['epoch']} {why}: nothing of it was saved{kept}. {fix}")


def _epoch(epoch, params, opt_state, train_step, eval_step, batches, config: TrainConfig):
    """One pass over the training batches (seeded by epoch), then the validation set."""
    t0 = time.perf_counter()
    tr = []
    for batch in batches("train", config.seed * 100003 + epoch, True):
        params, opt_state, aux = train_step(params, opt_state, batch)
        tr.append(aux)
    va = [eval_step(params, batch) for batch in batches("val", 0, False)]
    row = {
        "epoch": epoch,
        "seconds": time.perf_counter() - t0,
        "train_loss": float(np.mean([a["loss"] for a in tr])) if tr else float("nan"),
        "val_loss": float(np.mean([a["loss"] for a in va])),
        "val_rms_rel_vrms": float(np.mean([a["rms_rel_vrms_a"] for a in va])),
        "steps": len(tr),
    }
    for key in va[0] if va else ():  # the further components' rms relative Vrms errors
        if key.startswith("rms_rel_vrms_") and key != "rms_rel_vrms_a":
            row[f"val_{key}"] = float(np.mean([a[key] for a in va]))
    return params, opt_state, row


def _restore(mngr, params, opt_state):
    """The latest checkpoint: parameters, optimiser state, history, best and next epoch."""
    import orbax.checkpoint as ocp

    step = mngr.latest_step()
    restored = mngr.restore(
        step,
        args=ocp.args.Composite(
            params=ocp.args.StandardRestore(nnx.to_pure_dict(params)),
            opt_state=ocp.args.StandardRestore(opt_state),
            meta=ocp.args.JsonRestore(),
        ),
    )
    nnx.replace_by_pure_dict(params, restored["params"])
    meta = restored["meta"]
    return params, restored["opt_state"], meta["history"], meta["best"], step + 1


def _checkpoint(mngr, epoch, params, opt_state, history, best) -> None:
    """Save this epoch's state (Orbax) and wait for it: a kill loses the epochs since."""
    import orbax.checkpoint as ocp

    mngr.save(
        epoch,
        args=ocp.args.Composite(
            params=ocp.args.StandardSave(nnx.to_pure_dict(params)),
            opt_state=ocp.args.StandardSave(opt_state),
            meta=ocp.args.JsonSave({"history": history, "best": best}),
        ),
    )
    mngr.wait_until_finished()
