import numpy as np
import pytest
from jampy.axi.jam_axi_proj import mge_surf

from jaxjam import MGE, read_mge, write_mge


def test_valid_mge_properties(m32):
    assert m32.n_gauss == 12
    assert m32.qobs_min == pytest.approx(0.72)
    with pytest.raises(ValueError):  # arrays are read-only
        m32.surf_lsun_pc2[0] = 1.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("surf_lsun_pc2", [1.0, np.nan]),
        ("surf_lsun_pc2", [1.0, -2.0]),
        ("sigma_arcsec", [1.0, 0.0]),
        ("sigma_arcsec", [1.0, np.inf]),
        ("qobs", [0.5, 1.2]),
        ("qobs", [0.5, 0.0]),
        ("qobs", [[0.5, 0.5]]),
    ],
)
def test_invalid_field_is_named(field, value):
    kw = {"surf_lsun_pc2": [1.0, 2.0], "sigma_arcsec": [1.0, 2.0], "qobs": [0.5, 0.6]}
    kw[field] = value
    with pytest.raises(ValueError, match=field):
        MGE(**kw)


def test_shape_mismatch_and_empty():
    with pytest.raises(ValueError, match="different lengths"):
        MGE([1.0, 2.0], [1.0], [0.5, 0.5])
    with pytest.raises(ValueError, match="empty"):
        MGE([], [], [])


def test_text_round_trip_is_exact(tmp_path, m32):
    path = tmp_path / "m.txt"
    write_mge(path, m32, comment="test")
    back = read_mge(path)
    np.testing.assert_array_equal(back.surf_lsun_pc2, m32.surf_lsun_pc2)
    np.testing.assert_array_equal(back.sigma_arcsec, m32.sigma_arcsec)
    np.testing.assert_array_equal(back.qobs, m32.qobs)
    # The same file is readable with plain numpy, jampy's convention.
    assert np.loadtxt(path).shape == (12, 3)


def test_read_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_mge(tmp_path / "missing.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("# surf sigma\n1 2\n3 4\n")
    with pytest.raises(ValueError, match="3 columns"):
        read_mge(bad)
    bad.write_text("1 2 x\n")
    with pytest.raises(ValueError, match="not a table"):
        read_mge(bad)
    bad.write_text("1 2 1.5\n")
    with pytest.raises(ValueError, match="qobs"):
        read_mge(bad)


def test_effective_radius_matches_brute_force(m32):
    # Circularised half-light radius: the circle enclosing half of the light of the MGE whose
    # Gaussians are circularised at constant light (σ -> σ sqrt(q)).
    for m in [m32, MGE([3.0, 1.0, 0.2], [0.5, 2.0, 6.0], [0.6, 0.9, 0.8])]:
        s = m.sigma_arcsec * np.sqrt(m.qobs)
        lum = 2 * np.pi * m.surf_lsun_pc2 * m.sigma_arcsec**2 * m.qobs
        r = np.geomspace(1e-3, 1e3, 200001)
        enclosed = (1 - np.exp(-0.5 * (r[:, None] / s) ** 2)) @ lum
        re_brute = r[np.searchsorted(enclosed, 0.5 * lum.sum())]
        assert m.effective_radius_arcsec() == pytest.approx(re_brute, rel=5e-3)


def test_luminosity_matches_numerical_integral(m32):
    lum = m32.luminosity_arcsec2()
    # integrate a simple 2-Gaussian MGE numerically on a fine grid
    m = MGE([3.0, 1.0], [0.5, 2.0], [0.6, 0.9])
    x = np.linspace(-20, 20, 1601)
    xx, yy = np.meshgrid(x, x)
    numeric = m.surface_brightness(xx, yy).sum() * (x[1] - x[0]) ** 2
    assert m.luminosity_arcsec2() == pytest.approx(numeric, rel=1e-6)
    assert m32.luminosity_lsun(0.7) == pytest.approx(lum * (0.7 * np.pi / 0.648) ** 2)


def test_surface_brightness_matches_jampy(m32):
    x = np.linspace(-3, 3, 7)
    y = np.linspace(-2, 2, 5)
    ref = mge_surf(x, y, m32.surf_lsun_pc2, m32.sigma_arcsec, m32.qobs)  # shape (ny, nx)
    xx, yy = np.meshgrid(x, y)
    np.testing.assert_allclose(m32.surface_brightness(xx, yy), ref, rtol=1e-12)


def test_normalized_and_padding(m32):
    norm, re, lum = m32.normalized()
    assert norm.effective_radius_arcsec() == pytest.approx(1.0, rel=1e-9)
    assert norm.luminosity_arcsec2() == pytest.approx(1.0, rel=1e-12)
    assert re == pytest.approx(m32.effective_radius_arcsec())
    assert lum == pytest.approx(m32.luminosity_arcsec2())
    pad = m32.padded_outer()
    assert pad.n_gauss == 13
    assert pad.qobs_min == m32.qobs_min
    assert pad.sigma_arcsec[-1] == pytest.approx(3 * m32.sigma_arcsec.max())
    assert pad.surf_lsun_pc2[-1] == pytest.approx(1e-4 * m32.surf_lsun_pc2[-1])
    arrays = m32.to_padded_arrays(40)
    assert arrays[3].sum() == 12
    back = MGE.from_padded_arrays(*arrays)
    np.testing.assert_array_equal(back.sigma_arcsec, m32.sigma_arcsec)
    with pytest.raises(ValueError, match="n_max"):
        m32.to_padded_arrays(5)
