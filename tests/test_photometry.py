import numpy as np
import pytest

from jaxjam import MGE, ImageSpec, render_photometry


def test_shape_dtype_and_values(m32):
    img = render_photometry(m32)
    assert img.shape == (64, 64) and img.dtype == np.float32
    assert np.all(np.isfinite(img))
    # pixel (i, j) is log10 of the normalised MGE at (r_i cos θ_j, r_i sin θ_j)
    norm = m32.normalized()[0]
    r, th = ImageSpec().pixel_centres()
    i, j = 10, 40
    direct = norm.surface_brightness(r[i] * np.cos(th[j]), r[i] * np.sin(th[j]))
    assert img[i, j] == pytest.approx(np.log10(direct), abs=1e-5)
    # flattened galaxy: fainter along the minor axis at the same radius
    assert np.all(img[20:50, 0] >= img[20:50, -1])
    # brightness decreases outwards
    assert np.all(np.diff(img[:, 0]) < 0)


def test_independent_of_distance_luminosity_and_size(m32):
    scaled = MGE(m32.surf_lsun_pc2 * 37.0, m32.sigma_arcsec * 2.5, m32.qobs)
    np.testing.assert_allclose(render_photometry(scaled), render_photometry(m32), atol=1e-5)


def test_floor_for_truncated_mge():
    img = render_photometry(MGE([1.0], [0.3], [0.5]))
    assert img.min() == pytest.approx(-10.0)
