"""Issue 18, "nothing silently wrong": each fault is made for real (the real command, files and
directories) and must give a clear message that names the fix, never a traceback, a silent
overwrite or a fit that is lost after it ran."""

import json
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from jaxjam.cli.main import main
from jaxjam.core.kinematics import (
    MAX_BINS,
    DuplicateBinsWarning,
    Kinematics,
    duplicate_bins,
    read_kinematics,
)
from jaxjam.core.mge import read_mge
from jaxjam.core.physics import bins_to_model_frame
from jaxjam.core.psf import MAX_GRID_CELLS, PSF, CartesianGrid
from jaxjam.emulator.emulator import DomainError, Emulator
from jaxjam.emulator.training import TrainConfig
from jaxjam.inference import Galaxy

KIN_FILE = resources.files("jampy") / "examples" / "jam_mock_kinematics_black_hole.txt"
MGE_FILE = resources.files("jaxjam") / "data" / "m32_mge.txt"
AO = PSF((0.04, 0.4), (0.7, 0.3), 0.05)
FIT = ["fit", "--mge", str(MGE_FILE), "--kinematics", str(KIN_FILE), "--distance", "0.7",
       "--no-certify", "--refine-maps", "0"]  # fmt: skip
PREDICT = ["predict", "--mge", str(MGE_FILE), "--bins", str(KIN_FILE), "--distance", "0.7",
           "--q-int", "0.4", "--ratio", "0.9", "--ml", "1.4"]  # fmt: skip


class FitStartedError(Exception):
    """Raised in place of the fit: reaching it means the command got past its checks."""


@pytest.fixture
def no_fitting(monkeypatch, tmp_path):
    """The CLI's fit replaced by a sentinel, so that a check that is missing (or comes after
    the fit) fails the test at once instead of fitting."""

    def fit(*args, **kwargs):
        raise FitStartedError

    monkeypatch.setattr("jaxjam.inference.fit", fit)
    monkeypatch.setenv("JAXJAM_CACHE_DIR", str(tmp_path / "xla_cache"))


def _invoke(args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _refused(r, *words):
    """A clean refusal: a message, not a traceback, containing every one of ``words``."""
    assert r.exit_code in (1, 2), r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    for w in words:
        assert w in r.output, r.output


def _unwritable(d) -> bool:
    try:
        (d / "probe").touch()
    except OSError:
        return True
    (d / "probe").unlink()
    return False


def _read_only_dir(tmp_path):
    """A directory nobody may write in: a read-only one, or where permissions do not bind
    (root), Linux's /sys, or a skip."""
    d = tmp_path / "read_only"
    d.mkdir()
    d.chmod(0o555)
    if _unwritable(d):
        return d
    if Path("/sys").is_dir() and _unwritable(Path("/sys")):
        return Path("/sys")
    pytest.skip("no unwritable directory here (root, and no /sys)")


# ------------------------------------------------------------- 5: output directories


def test_fit_checks_an_out_under_a_file_before_fitting(tmp_path, no_fitting):
    (tmp_path / "notes.txt").write_text("x")
    r = _invoke([*FIT, "--out", tmp_path / "notes.txt" / "fit"])
    _refused(r, "--out", "is a file, not a directory")


def test_fit_checks_a_read_only_out_before_fitting(tmp_path, no_fitting):
    r = _invoke([*FIT, "--out", _read_only_dir(tmp_path) / "fit"])
    _refused(r, "--out", "cannot write")


def test_fit_refuses_a_non_empty_out_unless_overwrite(tmp_path, no_fitting):
    out = tmp_path / "fit"
    out.mkdir()
    (out / "posterior.nc").write_text("an earlier fit")
    r = _invoke([*FIT, "--out", out])
    _refused(r, "not empty", "--overwrite")
    assert (out / "posterior.nc").read_text() == "an earlier fit"
    r = _invoke([*FIT, "--out", out, "--overwrite"])
    assert isinstance(r.exception, FitStartedError), r.output  # past the checks, on to the fit
    r = _invoke([*FIT, "--out", tmp_path / "new" / "fit"])  # missing parents are fine
    assert isinstance(r.exception, FitStartedError), r.output


def test_demo_checks_its_out_before_fitting(tmp_path, no_fitting, monkeypatch):
    (tmp_path / "notes.txt").write_text("x")
    _refused(_invoke(["demo", "--out", tmp_path / "notes.txt" / "demo"]), "is a file")
    other = tmp_path / "results"
    other.mkdir()
    (other / "summary.csv").write_text("a fit of another galaxy")
    _refused(_invoke(["demo", "--out", other]), "not empty", "--overwrite")
    # the demo replaces its own default output
    monkeypatch.chdir(tmp_path)
    (tmp_path / "jaxjam_demo").mkdir()
    (tmp_path / "jaxjam_demo" / "posterior.nc").write_text("the last demo")
    assert isinstance(_invoke(["demo"]).exception, FitStartedError)


def test_predict_out_creates_missing_parents_and_refuses_a_file_parent(tmp_path):
    out = tmp_path / "new" / "deeper" / "vrms.txt"
    r = _invoke([*PREDICT, "--mbh", "2e6", "--out", out])
    assert r.exit_code == 0, r.output
    assert np.loadtxt(out).shape == (read_kinematics(KIN_FILE).x_arcsec.size, 3)
    (tmp_path / "notes.txt").write_text("x")
    r = _invoke([*PREDICT, "--mbh", "2e6", "--out", tmp_path / "notes.txt" / "vrms.txt"])
    _refused(r, "--out", "is a file, not a directory")


@pytest.mark.parametrize("where", ["under_a_file", "read_only"])
def test_generate_in_an_unwritable_place_is_a_message(tmp_path, where):
    if where == "under_a_file":
        (tmp_path / "notes.txt").write_text("x")
        parent, words = tmp_path / "notes.txt", ("is a file, not a directory",)
    else:
        parent, words = _read_only_dir(tmp_path), ("cannot write",)
    r = _invoke(["generate", "--n", "4", "--out", parent / "train.zarr", "--quiet"])
    _refused(r, "--out", *words)


# ------------------------------------------------------------- 6: messages, not tracebacks


def test_a_psf_far_narrower_than_the_field_is_refused_not_allocated(tmp_path):
    k = read_kinematics(KIN_FILE)
    tiny = PSF((1e-4, 0.4), (0.5, 0.5), 0.05)
    with pytest.raises(ValueError, match=r"convolution grid would have .* cells"):
        CartesianGrid.covering(k.x_arcsec, k.y_arcsec, tiny)
    grid = CartesianGrid.covering(k.x_arcsec, k.y_arcsec, AO)  # M32's real AO PSF
    assert grid.shape[0] * grid.shape[1] < MAX_GRID_CELLS
    r = _invoke([*PREDICT, "--mbh", "2e6", "--sigmapsf", "0.0001,0.4", "--normpsf", "0.5,0.5",
                 "--pixsize", "0.05"])  # fmt: skip
    _refused(r, "convolution grid", "Check --sigmapsf")
    assert "step_arcsec" not in r.output  # not a CLI option


@pytest.mark.parametrize("step", [0.0, -0.01, np.nan])
def test_a_non_positive_convolution_step_is_refused(step):
    emu = Emulator.load()
    k = read_kinematics(KIN_FILE)
    with pytest.raises(ValueError, match="step_arcsec must be finite and > 0"):
        emu.predict_vrms(read_mge(MGE_FILE), 0.7, 0.4, 0.9, 1.4, 2e6, k.x_arcsec, k.y_arcsec,
                         psf=AO, step_arcsec=step)  # fmt: skip


def test_a_non_finite_position_angle_is_refused(tmp_path, no_fitting):
    with pytest.raises(ValueError, match="pa_deg must be a finite angle"):
        bins_to_model_frame(np.zeros(3), np.ones(3), np.nan)
    _refused(_invoke([*PREDICT, "--mbh", "0", "--pa", "nan"]), "--pa", "finite")
    _refused(_invoke([*FIT, "--out", tmp_path / "fit", "--pa", "inf"]), "--pa", "finite")


def test_a_training_config_with_a_negative_batch_size_is_refused(tmp_path):
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        TrainConfig(batch_size=-5)
    with pytest.raises(ValueError, match="val_fraction"):
        TrainConfig(val_fraction=1.0)
    config = tmp_path / "train.json"
    config.write_text(json.dumps({"batch_size": -5}))
    (tmp_path / "store.zarr").mkdir()
    r = _invoke(["train", "--data", tmp_path / "store.zarr", "--out", tmp_path / "run",
                 "--config", config, "--quiet"])  # fmt: skip
    _refused(r, "batch_size must be an integer >= 1, got -5")


# ------------------------------------------------------------- 7: the CLI's own words


def test_predict_errors_name_the_flags():
    r = _invoke([*PREDICT[:-2], "--ratio", "1.6", "--ml", "1.4", "--mbh", "0"])
    _refused(r, "outside the trained range", "Pass --extrapolate")
    assert "extrapolate=True" not in r.output
    r = _invoke([*PREDICT, "--mbh", "-1"])
    _refused(r, "--mbh must be finite and >= 0")
    assert "mbh_msun" not in r.output and "positive" not in r.output  # 0 is accepted
    r = _invoke([*PREDICT[:6], "0", *PREDICT[7:], "--mbh", "0"])  # --distance 0
    _refused(r, "--distance must be")
    assert "distance_mpc" not in r.output


def test_fit_errors_print_plain_numbers_and_name_the_flags(tmp_path):
    r = _invoke([*FIT, "--out", tmp_path / "a", "--ratio-bounds", "0.3,1.0"])
    _refused(r, "--ratio-bounds (0.3, 1) lie outside the emulator's trained range [0.5, 1.5]")
    assert "np.float64" not in r.output
    r = _invoke([*FIT, "--out", tmp_path / "b", "--log10-ml-bounds", "1,0"])
    _refused(r, "--log10-ml-bounds must be finite with lo < hi, got (1, 0)")
    flat = tmp_path / "flat_mge.txt"  # q'min = 0.1, below the trained 0.12
    flat.write_text("# surf_lsun_pc2 sigma_arcsec qobs\n1e4 1.0 0.1\n1e3 5.0 0.5\n")
    r = _invoke([*FIT[:2], flat, *FIT[3:], "--out", tmp_path / "c"])
    _refused(r, "outside the trained range", "does not extrapolate")
    assert "extrapolate=True" not in r.output


def test_help_gives_ranges_and_text_for_every_option():
    fit_help = {p.name: p.help for p in main.commands["fit"].params}
    for name in ("chains", "warmup", "draws", "overwrite"):
        assert fit_help[name], name
    predict_help = {p.name: p.help for p in main.commands["predict"].params}
    assert "(0.051, q'min]" in predict_help["q_int"]
    assert "0.5 to 1.5" in predict_help["ratio"]
    assert "1%" in predict_help["mbh"]


# ------------------------------------------------------------- 8: the black hole's domain


def test_predict_refuses_a_black_hole_beyond_the_trained_range():
    mge, k = read_mge(MGE_FILE), read_kinematics(KIN_FILE)
    emu = Emulator.load()
    stars = 1.4 * mge.luminosity_lsun(0.7)
    emu.check_mbh(mge, 0.7, 1.4, 0.9 * emu.mbh_fraction_max * stars)  # inside: no error
    with pytest.raises(DomainError, match="times the stars' mass"):
        emu.check_mbh(mge, 0.7, 1.4, 1e20)
    r = _invoke([*PREDICT, "--mbh", "1e20"])
    _refused(r, "M_BH = 1e+20 Msun", "beyond the trained range", "Pass --extrapolate")
    with pytest.warns(UserWarning, match="extrapolating the emulator: M_BH"):
        r = _invoke([*PREDICT, "--mbh", "1e20", "--extrapolate"])
    assert r.exit_code == 0, r.output
    r = _invoke([*PREDICT, "--mbh", "2e6"])  # M32's own black hole
    assert r.exit_code == 0, r.output
    assert np.loadtxt(r.output.splitlines()).shape == (k.x_arcsec.size, 3)


def test_new_models_record_the_black_holes_range():
    from jaxjam.data_gen.config import GeneratorConfig
    from jaxjam.data_gen.jam_labels import LabelConfig
    from jaxjam.emulator.training import _domain

    config = GeneratorConfig(labels=LabelConfig(bh_max_fraction=5e-3)).to_dict()
    domain = _domain({"config": config, "grid": config["grid"]})
    assert domain["mbh_fraction_max"] == 5e-3
    emu = Emulator.load()
    assert "mbh_fraction_max" not in emu.domain  # the shipped model predates the key
    assert emu.mbh_fraction_max == 1e-2  # its labels' bh_max_fraction


# ------------------------------------------------------- issue 40: data that is too much


def test_duplicate_bins_warn_that_they_weigh_double(tmp_path):
    rows = np.loadtxt(KIN_FILE)
    doubled = tmp_path / "doubled.txt"
    np.savetxt(doubled, np.vstack([rows, rows[3:5]]))  # bins 3 and 4 appended once more
    n = len(rows)
    words = rf"{re.escape(str(doubled))}: 2 kinematic bin\(s\) repeat the \(x, y\) of another bin"
    words += rf", e\.g\. bins 3, {n} at .*weigh double"
    with pytest.warns(DuplicateBinsWarning, match=words):
        kin = read_kinematics(doubled)
    assert kin.x_arcsec.size == n + 2  # kept, as given: a warning, not a refusal
    with pytest.warns(DuplicateBinsWarning):
        Kinematics.from_arrays(*rows[[0, 0, 1], :4].T)
    np.testing.assert_array_equal(duplicate_bins([0, 1, 0, 2, 1], [5, 1, 5, 2, 1])[0], [0, 2])


def test_a_huge_bin_file_is_refused_before_any_work(tmp_path, no_fitting, monkeypatch):
    """100,000 bins used to run for minutes in the PSF operator (or take 7 GB in the table's
    SVD) without a word."""
    import importlib
    import time

    fit_module = importlib.import_module("jaxjam.inference.fit")  # the module, not no_fitting's

    n = 100_000
    rng = np.random.default_rng(0)
    huge = tmp_path / "huge.txt"
    np.savetxt(huge, np.column_stack([rng.uniform(-1, 1, (2, n)).T, np.full(n, 100.0),
                                      np.full(n, 5.0)]), fmt="%.6f")  # fmt: skip
    t0 = time.perf_counter()
    r = _invoke([*FIT[:4], huge, *FIT[5:], "--out", tmp_path / "fit", "--sigmapsf", "0.04,0.4",
                 "--normpsf", "0.7,0.3", "--pixsize", "0.05"])  # fmt: skip
    _refused(r, f"100,000 kinematic bins are more than the {MAX_BINS:,} a fit takes",
             "Voronoi", "--max-bins 100000")  # fmt: skip
    assert time.perf_counter() - t0 < 30
    r = _invoke([*FIT[:4], huge, *FIT[5:], "--out", tmp_path / "fit2", "--max-bins", n])
    assert isinstance(r.exception, FitStartedError), r.output  # the limit is the user's to raise
    # in Python, before the emulator is loaded
    monkeypatch.setattr(fit_module.Emulator, "load", lambda *a, **k: pytest.fail("loaded"))
    kin = read_kinematics(huge)
    with pytest.raises(ValueError, match="fit\\(\\.\\.\\., max_bins=100000\\)"):
        fit_module.fit(Galaxy(read_mge(MGE_FILE), kin, 0.7))


def test_predict_reads_the_first_two_columns_of_a_wider_bins_file(tmp_path):
    rows = np.loadtxt(KIN_FILE)
    six = tmp_path / "six_columns.txt"
    np.savetxt(six, np.column_stack([rows, rows[:, 4]]))  # x y vrms err flux flux
    r = _invoke([*PREDICT[:4], six, *PREDICT[5:], "--mbh", "0"])
    assert r.exit_code == 0, r.output
    out = np.loadtxt(r.output.splitlines())
    np.testing.assert_array_equal(out[:, :2], np.round(rows[:, :2], 6))
    one = tmp_path / "one_column.txt"
    np.savetxt(one, rows[:, :1])
    _refused(_invoke([*PREDICT[:4], one, *PREDICT[5:], "--mbh", "0"]), "has 1 columns",
             "at least 2")  # fmt: skip
