"""``jaxjam bench --quick``: it runs, and writes valid JSON with every field, the PNGs and the
README table. Nothing about speed is asserted (that is what the benchmark reports)."""

import json
import math

import jax
import numpy as np
import pytest
from click.testing import CliRunner

from jaxjam.cli.bench import forward
from jaxjam.cli.bench.survey import extrapolate
from jaxjam.cli.bench.table import ROWS, markdown_table
from jaxjam.cli.main import main
from jaxjam.emulator.emulator import Emulator


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    # two jampy processes: the spawned pool (with its CPU-only JAX initializer) is exercised
    args = ["bench", "--quick", "--out", str(out), "--seed", "3", "--jampy-workers", "2"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    return out, res.output


def _positive(x):
    return isinstance(x, float | int) and math.isfinite(x) and x > 0


@pytest.mark.slow
def test_quick_bench_records_machine_device_versions_and_date(quick_run):
    out, _ = quick_run
    r = json.loads((out / "results.json").read_text())
    m = r["machine"]
    for key in ("date_utc", "cpu_model", "jax_backend", "device_kind", "hostname"):
        assert isinstance(m[key], str) and m[key], key
    assert m["cpu_count"] >= 1 and m["jax_devices"]
    for pkg in ("jax", "flax", "blackjax", "jampy"):
        assert m["versions"][pkg], pkg
    assert r["config"]["quick"] is True and r["config"]["seed"] == 3
    assert r["complete"] is True  # partial files written between sections say False
    assert r["sampling"]["jampy_emcee"]["workers"] == 2


@pytest.mark.slow
def test_quick_bench_writes_every_figure(quick_run):
    out, output = quick_run
    r = json.loads((out / "results.json").read_text())
    cfg = r["config"]
    for key in ("psf", "no_psf"):
        assert _positive(r["forward"]["jampy"][key]["median_s"])
    for variant in ("network", "vrms_no_psf", "vrms_psf"):
        rows = r["forward"]["emulator"][variant]
        assert sorted(int(n) for n in rows) == sorted(cfg["batch_sizes"])
        for n, row in rows.items():
            assert _positive(row["first_s"]) and _positive(row["per_galaxy_s"])
            assert row["p16_s"] <= row["median_s"] <= row["p84_s"]
            np.testing.assert_allclose(row["per_galaxy_s"] * int(n), row["median_s"])
            assert _positive(row["flops"])
            ratio = r["forward"]["speedup_vs_jampy"][variant][n]
            ref = r["forward"]["jampy"]["psf" if variant == "vrms_psf" else "no_psf"]["median_s"]
            np.testing.assert_allclose(ratio, ref / row["per_galaxy_s"])
    g = r["gradient"]
    assert _positive(g["per_call"]["median_s"]) and _positive(g["in_loop"]["per_gradient_s"])
    assert g["in_loop"]["n_loop"] == cfg["gradient_loop"] and _positive(g["flops"])
    assert _positive(g["in_loop_4_chains"]["per_gradient_s"])
    demo = r["sampling"]["demo"]
    assert demo["n_chains"] == 4 and demo["n_warmup"] == cfg["demo_warmup"]
    assert _positive(demo["total_s"]) and _positive(demo["min_ess_bulk"])
    emcee = r["sampling"]["jampy_emcee"]
    assert emcee["n_steps"] == cfg["jampy_steps"] and _positive(emcee["ess_per_s_upper_bound"])
    assert _positive(r["sampling"]["ess_ratio_lower_bound"])
    survey = r["survey"]["batches"]
    assert sorted(int(n) for n in survey) == sorted(cfg["survey_sizes"])
    for row in survey.values():
        assert _positive(row["sample_s"]) and _positive(row["seconds_per_galaxy"])
    assert _positive(r["survey"]["extrapolation"]["hours"])
    peak = r["throughput"]["matmul_peak"]
    np.testing.assert_allclose(peak["flops_per_s"], 2 * cfg["matmul_n"] ** 3 / peak["median_s"])
    for name in ("forward.png", "survey.png", "throughput.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (out / "table.md").read_text()
    assert table.count("\n|") == len(ROWS) + 1 and "--quick" in table
    assert table.strip() in output


def test_benchmarked_vrms_is_the_emulator_prediction():
    """The batched function the benchmark times must compute the package's own Vrms."""
    emu = Emulator.load()
    galaxy, problem, op_no_psf = forward.m32_problems(emu)
    theta = forward.parameter_batch(jax.random.key(1), 3, float(problem.qobs_min))
    k = galaxy.kinematics
    for op, psf in ((problem.operator, galaxy.psf), (op_no_psf, None)):
        got = jax.jit(forward._vrms, static_argnums=0)(
            emu.maps_fn, emu.state, problem.features, problem.qobs_min, op, theta
        )
        for t, v in zip(np.asarray(theta), np.asarray(got), strict=True):
            ref = emu.predict_vrms(galaxy.mge, galaxy.distance_mpc, t[0], t[1], 10 ** t[3],
                                   10 ** t[2], k.x_arcsec, k.y_arcsec, psf=psf)  # fmt: skip
            np.testing.assert_allclose(v, ref, rtol=2e-4)


def test_survey_extrapolation_formula():
    rows = {"10": {"compile_s": 30.0, "sample_s": 50.0, "setup_s": 4.0},
            "1": {"compile_s": 20.0, "sample_s": 9.0, "setup_s": 0.5}}  # fmt: skip
    e = extrapolate(rows, n_survey=95)
    assert e["from_batch"] == 10
    np.testing.assert_allclose(e["seconds"], 30.0 + 10 * 50.0 + 95 * 0.4)


@pytest.mark.slow
def test_table_has_one_column_per_results_file(quick_run, tmp_path):
    out, _ = quick_run
    r = json.loads((out / "results.json").read_text())
    r["machine"].update(jax_backend="gpu", device_kind="NVIDIA H100")
    (tmp_path / "gpu.json").write_text(json.dumps(r))
    table = markdown_table([out / "results.json", tmp_path / "gpu.json"])
    head = table.splitlines()[0]
    assert "CPU:" in head and "GPU: NVIDIA H100" in head
    assert all(line.count("|") == 4 for line in table.splitlines() if line.startswith("|"))
