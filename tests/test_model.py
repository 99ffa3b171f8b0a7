"""The model object owns the parameter list: one component entry adds a parameter that reaches
the priors, the fit/survey command-line options, the survey catalogue and the summary."""

import json

import click
import numpy as np
import pytest
from click.testing import CliRunner

from jaxjam.cli.options import fit_config, fit_options
from jaxjam.cli.survey.catalog import CatalogError, read_catalog
from jaxjam.core import components
from jaxjam.core.model import Model
from jaxjam.inference import PARAM_NAMES, PriorBounds
from jaxjam.inference.diagnostics import summarize, to_datatree
from jaxjam.inference.nuts import NUTSTrace

#: a test-only component: registered in this process only, never fitted here
EXTRA = components.register(
    components.Component(
        name="test_model_extra",
        symbol="T",
        parameter="log10_mtest",
        parameter_index=4,
        per_luminosity=True,
        target="linear_r",
        outer_power=1.0,
        label=lambda second_moment, scale, settings: second_moment(0.0) * 0,
        max_weight=None,
        default_bounds=(7.0, 11.0),
        description="test only",
        parameter_unit="log10 Msun",
    )
)
MODEL = Model((components.STARS, components.BLACK_HOLE, EXTRA))


def test_the_shipped_model_is_the_parameter_list_everything_used():
    m = Model()
    assert m.names == PARAM_NAMES == components.parameter_names(components.DEFAULT)
    assert m.names == ("q_int", "ratio", "log10_mbh", "log10_ml")
    assert m.parameter("log10_mbh").unit == "log10 Msun"
    assert [p.option for p in m.parameters][2] == "--log10-mbh-bounds"
    with pytest.raises(KeyError, match="its parameters are"):
        m.parameter("f_dm")
    with pytest.raises(ValueError, match="unknown anisotropy family"):
        Model(anisotropy="elliptical")
    assert MODEL.names == (*PARAM_NAMES, "log10_mtest")


def test_the_default_bounds_are_unchanged_and_recorded_as_before():
    b = PriorBounds()
    assert b.to_dict() == {"q_int": None, "ratio": (0.5, 1.0), "log10_mbh": (4.0, 10.5),
                           "log10_ml": (-1.0, 1.5)}  # fmt: skip
    np.testing.assert_array_equal(b.resolve(0.7), [[0.051, 0.7], [0.5, 1.0], [4.0, 10.5],
                                                   [-1.0, 1.5]])  # fmt: skip


def test_an_extra_parameter_reaches_the_priors():
    b = PriorBounds.from_dict({"log10_mbh": (6.0, 9.0), "log10_mtest": (8.0, 9.0)})
    out = b.resolve(0.7, components=MODEL.components)
    np.testing.assert_array_equal(out[[2, 4]], [[6.0, 9.0], [8.0, 9.0]])
    np.testing.assert_array_equal(PriorBounds().resolve(0.7, components=MODEL.components)[4],
                                  EXTRA.default_bounds)  # fmt: skip
    with pytest.raises(ValueError, match=r"log10_mtest.*which this model does not have"):
        b.resolve(0.7)  # the shipped model has no such parameter


def test_an_extra_parameter_reaches_the_command_line():
    @click.command()
    @fit_options(MODEL)
    def cmd(**options):
        cfg = fit_config(**options)
        click.echo(json.dumps(cfg.bounds.resolve(0.7, components=MODEL.components).tolist()))

    runner = CliRunner()
    assert "--log10-mtest-bounds" in runner.invoke(cmd, ["--help"]).output
    res = runner.invoke(cmd, ["--log10-mtest-bounds", "8,9.5", "--log10-mbh-bounds", "6,9"])
    assert res.exit_code == 0, res.output
    bounds = eval(res.output)
    assert bounds[4] == [8.0, 9.5] and bounds[2] == [6.0, 9.0]
    res = runner.invoke(cmd, ["--log10-mtest-bounds", "8"])
    assert res.exit_code != 0 and "--log10-mtest-bounds needs two numbers" in str(res.exception)


def test_an_extra_parameter_reaches_the_catalogue(tmp_path):
    from importlib import resources

    mge = resources.files("jaxjam") / "data" / "m32_mge.txt"
    kin = resources.files("jampy") / "examples" / "jam_mock_kinematics_black_hole.txt"
    cat = tmp_path / "cat.csv"
    cat.write_text(
        f'name,mge,kinematics,distance_mpc,log10_mtest_bounds\nm32,{mge},{kin},0.7,"8,9"\n'
    )
    entries, bad = read_catalog(cat, model=MODEL)
    assert not bad and entries[0].bounds == {"log10_mtest": (8.0, 9.0)}
    with pytest.raises(CatalogError, match=r"log10_mtest_bounds.*bound no parameter"):
        read_catalog(cat)  # the shipped model's catalogue has no such column


def test_an_extra_parameter_reaches_the_summary():
    rng = np.random.default_rng(0)
    n_chains, n_draws, n_bins = 2, 50, 3
    theta = rng.normal(size=(n_chains, n_draws, len(MODEL.names))) + np.arange(5)
    shape = (n_chains, n_draws)
    trace = NUTSTrace(theta, np.zeros(shape), np.zeros(shape, bool), np.ones(shape, int),
                      np.ones(shape, int), np.full(shape, 0.8), np.zeros(shape),
                      np.full(n_chains, 0.1))  # fmt: skip
    observed = {k: np.ones(n_bins) for k in ("x_arcsec", "y_arcsec", "vrms_kms", "vrms_err_kms")}
    dt = to_datatree(theta, trace, observed, np.ones((*shape, n_bins)), {}, MODEL.names)
    summary = summarize(dt)
    assert list(summary.index) == list(MODEL.names)
    assert abs(summary.loc["log10_mtest", "mean"] - 4.0) < 0.3
