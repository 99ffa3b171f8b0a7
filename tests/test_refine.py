"""Refining the emulator's head for one galaxy on jampy maps (jampy is the reference), and the
refined model's error measured at the bins through the PSF."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxjam.commands.demo import m32_galaxy
from jaxjam.emulator import Emulator
from jaxjam.forward import reached_nodes
from jaxjam.inference import FitConfig, PriorBounds
from jaxjam.inference.pool import JampyPool
from jaxjam.inference.problem import galaxy_operator, unit_modes
from jaxjam.inference.refine import design_points, jampy_maps, refine_head
from jaxjam.network import head_of, with_head
from jaxjam.reference import LABELS, JampyScale, grid_maps


@pytest.fixture(scope="module")
def emu():
    return Emulator.load()


@pytest.fixture(scope="module")
def galaxy():
    return m32_galaxy()


@pytest.fixture(scope="module")
def setup(emu, galaxy):
    op = galaxy_operator(emu, galaxy, FitConfig())
    return op, reached_nodes(op, emu.grid), unit_modes(emu, galaxy)


def _maps(emu, state, mge, q_int, ratio):
    maps, _ = emu.maps_fn(state, emu.features(mge), jnp.float32(q_int), jnp.float32(ratio),
                          jnp.float32(mge.qobs_min))  # fmt: skip
    return np.asarray(maps, float)


def test_head_swap_is_exact_and_pure(emu, galaxy):
    m32 = galaxy.mge
    kernel, bias = head_of(emu.state)
    assert kernel.shape == (emu.metadata["network"]["mlp_width"], 2 * 64 * 16 + 1)
    same = _maps(emu, with_head(emu.state, kernel, bias), m32, 0.4, 0.9)
    np.testing.assert_array_equal(same[0], _maps(emu, emu.state, m32, 0.4, 0.9)[0])
    moved = _maps(emu, with_head(emu.state, kernel, bias + 0.1), m32, 0.4, 0.9)
    assert not np.allclose(moved[0], same[0])
    np.testing.assert_array_equal(head_of(emu.state)[1], bias)  # the emulator's own is intact


def test_refinement_brings_the_emulator_to_jampy_and_measures_itself_at_the_bins(
    emu, galaxy, setup
):
    """Between the design points (a held-out θ), the refined maps are much closer to jampy's
    than the network's own where the bins are; the leave-one-out error at the bins is finite,
    small and split into modes."""
    op, nodes, basis = setup
    m32 = galaxy.mge
    bounds = PriorBounds().resolve(m32.qobs_min)
    maps = jampy_maps(JampyPool(None), galaxy, design_points(6, bounds, 0), emu.grid, nodes,
                      LABELS)  # fmt: skip
    ref = refine_head(emu, m32, maps, op, nodes, basis, relative_scalings=[1.0, 3e-3])
    assert ref.design.shape == (6, 2) and ref.loo_rms_log_a < ref.raw_rms_log_a
    b = ref.bins
    assert 0 < b["median"] < 0.05 and b["median"] <= b["p95"] <= b["max"] < 0.2, b
    assert len(b["mode_std"]) == 6 and b["residual_std"] > 0
    state = with_head(emu.state, jnp.asarray(ref.kernel), jnp.asarray(ref.bias))
    norm, re, _ = m32.normalized()
    scale = JampyScale(galaxy.distance_mpc, re, float(m32.luminosity_lsun(galaxy.distance_mpc)))
    r = np.geomspace(emu.grid.r_min_re, emu.grid.r_max_re, emu.grid.n_r) <= 0.066
    for q_int, ratio in [(0.37, 0.83), (0.25, 0.65)]:
        truth = grid_maps(norm, q_int, ratio, emu.grid, LABELS, scale)
        raw = np.log(_maps(emu, emu.state, m32, q_int, ratio)[0] / truth["A"])[r]
        refined = np.log(_maps(emu, state, m32, q_int, ratio)[0] / truth["A"])[r]
        rms_raw, rms_ref = np.sqrt(np.mean(raw**2)), np.sqrt(np.mean(refined**2))
        assert rms_ref < 0.5 * rms_raw, (q_int, ratio, rms_raw, rms_ref)


def test_design_covers_the_prior_box_and_bad_settings_are_refused(emu, galaxy, setup):
    op, nodes, basis = setup
    bounds = np.array([[0.1, 0.6], [0.5, 1.0], [4, 10], [-1, 1]])
    d = design_points(12, bounds, seed=0)
    assert d.shape == (12, 2)
    assert np.all((d[:, 0] > 0.1) & (d[:, 0] < 0.6) & (d[:, 1] > 0.5) & (d[:, 1] < 1.0))
    assert np.ptp(d[:, 0]) > 0.3 and np.ptp(d[:, 1]) > 0.3
    maps = jampy_maps(JampyPool(None), galaxy, d[:2], emu.grid, nodes, LABELS)
    with pytest.raises(ValueError, match="only 2 of 2"):
        refine_head(emu, galaxy.mge, maps, op, nodes, basis, [1.0, 1e-3])
    with pytest.raises(ValueError, match="refine_maps"):
        FitConfig(refine_maps=2)
