"""The exact forward layer (PSF, pixels, interpolation, scalings) against jampy itself.

The A and B maps are computed by jampy on the emulator's grid (no network), so these tests
isolate the layer's error from the network's.
"""

from importlib import resources

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxjam.core.forward import apply_operator, bin_operator, vrms_kms
from jaxjam.core.geometry import beta_eq37, inc_from_q_int
from jaxjam.core.grid import PolarGrid
from jaxjam.core.mge import MGE, read_mge
from jaxjam.core.physics import interpolation_matrix
from jaxjam.core.psf import PSF, convolve_fft
from jaxjam.data_gen.jam_labels import LabelConfig, component_maps

GRID = PolarGrid()


def _m32():
    mge = read_mge(resources.files("jaxjam") / "data" / "m32_mge.txt")
    path = resources.files("jampy") / "examples" / "jam_mock_kinematics_black_hole.txt"
    x, y, *_ = np.loadtxt(path).T
    return mge, x, y


def _jampy(mge: MGE, q_int, ratio, ml, mbh, dist, x, y, **kw):
    import jampy as jam

    p = mge.padded_outer(1e-4, 3.0)  # DESIGN.md: pad near-round MGEs, as the labels do
    lum = (p.surf_lsun_pc2, p.sigma_arcsec, p.qobs)
    pot = (p.surf_lsun_pc2 * ml, p.sigma_arcsec, p.qobs)
    inc = inc_from_q_int(q_int, mge.qobs_min)
    out = jam.axi.proj(lum, pot, inc, mbh, dist, x, y, beta=beta_eq37(ratio), plot=False,
                       quiet=True, **kw)  # fmt: skip
    return out.model


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(sigma_arcsec=(0.1, 0.5), weights=(0.7, 0.2), pixsize_arcsec=0.1), "sum to 1"),
        (dict(sigma_arcsec=(0.1,), weights=(0.5, 0.5), pixsize_arcsec=0.1), "one weight"),
        (dict(sigma_arcsec=(-0.1,), weights=(1.0,), pixsize_arcsec=0.1), "positive"),
        (dict(sigma_arcsec=(np.nan,), weights=(1.0,), pixsize_arcsec=0.1), "finite"),
        (dict(sigma_arcsec=(0.1,), weights=(1.0,), pixsize_arcsec=0.0), "pixsize"),
    ],
)
def test_psf_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PSF(**kwargs)


def test_bin_operator_rejects_bad_bins():
    mge, x, y = _m32()
    with pytest.raises(ValueError, match="non-empty"):
        bin_operator(GRID, mge, 0.7, [], [])
    with pytest.raises(ValueError, match="NaN"):
        bin_operator(GRID, mge, 0.7, [np.nan, 1.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="outer radius"):
        bin_operator(GRID, mge, 0.7, [200.0], [0.0])
    with pytest.raises(ValueError, match="distance"):
        bin_operator(GRID, mge, -1.0, x, y)


def test_fixed_matrix_equals_fft_route():
    """W (built once) and the pure-JAX FFT route are the same linear map (inner cells incl.)."""
    mge, x, y = _m32()
    psf = PSF((0.04, 0.4), (0.7, 0.3), 0.05)
    sel = slice(0, 40)
    op = bin_operator(GRID, mge, 0.7, x[sel], y[sel], psf)
    assert op.g_inner.shape[1] > 0  # M32's AO grid reaches inside r_min = 1e-3 R_e
    rng = np.random.default_rng(1)
    r = GRID.r_re[:, None]
    A = (0.3 + 0.05 * rng.random(GRID.shape)) * r**0.2
    B = (0.2 + 0.05 * rng.random(GRID.shape)) / r
    fft = jax.jit(convolve_fft(GRID, mge, x[sel], y[sel], psf))
    scalings = jnp.array([1.3, 2e6 / op.lum_lsun])
    v_w = np.asarray(apply_operator(op, jnp.stack([A, B]), scalings)) / op.unit_kms2
    v_f = np.asarray(fft(jnp.stack([A, B]), scalings))
    np.testing.assert_allclose(v_w, v_f, rtol=2e-5)


def test_psf_free_operator_is_the_interpolation_matrix():
    mge, *_ = _m32()
    re = mge.effective_radius_arcsec()
    rng = np.random.default_rng(2)
    x, y = rng.uniform(-2 * re, 2 * re, (2, 50))
    op = bin_operator(GRID, mge, 0.7, x, y)
    for w in op.w:  # stars and black hole: the same interpolation without a PSF
        np.testing.assert_allclose(w, interpolation_matrix(GRID, x / re, y / re), atol=1e-12)
    assert op.g_inner.shape[1] == 0


def test_position_angle_rotates_bins():
    mge, x, y = _m32()
    pa = 35.0
    t = np.radians(pa)
    xs, ys = x * np.cos(t) - y * np.sin(t), x * np.sin(t) + y * np.cos(t)  # sky = rotated
    op0 = bin_operator(GRID, mge, 0.7, x[:30], y[:30])
    op1 = bin_operator(GRID, mge, 0.7, xs[:30], ys[:30], pa_deg=pa)
    np.testing.assert_allclose(op1.w[0], op0.w[0], atol=1e-9)


def test_operator_gradients_are_finite_and_exact():
    mge, x, y = _m32()
    op = bin_operator(GRID, mge, 0.7, x[:20], y[:20], PSF((0.04, 0.4), (0.7, 0.3), 0.05))
    r = GRID.r_re[:, None]
    A, B = jnp.full(GRID.shape, 0.3) * r**0.1, jnp.full(GRID.shape, 0.2) / r

    def f(log_ml, log_mbh):
        m = jnp.stack([10**log_ml, 10**log_mbh / op.lum_lsun])
        return jnp.sum(vrms_kms(op, jnp.stack([A, B]), m))

    g = jax.grad(f, argnums=(0, 1))(0.1, 6.5)
    assert np.all(np.isfinite(g))
    eps = 1e-3
    fd = (f(0.1 + eps, 6.5) - f(0.1 - eps, 6.5)) / (2 * eps)
    np.testing.assert_allclose(g[0], fd, rtol=1e-2)


@pytest.mark.parametrize(
    "q_int, ratio, ml, mbh, nang, nlos",
    [(0.5, 0.9, 1.2, 3e6, 15, 120), (0.2, 0.5, 1.0, 1e6, 30, 300)],
)
@pytest.mark.slow
def test_m32_adaptive_optics_matches_jampy(q_int, ratio, ml, mbh, nang, nlos):
    """M32 AO case (PSF σ = 0.04″, 0.4″; weights 0.7, 0.3; 0.05″ pixels) within 0.3%.

    Both sides use the Cartesian step 0.005″ and jampy runs at nang=30, nlos=300; at jampy's
    own default step (0.01″) its central Vrms moves by ~1% when the step is halved, which is
    jampy's discretisation, not ours. Bins within 0.1″ depend on the power-law extension inside
    the grid's r_min = 1e-3 R_e = 0.03″ (the innermost bin is at 0.017″); there the measured
    error reaches 0.75% for strongly radial anisotropy, so they get a 1% bound (README, "The
    exact layer"). The flat, radially anisotropic case uses labels at nang=30, nlos=300: the
    training labels' own quadrature error reaches 0.7% there, and this test is of the layer.
    """
    mge, x, y = _m32()
    norm, *_ = mge.normalized()
    psf = PSF((0.04, 0.4), (0.7, 0.3), 0.05)
    cm = component_maps(norm, q_int, ratio, GRID, LabelConfig(nang=nang, nlos=nlos))
    op = bin_operator(GRID, mge, 0.7, x, y, psf, step_arcsec=0.005)
    ours = np.asarray(vrms_kms(op, cm.maps, np.array([ml, mbh / op.lum_lsun])))
    ref = _jampy(mge, q_int, ratio, ml, mbh, 0.7, x, y, sigmapsf=[0.04, 0.4], normpsf=[0.7, 0.3],
                 pixsize=0.05, step=0.005, nrad=200, nang=30, nlos=300)  # fmt: skip
    rel = np.abs(ours / ref - 1)
    outer = np.hypot(x, y) > 0.1
    assert rel[outer].max() <= 3e-3, f"max beyond 0.1 arcsec {rel[outer].max():.2%}"
    assert rel.max() <= 1e-2, f"max {rel.max():.2%}"


def test_seeing_limited_ifu_matches_jampy():
    """Seeing-limited IFU: FWHM 1.5″, 1″ spaxels, field to 1.5 R_e, a real MGE (NGC 5831)."""
    from jaxjam.data_gen.real_galaxies import ngc5831_mge

    mge = ngc5831_mge()
    re = mge.effective_radius_arcsec()
    g = np.arange(-1.5 * re, 1.5 * re, 1.0) + 0.5
    xx, yy = np.meshgrid(g, g)
    keep = np.hypot(xx, yy) < 1.5 * re
    x, y = xx[keep], yy[keep]
    sig = 1.5 / 2.3548
    q_int, ratio, ml, mbh, dist = 0.5 * mge.qobs_min, 0.9, 3.0, 1e8, 27.0
    norm, *_ = mge.normalized()
    cm = component_maps(norm, q_int, ratio, GRID)
    op = bin_operator(GRID, mge, dist, x, y, PSF((sig,), (1.0,), 1.0))
    ours = np.asarray(vrms_kms(op, cm.maps, np.array([ml, mbh / op.lum_lsun])))
    ref = _jampy(mge, q_int, ratio, ml, mbh, dist, x, y, sigmapsf=sig, normpsf=1.0, pixsize=1.0,
                 nang=15, nlos=120)  # fmt: skip
    rel = np.abs(ours / ref - 1)
    assert np.median(rel) <= 1e-3 and rel.max() <= 3e-3, (
        f"median {np.median(rel):.3%}, max {rel.max():.3%}"
    )
