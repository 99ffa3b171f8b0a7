"""A bad argument is named as its caller names it: the library's names in Python, the flags on
the command line, with no text rewriting."""

import pytest
from click.testing import CliRunner

from jaxjam.cli.main import main
from jaxjam.core.errors import ArgumentError, literal
from jaxjam.core.psf import PSF
from jaxjam.inference import PriorBounds


def test_fields_are_worded_by_the_caller_and_literal_text_is_kept():
    err = ArgumentError("{mbh_msun} must be >= 0 " + literal("{not a field}") + "{hint}",
                        hint=", or else")  # fmt: skip
    assert str(err) == "mbh_msun must be >= 0 {not a field}, or else"
    assert err.worded({"mbh_msun": "--mbh", "hint": ""}) == "--mbh must be >= 0 {not a field}"
    assert isinstance(err, ValueError)


def test_python_callers_read_the_librarys_names():
    with pytest.raises(ValueError, match=r"^PSF sigmas must be finite"):
        PSF(sigma_arcsec=(-1.0,), weights=(1.0,), pixsize_arcsec=0.05)
    with pytest.raises(ValueError, match=r"^prior bounds of log10_mbh must be finite"):
        PriorBounds(log10_mbh=(9.0, 6.0)).resolve(0.7)


def test_the_command_line_reads_its_flags(tmp_path):
    from importlib import resources

    mge = str(resources.files("jaxjam") / "data" / "m32_mge.txt")
    kin = str(resources.files("jampy") / "examples" / "jam_mock_kinematics_black_hole.txt")
    base = ["predict", "--mge", mge, "--bins", kin, "--distance", "0.7", "--q-int", "0.4",
            "--ratio", "0.9", "--ml", "1.3"]  # fmt: skip
    res = CliRunner().invoke(main, [*base, "--mbh", "-1"])
    assert res.exit_code == 1 and "--mbh must be finite and >= 0" in res.output, res.output
    assert "mbh_msun" not in res.output
    res = CliRunner().invoke(main, [*base, "--mbh", "1e6", "--sigmapsf", "0.1,-0.2",
                                    "--normpsf", "0.5,0.5", "--pixsize", "0.05"])  # fmt: skip
    assert res.exit_code == 1 and "PSF sigmas (--sigmapsf) must be finite" in res.output
    res = CliRunner().invoke(main, ["fit", "--mge", mge, "--kinematics", kin, "--distance", "0.7",
                                    "--out", str(tmp_path / "o"), "--log10-mbh-bounds", "9,6",
                                    "--workers", "0"])  # fmt: skip
    assert res.exit_code == 1 and "--log10-mbh-bounds must be finite with lo < hi" in res.output
