"""`jaxjam survey`: the catalogue, a real SIGKILL and resume, failures, and equality with fits."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from jaxjam.cli.survey import CatalogError, read_catalog, run_survey
from jaxjam.cli.survey.run import SurveyMismatchError, entry_config
from jaxjam.core.psf import PSF
from jaxjam.inference import PARAM_NAMES, FitConfig, NUTSConfig, fit
from jaxjam.inference.certify import CertifyConfig
from jaxjam.reference.jam import LABELS

KIN = np.loadtxt(resources.files("jampy") / "examples" / "jam_mock_kinematics_black_hole.txt")
MGE_FILE = resources.files("jaxjam") / "data" / "m32_mge.txt"
HEADER = "name,mge,kinematics,distance_mpc,sigmapsf,normpsf,pixsize,seed,q_int_bounds"
AO = '"0.04,0.4","0.7,0.3",0.05'


def _catalog(folder, n=3, extra=()):
    """``n`` galaxies of 60 M32 bins each (so that they share compiled programs), plus the
    ``extra`` catalogue lines."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(MGE_FILE, folder / "m32_mge.txt")
    lines = [HEADER]
    for i in range(n):
        np.savetxt(folder / f"kin{i}.txt", KIN[i * 57 : i * 57 + 60])
        lines.append(f"g{i},m32_mge.txt,kin{i}.txt,0.7,{AO},{i + 1},")
    (folder / "catalog.csv").write_text("\n".join([*lines, *extra]) + "\n")
    return folder / "catalog.csv"


def _quick_args(catalog, out):
    return ["survey", "--catalog", str(catalog), "--out", str(out), "--workers", "1",
            "--refine-maps", "0", "--no-certify", "--warmup", "60", "--draws", "60",
            "--no-plots", "--quiet"]  # fmt: skip


def test_catalog_rows_are_checked_one_by_one(tmp_path):
    cat = _catalog(tmp_path, n=2, extra=[
        f"g0,m32_mge.txt,kin0.txt,0.7,{AO},5,",  # a duplicate name
        f"bad name,m32_mge.txt,kin0.txt,0.7,{AO},1,",
        f"far,m32_mge.txt,kin0.txt,-3,{AO},1,",
        'nopix,m32_mge.txt,kin0.txt,0.7,"0.04,0.4","0.7,0.3",,1,',
        f'onebound,m32_mge.txt,kin0.txt,0.7,{AO},1,"0.3"',
        "plain,m32_mge.txt,kin1.txt,0.7,,,,,",
    ])  # fmt: skip
    default_psf = PSF((1.0,), (1.0,), 0.5)
    entries, bad = read_catalog(cat, {"psf": default_psf, "pa_deg": 10.0})
    assert [e.name for e in entries] == ["g0", "g1", "plain"]
    assert entries[0].galaxy.psf == PSF((0.04, 0.4), (0.7, 0.3), 0.05)
    assert entries[0].seed == 1 and entries[2].seed is None
    assert entries[2].galaxy.psf == default_psf and entries[2].galaxy.pa_deg == 10.0
    reasons = {(b.row, b.name): b.reason for b in bad}
    assert "more than once" in reasons[(3, "g0")]
    assert "not a folder name" in reasons[(4, "bad name")]
    assert "distance_mpc must be a positive" in reasons[(5, "far")]
    assert "needs sigmapsf and pixsize" in reasons[(6, "nopix")]
    assert "q_int_bounds needs two numbers" in reasons[(7, "onebound")]
    # a catalogue that cannot be used as a whole
    (tmp_path / "nocol.csv").write_text("name,mge\na,b\n")
    with pytest.raises(
        CatalogError, match=r"lacks the column\(s\) \['kinematics', 'distance_mpc'\]"
    ):
        read_catalog(tmp_path / "nocol.csv")
    with pytest.raises(CatalogError, match="not found"):
        read_catalog(tmp_path / "none.csv")
    # ECSV, with per-galaxy bounds
    ecsv = tmp_path / "cat.ecsv"
    from astropy.table import Table

    Table({"name": ["g1"], "mge": ["m32_mge.txt"], "kinematics": ["kin1.txt"],
           "distance_mpc": [0.7], "ratio_bounds": ["0.6,0.9"]}).write(ecsv)  # fmt: skip
    (e,), bad = read_catalog(ecsv)
    assert not bad and e.bounds == {"ratio": (0.6, 0.9)} and e.galaxy.psf is None
    assert entry_config(FitConfig(seed=4), e).bounds.ratio == (0.6, 0.9)
    # a changed input file changes the galaxy's hash (it is then fitted again)
    np.savetxt(tmp_path / "kin1.txt", KIN[:60] * 1.01)
    (e2,), _ = read_catalog(ecsv)
    assert e2.inputs_sha256 != e.inputs_sha256


def _cli(args, **kw):
    return subprocess.Popen([sys.executable, "-m", "jaxjam.cli.main", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            **kw)  # fmt: skip


def _rows(out):
    if not out.is_dir():
        return {}
    return {p.name: json.loads((p / "row.json").read_text())
            for p in out.iterdir() if (p / "row.json").exists()}  # fmt: skip


@pytest.mark.slow
def test_survey_survives_sigkill_and_matches_single_fits(tmp_path):
    (tmp_path / "broken.txt").write_text("this is not\na kinematics file\n")
    cat = _catalog(tmp_path / "cat", n=3, extra=[
        f"broken,m32_mge.txt,../broken.txt,0.7,{AO},1,",
        # (a row naming a missing file stops the survey: tests/test_survey_resume.py)
        # readable, but the fit fails on its worker: q_int above the MGE's q'min
        f'toothin,m32_mge.txt,kin0.txt,0.7,{AO},1,"0.9,0.95"',
    ])  # fmt: skip
    out = tmp_path / "survey"

    proc = _cli(_quick_args(cat, out), start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and not _rows(out) and proc.poll() is None:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver, its scheduler and its workers
    proc.wait()
    before = _rows(out)
    assert before, "no galaxy finished before the kill"
    assert len(before) < 3, "every galaxy had finished: the kill tested nothing"
    table = pd.read_csv(out / "survey.csv")
    assert set(table.loc[table.status == "pending", "name"]) >= {"g0", "g1", "g2"} - set(before)

    proc = _cli(_quick_args(cat, out))
    log, _ = proc.communicate(timeout=600)
    assert proc.returncode == 3, log  # some galaxies failed
    after = _rows(out)
    assert set(after) == {"g0", "g1", "g2"}
    for name, row in before.items():  # finished before the kill: not fitted again
        assert after[name]["run_id"] == row["run_id"], name
    assert not list(out.glob(".*")), "an unfinished galaxy's folder was left behind"
    table = pd.read_csv(out / "survey.csv")
    assert list(table.name) == ["g0", "g1", "g2", "broken", "toothin"]
    status = dict(zip(table.name, table.status, strict=True))
    assert all(status[g] == "not certified" for g in ("g0", "g1", "g2"))  # --no-certify
    assert status["broken"].startswith("failed: row 4: kinematics file")
    # a bad argument (an ArgumentError, a ValueError), named in the library's words
    assert status["toothin"].startswith("failed: ArgumentError: q_int bounds (0.9, 0.95)")
    assert (out / "_failed" / "toothin.txt").read_text().startswith("Traceback")
    assert f"{3 - len(before)} fitted by this run, {len(before)} before it" in log, log
    assert "distributed.scheduler" not in log, "the cluster's INFO lines break the progress bar"

    # the medians equal single fits with the same seeds and settings
    entries, _ = read_catalog(cat)
    cfg = FitConfig(nuts=NUTSConfig(n_warmup=60, n_samples=60), refine_maps=0,
                    certify=CertifyConfig(enabled=False))  # fmt: skip
    for e in entries[:2]:
        res = fit(e.galaxy, entry_config(cfg, e), progress=False, warn=False)
        row = table.set_index("name").loc[e.name]
        assert row.seed == e.seed
        for p in PARAM_NAMES:
            draws = res.datatree["posterior"][p].values.astype(np.float64).ravel()
            np.testing.assert_allclose(row[f"{p}_median"], np.median(draws), rtol=1e-12)
            np.testing.assert_allclose(row[f"{p}_p84"], np.percentile(draws, 84), rtol=1e-12)

    # a finished survey reruns in no time; other settings are refused
    proc = _cli(_quick_args(cat, out))
    log, _ = proc.communicate(timeout=300)
    assert "0 fitted by this run, 3 before it" in log, log
    proc = _cli([*_quick_args(cat, out), "--seed", "5"])
    log, _ = proc.communicate(timeout=300)
    assert proc.returncode == 1 and "other settings (they differ in ['seed'])" in log, log


@pytest.mark.slow
def test_survey_runs_refinement_and_certificates_on_its_workers(tmp_path):
    cat = _catalog(tmp_path / "cat", n=2)
    cfg = FitConfig(nuts=NUTSConfig(n_warmup=40, n_samples=40, n_init_candidates=8,
                                    max_tree_depth=6),
                    refine_maps=3, refine_settings=LABELS,
                    certify=CertifyConfig(n_draws=32, max_rounds=1, settings=LABELS, screen=None,
                                          n_overdispersed=8))  # fmt: skip
    res = run_survey(cat, tmp_path / "s", cfg, workers=2, progress=False, plots=True)
    assert res["n_fitted"] == 2 and res["n_failed"] == 0
    table = pd.read_csv(tmp_path / "s" / "survey.csv").set_index("name")
    assert set(table.status) <= {"certified", "not certified"}
    assert (table.cert_rounds == 1).all() and not table.k_hat.isna().any()
    # a tail PSIS cannot fit is k̂ = inf (never NaN), and such a fit is never certified
    assert (table.status[~np.isfinite(table.k_hat)] == "not certified").all()
    for f in ("posterior.nc", "summary.csv", "corner.png", "trace.png", "maps.png", "row.json"):
        assert (tmp_path / "s" / "g1" / f).stat().st_size > 0, f
    # the same galaxy fitted alone (jampy in this process) gives the same posterior
    entries, _ = read_catalog(cat)
    e = entries[1]
    single = fit(e.galaxy, entry_config(dataclasses_replace_workers(cfg), e), progress=False,
                 warn=False)  # fmt: skip
    for p in PARAM_NAMES:
        draws = single.datatree["posterior"][p].values.astype(np.float64).ravel()
        np.testing.assert_allclose(table.loc["g1", f"{p}_median"], np.median(draws), rtol=1e-12)
    assert table.loc["g1", "status"] == ("certified" if single.certified else "not certified")
    np.testing.assert_allclose(table.loc["g1", "k_hat"], single.certificate["k_hat"], rtol=1e-9)
    with pytest.raises(SurveyMismatchError, match="differ in"):
        run_survey(cat, tmp_path / "s", FitConfig(), workers=1, progress=False)


def dataclasses_replace_workers(cfg):
    import dataclasses

    return dataclasses.replace(cfg, certify=dataclasses.replace(cfg.certify, workers=0))
