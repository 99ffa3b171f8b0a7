"""The emulator-error model: its amplitudes are recovered from errors of known structure."""

import numpy as np

from jaxjam.core.grid import PolarGrid
from jaxjam.emulator.error_model import basis, bin_modes, measure, select


def test_measure_recovers_known_mode_amplitudes():
    grid = PolarGrid()
    rng = np.random.default_rng(1)
    s_true = np.array([0.01, 0.006, 0.004, 0.003, 0.002, 0.001])
    ell = np.linspace(-1, 1, grid.n_r)
    phi = basis(*np.meshgrid(ell, grid.theta_rad, indexing="ij"))  # (n_r, n_theta, 6)
    n = 2000
    c = s_true * rng.standard_normal((n, 6))
    err = np.einsum("rtk,nk->nrt", phi, c) + 0.002 * rng.standard_normal((n, *grid.shape))
    got = measure(err, grid, windows=((0, 1), (0, 0.25)))
    np.testing.assert_allclose(got["mode_std"][0], s_true, rtol=0.06, atol=2e-4)
    np.testing.assert_allclose(got["residual_std"][0], 0.002, rtol=0.05)
    assert got["n_maps"] == n and got["windows"] == [[0, grid.n_r], [0, 16]]
    # on a quarter of the range the same errors are nearly flat: the constant mode dominates
    assert got["mode_std"][1][0] > got["mode_std"][1][2]


def test_select_picks_the_window_of_the_bins():
    grid = PolarGrid()
    em = {"windows": [[0, 64], [0, 32], [32, 64]], "mode_std": [[1] * 6, [2] * 6, [3] * 6],
          "residual_std": [0.1, 0.2, 0.3]}  # fmt: skip
    assert select(em, grid.r_re[[2, 30]], grid) == ([2] * 6, 0.2)
    assert select(em, grid.r_re[[33, 63]], grid) == ([3] * 6, 0.3)
    assert select(em, grid.r_re[[1, 62]], grid) == ([1] * 6, 0.1)


def test_bin_modes_rescale_log_radius_over_the_bins():
    grid = PolarGrid()
    r = np.array([0.01, 0.1, 1.0])
    m = bin_modes(r, np.zeros(3), grid, np.ones(6))
    np.testing.assert_allclose(m[:, 1], [-1, 0, 1], atol=1e-12)  # P1(ℓ) = ℓ
    np.testing.assert_allclose(m[:, 0], 1.0)
    np.testing.assert_allclose(m[:, 3:], m[:, :3])  # cos 2θ = 1 on the major axis


def test_a_central_bin_does_not_stretch_the_radial_range():
    """An IFU's central spaxel (r = 0, clipped to r_min) must not squeeze every other bin into
    one end of ℓ: ℓ spans the bulk of the bins."""
    grid = PolarGrid()
    r = np.concatenate([[0.0], np.geomspace(0.1, 1.0, 200)])
    ell = bin_modes(r, np.zeros(r.size), grid, np.ones(6))[:, 1]
    assert ell[0] == -1.0 and ell[1:].min() < -0.9 and ell[1:].max() > 0.9
    em = {"windows": [[0, 64], [32, 64]], "mode_std": [[1] * 6, [2] * 6], "residual_std": [1, 2]}
    assert select(em, r, grid)[1] == 2  # the window of the bulk, not of the full grid
