"""Nothing silently wrong (issue 18): evaluation never rewrites a model, and damaged stores and
weights (deleted, truncated or bit-flipped files, made for real) are found and named."""

import dataclasses
import hashlib
import json
import shutil
from importlib import resources

import numpy as np
import pytest
import zarr
from click.testing import CliRunner

from jaxjam.cli.main import main
from jaxjam.data_gen.generate import generate
from jaxjam.data_gen.store import StoreReader
from jaxjam.emulator.checkpoint import CheckpointError, load_model
from jaxjam.emulator.emulator import default_model_dir
from jaxjam.emulator.network import NetworkConfig
from jaxjam.emulator.training import TrainConfig, train

MGE = resources.files("jaxjam") / "data" / "m32_mge.txt"
KIN = resources.files("jampy") / "examples" / "jam_mock_kinematics_black_hole.txt"
N, SEED = 8, 21  # the training store: 2 tasks of 4 samples (conftest.tiny_config)
NET = NetworkConfig(conv_channels=(4, 4, 4, 4, 4), n_features=8, mlp_width=32, mlp_depth=2,
                    grid_shape=(8, 4))  # fmt: skip
TRAIN = TrainConfig(network=NET, batch_size=4, max_epochs=1, val_fraction=0.25, warmup_epochs=0)


@pytest.fixture(scope="module")
def scheduler():
    """One in-process dask cluster for every generation of this module (no start-up cost)."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster:  # fmt: skip
        yield cluster.scheduler_address


def _generate(path, n, seed, config, scheduler):
    return generate(path, n, seed=seed, config=config, scheduler=scheduler, progress=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory, tiny_config, scheduler):
    """The tiny finished store of this module (seed 21, 8 samples): the model's training set."""
    path = tmp_path_factory.mktemp("integrity") / "train.zarr"
    _generate(path, N, SEED, tiny_config, scheduler)
    return path


@pytest.fixture(scope="module")
def held_out(tmp_path_factory, tiny_config, scheduler):
    """A held-out store: another seed, one task."""
    path = tmp_path_factory.mktemp("held_out") / "held_out.zarr"
    _generate(path, 4, SEED + 1, tiny_config, scheduler)
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, store):
    """A model trained for one epoch on ``store`` (run directory)."""
    run = tmp_path_factory.mktemp("model") / "run"
    train(store, run, TRAIN, progress=False)
    return run


def _copy(src, tmp_path, name="copy.zarr"):
    dst = tmp_path / name
    shutil.copytree(src, dst)
    return dst


def _arrays(path):
    g = zarr.open_group(str(path), mode="r")
    return {k: g[k][:] for k in g.array_keys()}


def _snapshot(directory):
    return {str(f.relative_to(directory)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(directory.rglob("*")) if f.is_file()}  # fmt: skip


def _flip(path, offset=None, mask=0x10):
    data = bytearray(path.read_bytes())
    data[len(data) // 2 if offset is None else offset] ^= mask
    path.write_bytes(bytes(data))


def _assert_repaired(path, reference, tiny_config, scheduler):
    """A rerun of generate regenerates exactly the damaged task, bit-identical."""
    summary = _generate(path, N, SEED, tiny_config, scheduler)
    assert summary["n_tasks_repaired"] == 1 and summary["n_tasks_run"] == 1
    after, ref = _arrays(path), _arrays(reference)
    assert after.keys() == ref.keys()
    for k in ref:
        np.testing.assert_array_equal(after[k], ref[k], err_msg=k)
    StoreReader(path).read(np.arange(N))  # reads cleanly again
    assert _generate(path, N, SEED, tiny_config, scheduler)["n_tasks_run"] == 0


# ----------------------------------------------------------------- 1. evaluation never writes


def test_evaluate_writes_beside_the_model_and_never_changes_it(tmp_path, model_dir, held_out):
    before = _snapshot(model_dir / "model")
    out = tmp_path / "results" / "eval.json"
    args = ["evaluate", "--model", str(model_dir), "--data", str(held_out), "--n-real", "0"]
    res = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert _snapshot(model_dir / "model") == before  # not a byte of the model changed
    ev = json.loads(out.read_text())
    meta = json.loads((model_dir / "model" / "metadata.json").read_text())
    assert "test_metrics" not in meta
    assert ev["model_weights_sha256"] == meta["weights_sha256"]
    assert ev["data_seed"] == SEED + 1 and ev["training_data_seed"] == SEED
    assert ev["store"]["no_bh"]["n_maps"] == ev["error_model"]["n_maps"] > 0
    assert (out.parent / "eval_no_bh.png").stat().st_size > 1000
    again = CliRunner().invoke(main, [*args, "--out", str(out)])  # never overwrites
    assert again.exit_code != 0 and "exists" in again.output
    inside = CliRunner().invoke(main, [*args, "--out", str(model_dir / "model" / "e.json")])
    assert inside.exit_code != 0 and "inside the model directory" in inside.output
    assert _snapshot(model_dir / "model") == before


def test_attaching_metrics_is_explicit_and_refuses_small_overlapping_or_packaged(
    tmp_path, model_dir, held_out, tiny_config, scheduler
):
    from jaxjam.emulator.evaluation import MIN_ATTACH_MAPS, attach_test_metrics, evaluate

    model = model_dir / "model"
    ev_file = tmp_path / "eval.json"
    ev = evaluate(model_dir, held_out, ev_file, n_real_draws=0)
    n_maps = ev["error_model"]["n_maps"]
    assert 0 < n_maps < MIN_ATTACH_MAPS
    before = _snapshot(model)
    res = CliRunner().invoke(main, ["attach-metrics", "--model", str(model_dir),
                                    "--evaluation", str(ev_file)])  # fmt: skip
    assert res.exit_code != 0 and f"{n_maps} held-out maps, fewer than" in res.output
    assert _snapshot(model) == before

    # a store of the training seed repeats the training samples, whatever its size
    same_seed = tmp_path / "same_seed.zarr"
    _generate(same_seed, 4, SEED, tiny_config, scheduler)
    with pytest.warns(UserWarning, match="overlaps the model's training set"):
        overlapping = evaluate(model_dir, same_seed, tmp_path / "same.json", n_real_draws=0)
    assert "seed 21" in overlapping["overlaps_training_set"]
    with pytest.raises(ValueError, match=r"overlaps the training set.*seed 21"):
        attach_test_metrics(model_dir, tmp_path / "same.json", min_maps=1)

    # the installed package's model is never written, whatever the evaluation
    shipped = default_model_dir() / "metadata.json"
    shipped_bytes = shipped.read_bytes()
    with pytest.raises(ValueError, match="inside the installed jaxjam package"):
        attach_test_metrics(default_model_dir(), ev_file, min_maps=1)
    assert shipped.read_bytes() == shipped_bytes
    # ... and an evaluation of these weights does not describe another model's
    other = tmp_path / "other_model"
    shutil.copytree(default_model_dir(), other)
    with pytest.raises(ValueError, match="other weights"):
        attach_test_metrics(other, ev_file, min_maps=1)
    assert _snapshot(model) == before

    # the explicit step, on an acceptable evaluation, writes exactly these metrics
    meta = attach_test_metrics(model_dir, ev_file, min_maps=n_maps)
    tm = json.loads((model / "metadata.json").read_text())["test_metrics"]
    assert tm == meta["test_metrics"] and tm["error_model"] == ev["error_model"]
    assert tm["data_manifest_hash"] == ev["data_manifest_hash"] and tm["data_seed"] == SEED + 1
    load_model(model)  # the weights' hash still holds


# ---------------------------------------------------------------------- 2. missing chunks


def test_a_deleted_chunk_is_refused_on_read_and_regenerated_on_resume(
    tmp_path, store, tiny_config, scheduler
):
    from jaxjam.data_gen.store import StoreDamagedError

    path = _copy(store, tmp_path)
    (path / "A" / "c" / "1" / "0" / "0").unlink()
    reader = StoreReader(path)
    assert reader.completed_mask().all()  # the task is marked done ...
    with pytest.raises(StoreDamagedError, match=r"A chunk A/c/1/0/0 \(task 1, samples 4-7\) "
                       r"is missing.*jaxjam generate --out .* --n 8 --seed 21"):  # fmt: skip
        reader.read(np.arange(N))  # ... but its A maps are not read as zeros
    with pytest.raises(StoreDamagedError, match="A chunk"):
        next(reader.iter_batches(4, seed=0, fields=["A"]))
    _assert_repaired(path, store, tiny_config, scheduler)

    # a status chunk of a store of physical samples holds only zeros, and is still on disk
    path = _copy(store, tmp_path, "status.zarr")
    (path / "status" / "c" / "0").unlink()
    with pytest.raises(StoreDamagedError, match=r"status chunk status/c/0 \(task 0"):
        StoreReader(path).usable_indices()


def test_evaluate_and_train_exit_with_the_damaged_chunk_named(tmp_path, model_dir, held_out, store):
    path = _copy(held_out, tmp_path, "held_out.zarr")
    (path / "A" / "c" / "0" / "0" / "0").unlink()
    args = ["--n-real", "0", "--out", str(tmp_path / "e.json")]
    res = CliRunner().invoke(main, ["evaluate", "--model", str(model_dir), "--data", str(path),
                                    *args])  # fmt: skip
    assert res.exit_code == 1, res.output
    assert "A chunk A/c/0/0/0 (task 0, samples 0-3) is missing" in res.output
    assert "jaxjam generate" in res.output and not (tmp_path / "e.json").exists()

    path = _copy(store, tmp_path, "train.zarr")
    (path / "B" / "c" / "1" / "0" / "0").unlink()
    cfg = tmp_path / "train.json"
    cfg.write_text(json.dumps(TRAIN.to_dict()))
    res = CliRunner().invoke(main, ["train", "--data", str(path), "--out", str(tmp_path / "run"),
                                    "--config", str(cfg), "--quiet"])  # fmt: skip
    assert res.exit_code == 1, res.output
    assert "B chunk B/c/1/0/0 (task 1, samples 4-7) is missing" in res.output


def test_stores_without_checksums_still_read_and_their_missing_data_chunks_are_found(
    tmp_path, store
):
    """Stores written before the checksums: zarr skipped chunks equal to the fill value, so a
    missing status chunk may be all physical samples; a missing A chunk is still damage."""
    from jaxjam.data_gen.store import StoreDamagedError

    path = _copy(store, tmp_path)
    group = zarr.open_group(str(path), mode="r+")
    manifest = dict(group.attrs["manifest"])
    del manifest["integrity"]
    group.attrs["manifest"] = manifest
    status = group["status"][:]
    old = StoreReader(path)
    assert not old.checksummed
    if np.all(status[:4] == 0):  # as an older version would have left it
        (path / "status" / "c" / "0").unlink()
        np.testing.assert_array_equal(old.usable_indices(), np.nonzero(np.isin(status, (0, 2)))[0])
    (path / "A" / "c" / "0" / "0" / "0").unlink()
    with pytest.raises(StoreDamagedError, match=r"A chunk A/c/0/0/0 \(task 0, samples 0-3\)"):
        old.read(np.arange(N), ["A"])


# -------------------------------------------------------------------- 3. truncated chunks


def test_a_truncated_chunk_is_named_on_read_and_regenerated_on_resume(
    tmp_path, store, tiny_config, scheduler
):
    from jaxjam.data_gen.store import StoreDamagedError

    path = _copy(store, tmp_path)
    chunk = path / "image" / "c" / "0" / "0" / "0"
    chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])
    with pytest.raises(StoreDamagedError, match=r"image chunk image/c/0/0/0 \(task 0, samples "
                       r"0-3\) cannot be decoded \(truncated.*jaxjam generate"):  # fmt: skip
        StoreReader(path).read(np.arange(N), ["q_int", "image"])
    _assert_repaired(path, store, tiny_config, scheduler)


# ------------------------------------------------------------ 4. checksums and weight hashes


def test_a_flipped_bit_in_a_chunk_fails_its_checksum_and_is_regenerated(
    tmp_path, store, tiny_config, scheduler
):
    from jaxjam.data_gen.store import StoreDamagedError

    path = _copy(store, tmp_path)
    _flip(path / "A" / "c" / "1" / "0" / "0")
    with pytest.raises(
        StoreDamagedError, match=r"A chunk A/c/1/0/0 \(task 1, samples 4-7\) fails its checksum"
    ):
        StoreReader(path).read(np.arange(4, 8), ["A"])  # fmt: skip
    _flip(path / "task_done" / "c" / "1", offset=-1, mask=0x01)  # its task's flag, too
    with pytest.raises(StoreDamagedError, match="task_done chunk task_done/c/1"):
        StoreReader(path).completed_mask()
    _assert_repaired(path, store, tiny_config, scheduler)


def _silent_weight_flip(model, scratch):
    """The largest Orbax state file of ``model`` and an offset at which one flipped bit loads
    without error but changes a weight, as found on a copy without the recorded hashes."""
    import jax
    from flax import nnx

    net, _, meta = load_model(model)
    ref = jax.tree_util.tree_leaves(nnx.to_pure_dict(nnx.split(net)[1]))
    shutil.copytree(model, scratch)
    stripped = {k: v for k, v in meta.items() if not k.endswith("_sha256")}
    (scratch / "metadata.json").write_text(json.dumps(stripped))
    files = [f for f in (scratch / "state").rglob("*") if f.is_file()]
    big = max(files, key=lambda f: f.stat().st_size)
    size = big.stat().st_size
    for offset in range(size // 4, size, max(1, size // 64)):
        _flip(big, offset, mask=0x01)
        try:
            new = jax.tree_util.tree_leaves(nnx.to_pure_dict(nnx.split(load_model(scratch)[0])[1]))
        except CheckpointError:
            new = ref  # this byte breaks the file loudly: not the case under test
        _flip(big, offset, mask=0x01)
        if any(not np.array_equal(a, b) for a, b in zip(ref, new, strict=True)):
            return model / big.relative_to(scratch), offset
    raise AssertionError("no single-bit flip of the weights loads silently")


def test_a_flipped_bit_in_the_weights_or_the_normalisation_is_refused_on_load(tmp_path, model_dir):
    from jaxjam.emulator.emulator import Emulator

    model = tmp_path / "model"
    shutil.copytree(model_dir / "model", model)
    weights, offset = _silent_weight_flip(model, tmp_path / "scratch")
    _flip(weights, offset, mask=0x01)  # one bit of one weight, read back without an error
    with pytest.raises(
        CheckpointError,
        match=r"differ from the SHA-256 recorded in its "
        r"metadata\.json: a weight file is damaged\. Copy the model directory",
    ):
        Emulator.load(model)

    model = tmp_path / "model2"
    shutil.copytree(model_dir / "model", model)
    meta = json.loads((model / "metadata.json").read_text())
    meta["normalization"]["image_mean"][0][0] *= 1 + 2**-20  # one low bit of one statistic
    (model / "metadata.json").write_text(json.dumps(meta, indent=1))
    with pytest.raises(CheckpointError, match=r"normalisation .* differs from its recorded"):
        Emulator.load(model)


def test_the_shipped_model_carries_its_weights_hash_and_models_without_one_still_load(tmp_path):
    import jax
    from flax import nnx

    from jaxjam.emulator.checkpoint import weights_sha256

    net, _, meta = load_model(default_model_dir())  # verified against its recorded hash
    assert meta["weights_sha256"] == weights_sha256(nnx.to_pure_dict(nnx.split(net)[1]))
    old = tmp_path / "old"
    shutil.copytree(default_model_dir(), old)
    stripped = {k: v for k, v in meta.items() if not k.endswith("_sha256")}
    (old / "metadata.json").write_text(json.dumps(stripped, indent=1))
    net_old, _, _ = load_model(old)  # a model saved before the hashes loads unchecked
    for a, b in zip(jax.tree_util.tree_leaves(nnx.split(net_old)[1]),
                    jax.tree_util.tree_leaves(nnx.split(net)[1]), strict=True):  # fmt: skip
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ issue 40: what is whole


def test_an_arrays_deleted_metadata_is_refused_on_read_and_rewritten_on_resume(
    tmp_path, store, tiny_config, scheduler
):
    """A deleted ``zarr.json`` made the array invisible: generate called the store complete
    and StoreReader gave batches without ``q_int``."""
    import warnings

    from jaxjam.data_gen.store import StoreDamagedError

    path = _copy(store, tmp_path)
    (path / "q_int" / "zarr.json").unlink()
    with pytest.raises(StoreDamagedError, match=r"the metadata of array 'q_int' \(q_int/zarr\."
                       r"json\) is missing.*jaxjam generate --out .* --n 8 --seed 21"):  # fmt: skip
        StoreReader(path)
    res = CliRunner().invoke(main, ["train", "--data", str(path), "--out", str(tmp_path / "run"),
                                    "--quiet"])  # fmt: skip
    assert res.exit_code == 1 and "the metadata of array 'q_int'" in res.output, res.output
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ZarrUserWarning about an unknown object
        summary = _generate(path, N, SEED, tiny_config, scheduler)
    assert summary["arrays_metadata_rewritten"] == ["q_int"] and summary["n_tasks_run"] == 0
    after, ref = _arrays(path), _arrays(store)
    assert after.keys() == ref.keys()
    for k in ref:
        np.testing.assert_array_equal(after[k], ref[k], err_msg=k)  # chunks checked, kept
    assert "q_int" in next(StoreReader(path).iter_batches(4, seed=0))

    # the whole array gone: its metadata is rewritten and every task regenerated
    shutil.rmtree(path / "A")
    summary = _generate(path, N, SEED, tiny_config, scheduler)
    assert summary["arrays_metadata_rewritten"] == ["A"] and summary["n_tasks_repaired"] == 2
    np.testing.assert_array_equal(_arrays(path)["A"], ref["A"])

    # a store without chunk checksums cannot be vouched for under rewritten metadata
    old = _copy(store, tmp_path, "old.zarr")
    group = zarr.open_group(str(old), mode="r+")
    manifest = dict(group.attrs["manifest"])
    del manifest["integrity"]
    group.attrs["manifest"] = manifest
    (old / "ratio" / "zarr.json").write_text('{"shape": [8], "data_ty')  # truncated
    with pytest.raises(StoreDamagedError, match=r"'ratio' \(ratio/zarr.json\) cannot be read.*"
                       "no chunk checksums.*delete it and generate it again"):  # fmt: skip
        _generate(old, N, SEED, tiny_config, scheduler)


def _kill_generate_after_a_task(path, n, tiny_config, scheduler, tmp_path) -> int:
    """Run `jaxjam generate` in a subprocess and SIGKILL it once a task has finished; returns
    the finished tasks."""
    import os
    import signal
    import subprocess
    import sys
    import time

    cfg = tmp_path / "gen.json"
    cfg.write_text(json.dumps(tiny_config.to_dict()))
    cmd = [sys.executable, "-m", "jaxjam.cli.main", "generate", "--n", str(n), "--out",
           str(path), "--seed", str(SEED), "--scheduler", scheduler, "--config", str(cfg),
           "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.05)
        flags = path / "task_done"
        if flags.exists() and zarr.open_group(str(path), mode="r")["task_done"][:].sum() >= 1:
            break
        assert proc.poll() is None, "generation ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return int(zarr.open_group(str(path), mode="r")["task_done"][:].sum())


def test_a_killed_generate_is_not_trained_on_unless_allowed_and_what_was_used_is_recorded(
    tmp_path, tiny_config
):
    """train used to train on 6 of 16 samples of a killed store and record the full store's
    manifest hash."""
    from dask.distributed import LocalCluster

    path = tmp_path / "killed.zarr"  # tcp: reachable from the subprocess
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                      dashboard_address=":0") as cluster:  # fmt: skip
        n_done = _kill_generate_after_a_task(path, 32, tiny_config, cluster.scheduler_address,
                                             tmp_path)  # fmt: skip
    assert 1 <= n_done < 8, f"the kill landed after {n_done} of 8 tasks"
    cfg = tmp_path / "train.json"
    cfg.write_text(json.dumps(dataclasses.replace(TRAIN, batch_size=2).to_dict()))
    args = ["train", "--data", str(path), "--config", str(cfg), "--quiet"]
    res = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "run")])
    assert res.exit_code == 1, res.output
    assert f"is incomplete: {4 * n_done} of its 32 samples are finished ({n_done} of 8 tasks" in (
        res.output
    )
    assert "--allow-partial" in res.output and "jaxjam generate --out" in res.output
    assert not (tmp_path / "run").exists()

    res = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "run"), "--allow-partial"])
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "run" / "model" / "metadata.json").read_text())
    used = meta["data_used"]
    assert used["store_complete"] is False and used["n_samples_in_store"] == 32
    assert used["n_samples"] == meta["n_train"] + meta["n_val"] == 4 * n_done
    assert meta["data_manifest_hash"] == StoreReader(path).manifest["hash"]  # the store named


def test_a_store_smaller_than_a_batch_or_a_nan_loss_writes_no_model(tmp_path, store):
    """train wrote an untrained model (no optimizer step, train=nan) and exited 0."""
    from jaxjam.emulator.training import TrainingError

    run = tmp_path / "run"
    res = CliRunner().invoke(main, ["train", "--data", str(store), "--out", str(run), "--quiet"])
    assert res.exit_code == 1, res.output
    assert "has 6 samples, fewer than batch_size = 256: no optimizer step would run" in res.output
    assert not run.exists()

    diverging = dataclasses.replace(TRAIN, learning_rate=1e30, grad_clip_norm=1e30)
    with pytest.raises(TrainingError, match=r"epoch 0 gave a training loss of .*nan.*no model "
                       "was written. Lower learning_rate"):  # fmt: skip
        train(store, run, diverging, progress=False)
    assert not (run / "model").exists()


def test_a_flipped_byte_in_the_weights_index_names_the_file_and_the_fix(tmp_path, model_dir):
    """The CRC-32C error of a damaged OCDBT b-tree node came buried under asyncio tracebacks and
    2 kB of tensorstore spec."""
    import subprocess
    import sys

    from jaxjam.emulator.emulator import Emulator

    model = tmp_path / "model"
    shutil.copytree(model_dir / "model", model)
    nodes = sorted((model / "state" / "d").iterdir())  # the index: the OCDBT b-tree nodes
    assert nodes
    for node in nodes:
        _flip(node)
    with pytest.raises(CheckpointError) as info:
        Emulator.load(model)
    msg = str(info.value)
    assert f"a weight file in {model}/state is damaged: state/d/" in msg
    assert "CRC-32C checksum verification failed" in msg and "Copy the model directory" in msg
    assert "tensorstore_spec" not in msg and len(msg) < 600, msg
    # the command line: one message on stderr, not asyncio tracebacks
    code = ("import sys; from jaxjam.cli.main import main; sys.argv = ['jaxjam', 'predict', "
            f"'--mge', {str(MGE)!r}, '--bins', {str(KIN)!r}, '--distance', '1', '--q-int', "
            f"'0.3', '--ratio', '1', '--ml', '1', '--mbh', '0', '--model', {str(model)!r}]; "
            "main()")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "CRC-32C checksum verification failed" in proc.stderr
    assert "Traceback" not in proc.stderr and "Event loop" not in proc.stderr, proc.stderr


def test_a_truncated_evaluation_json_is_named(tmp_path, model_dir, held_out):
    from jaxjam.emulator.evaluation import evaluate

    ev_file = tmp_path / "eval.json"
    evaluate(model_dir, held_out, ev_file, n_real_draws=0)
    ev_file.write_text(ev_file.read_text()[:100])  # a copy cut short
    res = CliRunner().invoke(main, ["attach-metrics", "--model", str(model_dir),
                                    "--evaluation", str(ev_file)])  # fmt: skip
    assert res.exit_code == 1, res.output
    assert f"the evaluation file {ev_file} is not valid JSON" in res.output
    assert "Run `jaxjam evaluate` again" in res.output
