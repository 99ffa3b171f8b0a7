"""The generator: store contents, real-kill resume, bit-identity, lazy reading, CLI."""

import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest
import zarr
from click.testing import CliRunner

from jaxjam.cli.main import main
from jaxjam.core.mge import MGE
from jaxjam.core.photometry import render_photometry
from jaxjam.data_gen.generate import compute_task, generate
from jaxjam.data_gen.jam_labels import component_maps
from jaxjam.data_gen.store import StoreReader, split_by_photometry

N = 24  # 6 tasks of 4 samples with the tiny config


def _arrays(path):
    g = zarr.open_group(str(path), mode="r")
    return {k: g[k][:] for k in g.array_keys()}


@pytest.fixture(scope="module")
def reference_store(tiny_store):
    """An uninterrupted run on a 2-process local dask cluster (conftest.tiny_store)."""
    return tiny_store


def test_store_contents(reference_store, tiny_config):
    r = StoreReader(reference_store)
    m = r.manifest
    assert m["seed"] == 11 and m["n_samples"] == N and m["n_photometries"] == N // 2
    assert m["versions"]["jampy"] >= "9.0.2"
    assert m["grid"] == tiny_config.grid.to_dict()
    assert m["padding"]["surf_factor"] == 1e-4
    d = r.read(np.arange(N))
    assert d["image"].shape == (N, 64, 64) and d["A"].shape == (N, 8, 4)
    assert d["mge_surf"].shape == (N, tiny_config.sampler.n_max_gauss)
    assert np.all(r.completed_mask())
    # two JAM draws per photometry, each photometry exactly once
    np.testing.assert_array_equal(d["photometry_id"], np.repeat(np.arange(N // 2), 2))
    np.testing.assert_array_equal(d["image"][0], d["image"][1])
    assert not np.array_equal(d["q_int"][0], d["q_int"][1])
    assert set(np.unique(d["status"])) <= {0, 1, 2}
    # a stored sample is exactly what the jampy wrapper and the renderer give for its inputs
    i = int(r.usable_indices()[3])
    mge = MGE.from_padded_arrays(d["mge_surf"][i], d["mge_sigma"][i], d["mge_qobs"][i],
                                 d["mge_mask"][i])  # fmt: skip
    maps = component_maps(mge, d["q_int"][i], d["ratio"][i], tiny_config.grid,
                          tiny_config.labels)  # fmt: skip
    np.testing.assert_array_equal(d["A"][i], maps["A"].astype(np.float32))
    np.testing.assert_array_equal(d["B"][i], maps["B"].astype(np.float32))
    np.testing.assert_array_equal(d["image"][i], render_photometry(mge, tiny_config.image))
    assert np.all(d["A"][r.usable_indices()] > 0)


def test_task_is_a_pure_function_of_seed_and_index(tiny_config, reference_store):
    out = compute_task(tiny_config.to_dict(), 11, N, 2)
    ref = _arrays(reference_store)
    for k, v in out["arrays"].items():
        np.testing.assert_array_equal(v, ref[k][8:12], err_msg=k)


@pytest.mark.slow
def test_real_kill_then_resume_is_bit_identical(tmp_path, reference_store, tiny_config):
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps(tiny_config.to_dict()))
    path = tmp_path / "killed.zarr"
    cmd = [sys.executable, "-m", "jaxjam.cli.main", "generate", "--n", str(N), "--out",
           str(path), "--seed", "11", "--workers", "2", "--config", str(cfg_file),
           "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 240
    n_done = 0
    while time.time() < deadline:
        time.sleep(0.2)
        if (path / "task_done").exists():
            n_done = int(zarr.open_group(str(path), mode="r")["task_done"][:].sum())
            if n_done >= 2:
                break
        assert proc.poll() is None, "generation ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the client, the nanny and the workers
    proc.wait()
    partial = int(zarr.open_group(str(path), mode="r")["task_done"][:].sum())
    assert 2 <= partial < 6, f"kill landed after {partial} of 6 tasks"
    # rerun the same command: finishes only the missing tasks
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["n_tasks_run"] == 6 - partial
    killed, ref = _arrays(path), _arrays(reference_store)
    assert killed.keys() == ref.keys()
    for k in ref:
        np.testing.assert_array_equal(killed[k], ref[k], err_msg=k)
    assert not list(path.rglob("*.partial"))


def test_rerun_of_finished_store_does_nothing(reference_store, tiny_config):
    before = _arrays(reference_store)
    summary = generate(reference_store, N, seed=11, config=tiny_config, workers=1, progress=False)
    assert summary["n_tasks_run"] == 0
    after = _arrays(reference_store)
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])


def test_mismatched_rerun_is_refused(reference_store, tiny_config):
    with pytest.raises(ValueError, match="different seed"):
        generate(reference_store, N, seed=12, config=tiny_config, progress=False)
    with pytest.raises(ValueError, match="different n_samples"):
        generate(reference_store, N + 4, seed=11, config=tiny_config, progress=False)


def test_existing_scheduler(tmp_path, tiny_config, reference_store):
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster:  # fmt: skip
        path = tmp_path / "sched.zarr"
        generate(path, 8, seed=11, config=tiny_config, scheduler=cluster.scheduler_address,
                 progress=False)  # fmt: skip
    ref, got = _arrays(reference_store), _arrays(path)
    np.testing.assert_array_equal(got["A"], ref["A"][:8])


def test_lazy_batches_cover_each_sample_once_with_bounded_memory(reference_store):
    r = StoreReader(reference_store)
    usable = r.usable_indices()
    seen = []
    tracemalloc.start()
    for batch in r.iter_batches(batch_size=3, seed=0, fields=["photometry_id", "A", "q_int"],
                                window_chunks=1):  # fmt: skip
        assert len(batch["A"]) <= 3
        seen.extend(zip(batch["photometry_id"], batch["q_int"], strict=True))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(seen) == len(usable) == len(set(seen))
    # reading everything would need all A maps at once; one window holds a single chunk
    full_bytes = r["A"].nbytes
    assert peak < full_bytes + 200_000  # zarr/numcodecs overhead, far below a full read
    a = [b["q_int"] for b in r.iter_batches(4, seed=1, fields=["q_int"])]
    b = [b["q_int"] for b in r.iter_batches(4, seed=1, fields=["q_int"])]
    np.testing.assert_array_equal(np.concatenate(a), np.concatenate(b))


def test_split_by_photometry_is_disjoint(reference_store):
    r = StoreReader(reference_store)
    pid = r["photometry_id"][:]
    train, val = split_by_photometry(pid, 0.25, seed=3)
    assert len(train) + len(val) == len(pid)
    assert not set(pid[train]) & set(pid[val])


def test_reader_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        StoreReader(tmp_path / "nope.zarr")
    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    with pytest.raises(ValueError, match="manifest"):
        StoreReader(tmp_path / "plain.zarr")


def test_cli_help_and_usage_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["--help"])
    assert res.exit_code == 0 and "generate" in res.output
    res = runner.invoke(main, ["generate", "--help"])
    assert res.exit_code == 0 and "--scheduler" in res.output
    res = runner.invoke(main, ["generate", "--n", "4", "--out", str(tmp_path / "x"),
                               "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"])  # fmt: skip
    assert res.exit_code != 0 and "not both" in res.output
    res = runner.invoke(main, ["generate", "--n", "4", "--out", str(tmp_path / "x"),
                               "--config", str(tmp_path / "missing.json")])  # fmt: skip
    assert res.exit_code != 0 and "not found" in res.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"grid": {"n_rr": 3}}')
    res = runner.invoke(main, ["generate", "--n", "4", "--out", str(tmp_path / "x"),
                               "--config", str(bad)])  # fmt: skip
    assert res.exit_code != 0 and "n_rr" in res.output
