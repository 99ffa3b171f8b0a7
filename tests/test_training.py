"""The training loop: it learns, checkpoints every epoch, and resumes after a real kill."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from flax import nnx

from jaxjam.emulator.checkpoint import load_model
from jaxjam.emulator.network import NetworkConfig
from jaxjam.emulator.training import TrainConfig, train

NET = NetworkConfig(
    conv_channels=(4, 4, 4, 4, 4), n_features=8, mlp_width=32, mlp_depth=2, grid_shape=(8, 4)
)


def _leaves(model_dir):
    model, _, _ = load_model(model_dir)
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(nnx.to_pure_dict(nnx.split(model)[1]))]


@pytest.mark.slow
def test_tiny_dataset_overfits(tmp_path, tiny_store):
    cfg = TrainConfig(
        network=NET,
        batch_size=4,
        max_epochs=60,
        learning_rate=3e-3,
        warmup_epochs=2,
        val_fraction=0.2,
        window_chunks=8,
        patience=1000,
    )
    summary = train(tiny_store, tmp_path / "run", cfg, progress=False)
    hist = json.loads((tmp_path / "run" / "history.json").read_text())
    assert summary["epochs"] == 60 and len(hist) == 60
    first, last = hist[0]["train_loss"], min(h["train_loss"] for h in hist[-5:])
    assert last < 0.1 * first, f"training loss went from {first:.3g} to {last:.3g}"
    assert (tmp_path / "run" / "loss_curve.png").stat().st_size > 1000
    _, _, meta = load_model(tmp_path / "run" / "model")
    assert meta["best_epoch"] == summary["best_epoch"]
    assert (
        meta["data_manifest_hash"]
        == json.loads((tiny_store / "zarr.json").read_text())["attributes"]["manifest"]["hash"]
    )


def test_other_config_in_same_run_dir_is_refused(tmp_path, tiny_store):
    cfg = TrainConfig(network=NET, batch_size=4, max_epochs=1, val_fraction=0.2)
    train(tiny_store, tmp_path / "run", cfg, progress=False)
    with pytest.raises(ValueError, match="another config"):
        train(tiny_store, tmp_path / "run", TrainConfig(network=NET, max_epochs=2), progress=False)


@pytest.mark.slow
def test_real_kill_then_resume_matches_uninterrupted_run(tmp_path, tiny_store):
    cfg = TrainConfig(
        network=NET,
        batch_size=4,
        max_epochs=12,
        warmup_epochs=1,
        val_fraction=0.2,
        window_chunks=8,
        patience=1000,
    )
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps(cfg.to_dict()))
    ref = train(tiny_store, tmp_path / "ref", cfg, progress=False)

    run = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "jaxjam.cli.main",
        "train",
        "--data",
        str(tiny_store),
        "--out",
        str(run),
        "--config",
        str(cfg_file),
        "--quiet",
    ]
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 240
    while time.time() < deadline:
        time.sleep(0.1)
        hist = run / "history.json"
        if hist.exists():
            try:
                if len(json.loads(hist.read_text())) >= 3:
                    break
            except json.JSONDecodeError:
                pass
        assert proc.poll() is None, "training finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = len(json.loads((run / "history.json").read_text()))
    assert 3 <= n_before < 12
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    hist = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in hist] == list(range(12))  # nothing lost, nothing repeated
    assert json.loads(done.stdout)["best_epoch"] == ref["best_epoch"]
    ref_hist = json.loads((tmp_path / "ref" / "history.json").read_text())
    np.testing.assert_allclose(
        [h["val_loss"] for h in hist], [h["val_loss"] for h in ref_hist], rtol=1e-6
    )
    for a, b in zip(_leaves(run / "model"), _leaves(tmp_path / "ref" / "model"), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_streaming_and_in_memory_batches_prepare_the_same_data(tmp_path, tiny_store):
    """With a zero learning rate the network never changes, so the in-memory path and the
    lazy reader must give the same validation loss (same samples, same standardisation)."""
    val = {}
    for in_memory in (True, False):
        cfg = TrainConfig(network=NET, batch_size=4, max_epochs=1, val_fraction=0.2,
                          learning_rate=0.0, in_memory=in_memory, max_samples=24)  # fmt: skip
        train(tiny_store, tmp_path / f"r{in_memory}", cfg, progress=False)
        hist = json.loads((tmp_path / f"r{in_memory}" / "history.json").read_text())
        val[in_memory] = hist[0]["val_loss"]
        _, _, meta = load_model(tmp_path / f"r{in_memory}" / "model")
        assert meta["n_train"] + meta["n_val"] == 24
    assert np.isfinite(val[True])
    np.testing.assert_allclose(val[True], val[False], rtol=1e-5)


def test_max_samples_beyond_the_store_is_refused(tmp_path, tiny_store):
    cfg = TrainConfig(network=NET, batch_size=4, max_epochs=1, max_samples=10**6)
    with pytest.raises(ValueError, match="max_samples"):
        train(tiny_store, tmp_path / "run", cfg, progress=False)


def test_warm_start_resumes_from_a_model_and_refuses_another_architecture(tmp_path, tiny_store):
    """With a zero learning rate a warm-started run must keep the initial model's weights and
    normalisation exactly; a model of another architecture is refused by name."""
    base = TrainConfig(
        network=NET, batch_size=8, max_epochs=2, val_fraction=0.2, learning_rate=3e-3
    )
    train(tiny_store, tmp_path / "a", base, progress=False)
    init = str(tmp_path / "a" / "model")
    warm = TrainConfig(network=NET, batch_size=8, max_epochs=1, val_fraction=0.2,
                       learning_rate=0.0, seed=7, init_model=init)  # fmt: skip
    train(tiny_store, tmp_path / "b", warm, progress=False)
    for a, b in zip(
        _leaves(tmp_path / "a" / "model"), _leaves(tmp_path / "b" / "model"), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    assert (tmp_path / "a" / "normalization.json").read_text() == (
        tmp_path / "b" / "normalization.json"
    ).read_text()
    other = dataclasses.replace(warm, network=dataclasses.replace(NET, mlp_width=16))
    with pytest.raises(ValueError, match=r"init_model .* has network"):
        train(tiny_store, tmp_path / "c", other, progress=False)


def test_a_failed_jampy_sample_cannot_poison_the_loss(tiny_store):
    """A sample whose jampy maps are NaN (status 3) trains only the physicality output: its
    prepared targets and weights must be finite, or 0 × NaN would make the loss NaN."""
    import zarr

    from jaxjam.core.components import DEFAULT
    from jaxjam.emulator.training import fields, prepare_batch
    from jaxjam.emulator.transforms import Normalization, jam_scalars

    g = zarr.open_group(str(tiny_store), mode="r")
    batch = {k: np.array(g[k][:8]) for k in fields(DEFAULT)}
    r = np.geomspace(1e-3, 3, batch["A"].shape[1])
    qmin = np.where(batch["mge_mask"], batch["mge_qobs"], np.inf).min(axis=1)
    maps = np.stack([np.abs(batch["A"]) + 1e-3, batch["B"]], 1)
    norm = Normalization.fit(batch["image"], jam_scalars(batch["q_int"], batch["ratio"], qmin),
                             maps, r)  # fmt: skip
    batch["status"][0] = 3
    batch["A"][0], batch["B"][0] = np.nan, np.inf
    prepared = prepare_batch(batch, norm)
    for key, arr in prepared.items():
        assert np.all(np.isfinite(arr)), key
    assert prepared["physical"][0] == 0


def test_early_stopping_follows_the_chosen_metric(tmp_path, tiny_store):
    cfg = TrainConfig(network=NET, batch_size=4, max_epochs=6, learning_rate=3e-3,
                      warmup_epochs=1, val_fraction=0.2, window_chunks=8, patience=1000,
                      early_stopping_metric="val_rms_rel_vrms")  # fmt: skip
    summary = train(tiny_store, tmp_path / "run", cfg, progress=False)
    hist = json.loads((tmp_path / "run" / "history.json").read_text())
    rms = [h["val_rms_rel_vrms"] for h in hist]
    assert summary["best_epoch"] == int(np.argmin(rms))
    assert summary["best_score"] == min(rms)
    _, _, meta = load_model(tmp_path / "run" / "model")
    assert meta["best_epoch"] == summary["best_epoch"]
    with pytest.raises(ValueError, match="early_stopping_metric"):
        TrainConfig(early_stopping_metric="val_accuracy")


def test_sparse_checkpoints_still_save_the_best_model(tmp_path, tiny_store):
    """``checkpoint_every`` writes checkpoints every that many epochs and at the last; the
    best model, found between them, is written before the checkpoint that records it."""
    cfg = TrainConfig(network=NET, batch_size=4, max_epochs=6, learning_rate=3e-3,
                      warmup_epochs=1, val_fraction=0.2, window_chunks=8, patience=1000,
                      checkpoint_every=4, early_stopping_metric="val_rms_rel_vrms")  # fmt: skip
    summary = train(tiny_store, tmp_path / "run", cfg, progress=False)
    steps = sorted(int(p.name) for p in (tmp_path / "run" / "checkpoints").iterdir()
                   if p.name.isdigit())  # fmt: skip
    assert steps == [3, 5]
    hist = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(hist) == 6 and summary["best_epoch"] == int(
        np.argmin([h["val_rms_rel_vrms"] for h in hist])
    )
    _, _, meta = load_model(tmp_path / "run" / "model")
    assert meta["best_epoch"] == summary["best_epoch"]
    with pytest.raises(ValueError, match="checkpoint_every"):
        TrainConfig(checkpoint_every=0)
