"""Refining the emulator's head for one galaxy on a few jampy maps (jampy is the reference)."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxjam.data_gen.jam_labels import component_maps
from jaxjam.demo import m32_galaxy
from jaxjam.emulator import Emulator
from jaxjam.inference import FitConfig, PriorBounds
from jaxjam.inference.refine import design_points, refine_head
from jaxjam.network import head_of, with_head


@pytest.fixture(scope="module")
def emu():
    return Emulator.load()


@pytest.fixture(scope="module")
def m32():
    return m32_galaxy().mge


def _maps(emu, state, mge, q_int, ratio):
    A, B, _ = emu.maps_fn(state, emu.features(mge), jnp.float32(q_int), jnp.float32(ratio),
                          jnp.float32(mge.qobs_min))  # fmt: skip
    return np.asarray(A, float), np.asarray(B, float)


def test_head_swap_is_exact_and_pure(emu, m32):
    kernel, bias = head_of(emu._state)
    assert kernel.shape == (emu.metadata["network"]["mlp_width"], 2 * 64 * 16 + 1)
    same = _maps(emu, with_head(emu._state, kernel, bias), m32, 0.4, 0.9)
    np.testing.assert_array_equal(same[0], _maps(emu, emu._state, m32, 0.4, 0.9)[0])
    moved = _maps(emu, with_head(emu._state, kernel, bias + 0.1), m32, 0.4, 0.9)
    assert not np.allclose(moved[0], same[0])
    np.testing.assert_array_equal(head_of(emu._state)[1], bias)  # the emulator's own is intact


def test_refinement_brings_the_emulator_to_jampy(emu, m32):
    """Between the design points (a held-out θ), the refined maps are much closer to jampy's
    than the network's own, inside M32's kinematic field (r ≤ 0.066 R_e)."""
    bounds = PriorBounds().resolve(m32.qobs_min)
    ref = refine_head(emu, m32, bounds, n_maps=6, seed=0)
    assert ref.design.shape == (6, 2) and ref.loo_rms_log_a < ref.raw_rms_log_a
    assert 0.05 <= ref.error_scale < 1
    state = with_head(emu._state, jnp.asarray(ref.kernel), jnp.asarray(ref.bias))
    norm, *_ = m32.normalized()
    r = np.geomspace(emu.grid.r_min_re, emu.grid.r_max_re, emu.grid.n_r) <= 0.066
    for q_int, ratio in [(0.37, 0.83), (0.25, 0.65)]:
        truth = component_maps(norm, q_int, ratio, emu.grid)
        raw = np.log(_maps(emu, emu._state, m32, q_int, ratio)[0] / truth.A)[r]
        refined = np.log(_maps(emu, state, m32, q_int, ratio)[0] / truth.A)[r]
        rms_raw, rms_ref = np.sqrt(np.mean(raw**2)), np.sqrt(np.mean(refined**2))
        assert rms_ref < 0.5 * rms_raw, (q_int, ratio, rms_raw, rms_ref)


def test_design_covers_the_prior_box_and_bad_settings_are_refused(emu, m32):
    bounds = np.array([[0.1, 0.6], [0.5, 1.0], [4, 10], [-1, 1]])
    d = design_points(12, bounds, seed=0)
    assert d.shape == (12, 2)
    assert np.all((d[:, 0] > 0.1) & (d[:, 0] < 0.6) & (d[:, 1] > 0.5) & (d[:, 1] < 1.0))
    assert np.ptp(d[:, 0]) > 0.3 and np.ptp(d[:, 1]) > 0.3
    with pytest.raises(ValueError, match="at least 3"):
        refine_head(emu, m32, bounds, n_maps=2)
    with pytest.raises(ValueError, match="refine_maps"):
        FitConfig(refine_maps=2)
