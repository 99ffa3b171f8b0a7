"""`jaxjam survey` and `generate`: what a rerun may reuse, and the bounds of their clusters.

Each test makes the fault for real: a rerun with another PSF or position angle, a second
catalogue into the same folder, a scheduler address where nothing listens, more workers than
cores, a catalogue row naming a missing file, bad rows under --quiet, a catalogue in another
format, an out-of-range option.
"""

import dataclasses
import json
import shutil
import socket
import subprocess
import sys
import time
from importlib import resources

import numpy as np
import pytest
from click.testing import CliRunner

from jaxjam.cli.main import main
from jaxjam.cli.survey import CatalogError, read_catalog
from jaxjam.core.cluster import available_cores, dask_client

KIN = np.loadtxt(resources.files("jampy") / "examples" / "jam_mock_kinematics_black_hole.txt")
MGE_FILE = resources.files("jaxjam") / "data" / "m32_mge.txt"
HEADER = "name,mge,kinematics,distance_mpc"


def _catalog(folder, names=("g0",), extra=(), file="catalog.csv"):
    """A catalogue of 60 M32 bins per galaxy, without PSF columns (the survey's options
    apply), plus the ``extra`` lines."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(MGE_FILE, folder / "m32_mge.txt")
    lines = [HEADER]
    for i, name in enumerate(names):
        np.savetxt(folder / f"kin_{name}.txt", KIN[i * 57 : i * 57 + 60])
        lines.append(f"{name},m32_mge.txt,kin_{name}.txt,0.7")
    (folder / file).write_text("\n".join([*lines, *extra]) + "\n")
    return folder / file


def _args(catalog, out, *more, workers="1"):
    """A quick survey's command line (``workers`` None: no ``--workers``)."""
    return ["survey", "--catalog", str(catalog), "--out", str(out),
            *(["--workers", workers] if workers else []), "--refine-maps", "0", "--no-certify",
            "--chains", "2", "--warmup", "30", "--draws", "30", "--table-nodes", "none",
            "--no-plots", "--quiet", *more]  # fmt: skip


def _cli(args, timeout=300):
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "jaxjam.cli.main", *args],
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip
    proc.seconds = time.perf_counter() - t0
    return proc


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished one-galaxy survey (no PSF, PA 0), made by the command line."""
    base = tmp_path_factory.mktemp("finished")
    cat = _catalog(base / "cat")
    out = base / "survey"
    proc = _cli(_args(cat, out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return cat, out


def _copy(finished, tmp_path):
    """The finished survey, copied (with its catalogue) so that a test cannot spoil it."""
    cat, out = finished
    shutil.copytree(cat.parent, tmp_path / "cat")
    shutil.copytree(out, tmp_path / "survey")
    return tmp_path / "cat" / cat.name, tmp_path / "survey"


def _state(out):
    """What a refused rerun must leave as it was."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file()}  # fmt: skip


def test_rerun_with_other_psf_or_pa_is_refused(finished, tmp_path):
    cat, out = _copy(finished, tmp_path)
    before = _state(out)
    run_id = json.loads((out / "g0" / "row.json").read_text())["run_id"]
    proc = _cli(_args(cat, out, "--sigmapsf", "0.1", "--pixsize", "0.05"))
    log = proc.stdout + proc.stderr
    assert proc.returncode == 1, log
    assert "other settings (they differ in ['--sigmapsf', '--normpsf', '--pixsize'])" in log
    assert "choose another --out" in log and "Traceback" not in log
    proc = _cli(_args(cat, out, "--pa", "30"))
    log = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "they differ in ['--pa']" in log, log
    assert _state(out) == before, "a refused rerun changed the survey"
    # the same options resume (nothing to fit), and the fit is the one made before
    proc = _cli(_args(cat, out, "--pa", "0"))
    assert proc.returncode == 0 and "0 fitted by this run, 1 before it" in proc.stdout, proc.stderr
    assert json.loads((out / "g0" / "row.json").read_text())["run_id"] == run_id


def test_second_catalogue_into_the_same_out_is_refused(finished, tmp_path):
    cat, out = _copy(finished, tmp_path)
    other = _catalog(tmp_path / "other", names=("h0", "h1"))
    table = (out / "survey.csv").read_bytes()
    proc = _cli(_args(other, out))
    log = proc.stdout + proc.stderr
    assert proc.returncode == 1, log
    first = finished[0].resolve()  # the catalogue the survey was made of
    assert f"holds the survey of another catalogue ({first})" in log, log
    assert f"rerun it with --catalog {first}" in log and "choose another --out" in log
    assert (out / "survey.csv").read_bytes() == table and not (out / "h0").exists()
    # the same catalogue, copied elsewhere (same bytes), is the same survey
    copy = tmp_path / "moved" / "catalog.csv"
    shutil.copytree(cat.parent, copy.parent)
    proc = _cli(_args(copy, out))
    assert proc.returncode == 0 and "0 fitted by this run, 1 before it" in proc.stdout, proc.stderr
    manifest = json.loads((out / "survey.json").read_text())
    assert manifest["catalog"]["path"] == str(copy.resolve())


def _closed_port() -> str:
    """The address of a local port on which nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"


@pytest.mark.parametrize("command", ["survey", "generate"])
def test_unreachable_scheduler_is_a_clear_error(command, tmp_path):
    address = _closed_port()
    if command == "survey":
        args = _args(_catalog(tmp_path / "cat"), tmp_path / "out", workers=None)
    else:
        args = ["generate", "--n", "4", "--out", str(tmp_path / "store.zarr"), "--quiet"]
    proc = _cli([*args, "--scheduler", address, "--scheduler-timeout", "2"])
    log = proc.stdout + proc.stderr
    assert proc.returncode == 1, log
    assert f"cannot reach the dask scheduler at {address} within 2 s" in log, log
    assert "--scheduler-timeout" in log and "Traceback" not in log
    assert proc.seconds < 60, f"{proc.seconds:.0f} s"  # the default wait was 30 s, then a traceback


def test_local_cluster_is_capped_at_the_cores():
    cores = available_cores()
    warning = pytest.warns(UserWarning, match=f"{cores + 2} workers asked for, but this machine")
    with warning, dask_client(workers=cores + 2) as client:
        assert len(client.scheduler_info()["workers"]) == cores


def _warning(many):
    """The warning of ``--workers many`` on this machine."""
    n = available_cores()
    return (f"Warning: --workers {many}: {many} workers asked for, but this machine has {n} "
            f"cores: starting {n}")  # fmt: skip


@pytest.mark.slow
def test_survey_workers_are_capped_with_a_warning(finished, tmp_path):
    many = str(available_cores() + 30)
    cat, out = _copy(finished, tmp_path)
    proc = _cli(_args(cat, out, workers=many))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _warning(many) in proc.stderr, proc.stderr


@pytest.mark.slow
def test_generate_workers_are_capped_with_a_warning(tmp_path, tiny_config):
    many = str(available_cores() + 30)
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(dataclasses.asdict(tiny_config)))
    store = tmp_path / "store.zarr"
    proc = _cli(["generate", "--n", "4", "--out", str(store), "--config", str(config),
                 "--workers", many, "--quiet"])  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _warning(many) in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)["n_tasks_run"] == 1
    # a scheduler's workers are its own: --workers does not go with it
    proc = _cli(["generate", "--n", "4", "--out", str(store), "--workers", many, "--scheduler",
                 "tcp://127.0.0.1:1"])  # fmt: skip
    assert proc.returncode == 2 and "not both" in proc.stderr, proc.stderr


def test_missing_file_named_by_a_row_stops_the_survey(tmp_path):
    cat = _catalog(tmp_path / "cat", names=("g0",), extra=[
        "lost,m32_mge.txt,nowhere.txt,0.7",
        "lost2,nomge.txt,kin_g0.txt,0.7",
    ])  # fmt: skip
    with pytest.raises(CatalogError, match=r"names 2 file\(s\) that do not exist"):
        read_catalog(cat)
    out = tmp_path / "survey"
    proc = _cli(_args(cat, out))
    log = proc.stdout + proc.stderr
    assert proc.returncode == 1, log
    assert "row 2 (lost): kinematics nowhere.txt; row 3 (lost2): mge nomge.txt" in log, log
    assert "Correct those paths, or remove those rows" in log
    assert not out.exists(), "the survey started"


def test_bad_rows_are_reported_on_stderr_even_when_quiet(tmp_path):
    cat = _catalog(tmp_path / "cat", names=(), extra=[
        "far,m32_mge.txt,kin.txt,-3",
        "bad name,m32_mge.txt,kin.txt,0.7",
    ])  # fmt: skip
    np.savetxt(tmp_path / "cat" / "kin.txt", KIN[:60])
    proc = _cli(_args(cat, tmp_path / "survey"))  # --quiet
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "row 1 (far): distance_mpc must be a positive number of Mpc" in proc.stderr
    assert "row 2 (bad name): name 'bad name' is not a folder name" in proc.stderr
    assert "row 1" not in proc.stdout


@pytest.mark.parametrize("suffix", [".txt", ".xlsx", ""])
def test_unsupported_catalogue_format_is_a_short_error(tmp_path, suffix):
    cat = _catalog(tmp_path / "cat", file=f"catalog{suffix}")
    proc = _cli(_args(cat, tmp_path / "survey"))
    log = proc.stdout + proc.stderr
    assert proc.returncode == 1, log
    assert "it reads CSV (.csv) and ECSV (.ecsv) tables" in log, log
    assert "'format' argument" not in log and len(log.strip().splitlines()) == 1, log


def test_usage_errors_exit_2_as_the_help_says():
    runner = CliRunner()
    for command in ("fit", "survey"):
        text = " ".join(runner.invoke(main, [command, "--help"]).output.split())
        assert "2 for a usage error (a missing or out-of-range option)" in text, command
    res = runner.invoke(main, ["fit", "--mge", "m.txt", "--kinematics", "k.txt", "--distance",
                               "1", "--out", "o", "--chains", "0"])  # fmt: skip
    assert res.exit_code == 2 and "Invalid value for '--chains'" in res.output
