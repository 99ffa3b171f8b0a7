"""The per-fit Chebyshev table (jaxjam.emulator.table) against the functions it tabulates."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxjam.emulator.emulator import Emulator
from jaxjam.emulator.table import table_bins, table_error, tabulate
from jaxjam.inference import FitConfig, build_problem
from jaxjam.inference.certify import CertifyConfig
from jaxjam.inference.likelihood import log_posterior
from jaxjam.inference.priors import to_unconstrained
from jaxjam.inference.problem import exact_values, tabulate_problem
from jaxjam.inference.results import TABLE_DLOGL_MAX
from jaxjam.testing.m32 import m32_galaxy

QMIN = 0.72


def _cos_inc(q):
    return np.sqrt((QMIN**2 - q**2) / (1 - q**2))


def _analytic(q, r):
    """(a | b | logit) with 2 'bins' built from what the network sees: cos i has a branch
    point at q = q'min, the box's edge, which a table in q_int would not converge across."""
    q, r = np.asarray(q, np.float64), np.asarray(r, np.float64)
    ci = _cos_inc(q)
    return np.stack([ci * r**2 + 1, np.exp(q) * r, q * ci, r / (1 + q), q - 0.3], axis=1)


def _analytic_jacobian(q, r):
    """d/dq and d/dr of :func:`_analytic`, shape (2, 5)."""
    ci = _cos_inc(q)
    dci = -q * (1 - QMIN**2) / ((1 - q**2) ** 2 * ci)
    return np.array([
        [dci * r**2, np.exp(q) * r, ci + q * dci, -r / (1 + q) ** 2, 1.0],
        [2 * ci * r, np.exp(q), 0.0, 1 / (1 + q), 0.0],
    ])  # fmt: skip


def test_table_converges_on_a_function_with_the_networks_branch_point():
    box_q, box_r = (0.051, QMIN), (0.5, 1.0)
    table = tabulate(_analytic, QMIN, box_q, box_r, nodes=(32, 16))
    err = table_error(table, _analytic, box_q, box_r, n_points=200, seed=1)
    assert max(err["max_rel_error"]) < 2e-5 and len(err["max_rel_error"]) == 2, err
    assert err["max_abs_error_logit"] < 2e-5, err
    # the derivative rule against the analytic Jacobian, away from the infinite slope of cos i
    for q, r in [(0.1, 0.6), (0.4, 0.9), (0.69, 0.75)]:
        jac = jax.jacfwd(lambda x: jnp.concatenate(table_bins(table, x[0], x[1])[0]))(
            jnp.asarray([q, r], jnp.float32)
        )
        want = _analytic_jacobian(q, r)[:, :4].T
        np.testing.assert_allclose(np.asarray(jac), want, rtol=2e-3, atol=2e-4)


def test_table_refuses_a_bad_box_and_derivatives_it_does_not_define():
    with pytest.raises(ValueError, match="q_int ≤ q'min"):
        tabulate(_analytic, QMIN, (0.1, 0.8), (0.5, 1.0))
    with pytest.raises(ValueError, match="at least 2 nodes"):
        tabulate(_analytic, QMIN, (0.1, 0.7), (0.5, 1.0), nodes=(1, 8))
    with pytest.raises(ValueError, match="not finite"):
        tabulate(lambda q, r: _analytic(q, r) * np.nan, QMIN, (0.1, 0.7), (0.5, 1.0))
    table = tabulate(_analytic, QMIN, (0.1, 0.7), (0.5, 1.0), nodes=(8, 8))
    with pytest.raises(NotImplementedError, match="q_int and ratio only"):
        jax.grad(lambda c: table_bins(table._replace(coef=c), 0.3, 0.8)[0][0].sum())(table.coef)


@pytest.fixture(scope="module")
def m32_problem():
    emu = Emulator.load()
    cfg = FitConfig()
    prob = build_problem(emu, m32_galaxy(), cfg)
    tabled, info = tabulate_problem(emu, prob, cfg)
    return emu, prob, tabled, info


def test_m32_table_reproduces_the_network(m32_problem):
    """The shipped network on M32's 175 bins with the AO PSF: values between the nodes (new
    points, not the build's own check) and the log-posterior's value and gradient."""
    emu, prob, tabled, info = m32_problem
    assert max(info["max_rel_error"]) < 2e-5 and len(info["max_rel_error"]) == 2, info
    assert 5 <= info["rank"] <= 2 * 175 + 1
    assert tabled.table.coef.shape[2] % 32 == 0  # padded: galaxies share compiled shapes
    assert tabled.table.coef.shape[2] - info["rank"] < 32
    b = np.asarray(prob.bounds, np.float64)
    err = table_error(tabled.table, exact_values(emu, prob), tuple(b[0]), tuple(b[1]),
                      n_points=256, seed=123)  # fmt: skip
    assert max(err["max_rel_error"]) < 2e-5 and len(err["max_rel_error"]) == 2, err
    assert err["max_abs_error_logit"] < 1e-3, err

    def value_and_grad(p, theta):
        u = to_unconstrained(jnp.asarray(theta, jnp.float32), p.bounds)
        v, g = jax.value_and_grad(lambda v: log_posterior(emu.bins_fn, emu.state, p, v))(u)
        return float(v), np.asarray(g)

    for theta in ([0.37, 0.85, 6.33, 0.14], [0.2, 0.6, 6.2, 0.16], [0.6, 0.97, 6.5, 0.12]):
        v_net, g_net = value_and_grad(prob, theta)
        v_tab, g_tab = value_and_grad(tabled, theta)
        assert abs(v_tab - v_net) < 0.01, (theta, v_tab, v_net)
        np.testing.assert_allclose(g_tab, g_net, rtol=2e-3, atol=2e-3 * np.abs(g_net).max())


def test_fit_config_checks_table_nodes():
    assert FitConfig(table_nodes=None).table_nodes is None
    assert FitConfig(table_nodes=[16, 8]).table_nodes == (16, 8)
    with pytest.raises(ValueError, match="table_nodes"):
        FitConfig(table_nodes=(3, 24))


@pytest.mark.slow
def test_a_coarse_table_is_caught_at_the_posterior_draws(m32_problem):
    """The check after sampling compares the network's own log-likelihood at every draw: a
    table far too coarse (4 × 4 nodes) must be reported, the default one must pass."""
    import dataclasses

    from jaxjam.inference import ConvergenceWarning, NUTSConfig, fit
    from jaxjam.inference.results import table_problems

    emu = m32_problem[0]
    cfg = FitConfig(nuts=NUTSConfig(n_warmup=30, n_samples=20, n_init_candidates=4,
                                    max_tree_depth=5, n_map_steps=20),
                    refine_maps=0, table_nodes=(4, 4), seed=2,
                    certify=CertifyConfig(enabled=False))  # fmt: skip
    res = fit(m32_galaxy(), cfg, emu, progress=False, warn=False)
    coarse = json.loads(res.datatree["posterior"].attrs["table"])["at_draws"]
    assert coarse["max_abs_dlogl"] > TABLE_DLOGL_MAX, coarse
    assert any("differs from the network's" in p for p in res.problems), res.problems
    fine = fit(m32_galaxy(), dataclasses.replace(cfg, table_nodes=(32, 24)), emu,
               progress=False, warn=False)  # fmt: skip
    check = json.loads(fine.datatree["posterior"].attrs["table"])["at_draws"]
    assert check["max_abs_dlogl"] < TABLE_DLOGL_MAX and check["n_physical_disagree"] == 0
    with pytest.warns(ConvergenceWarning, match="disagree on physicality at 3"):
        table_problems({"max_abs_dlogl": 0.0, "n_physical_disagree": 3, "n_draws": 9}, True)
