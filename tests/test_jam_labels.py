"""The jampy reference wrapper against direct ``jam.axi.proj`` calls."""

import contextlib
import io

import jampy as jam
import numpy as np
import pytest

from jaxjam.constants import pc_per_arcsec
from jaxjam.data_gen import jam_labels
from jaxjam.data_gen.jam_labels import JampyScale, LabelConfig, component_maps
from jaxjam.data_gen.sampler import draw_photometry
from jaxjam.geometry import beta_eq37, inc_from_q_int
from jaxjam.grid import PolarGrid
from jaxjam.mge import MGE
from jaxjam.scaling import vrms2_from_components

DISTANCE_MPC = 0.7


def _disc_galaxy():
    with contextlib.redirect_stdout(io.StringIO()):
        rng = np.random.default_rng(7)
        while True:  # a galaxy with a flattened disc, to go beyond M32's round shape
            phot = draw_photometry(rng)
            if phot.descriptors[1] > 0.3 and phot.mge.qobs_min < 0.35:
                return phot.mge


def _scale(mge: MGE):
    return JampyScale(
        DISTANCE_MPC, mge.effective_radius_arcsec(), mge.luminosity_lsun(DISTANCE_MPC)
    )


def _jampy_vrms(mge: MGE, q_int, ratio, ml, mbh, x, y, style, nlos=LabelConfig().nlos):
    """Direct jampy call on the padded MGE, in physical units (M32-like distance)."""
    pad = mge.padded_outer()
    lum = [pad.surf_lsun_pc2, pad.sigma_arcsec, pad.qobs]
    inc = inc_from_q_int(q_int, mge.qobs_min)
    common = dict(beta=beta_eq37(ratio), plot=False, quiet=True, moment="zz", nlos=nlos)
    if style == "example":  # jampy's examples: scale surf_pot by M/L, ml=1
        pot = [pad.surf_lsun_pc2 * ml, pad.sigma_arcsec, pad.qobs]
        out = jam.axi.proj(lum, pot, inc, mbh, DISTANCE_MPC, x, y, ml=1, **common)
    else:  # jampy's `ml` keyword also multiplies mbh (its docstring): pass mbh/ml
        out = jam.axi.proj(lum, lum, inc, mbh / ml, DISTANCE_MPC, x, y, ml=ml, **common)
    return out.model


@pytest.fixture(scope="module")
def galaxies(m32):
    disc = _disc_galaxy()
    # give the sampled galaxy physical units: R_e = 5 arcsec, surf in Lsun/pc^2
    disc = MGE(disc.surf_lsun_pc2 * 1e4 / 25.0, disc.sigma_arcsec * 5.0, disc.qobs)
    return {"M32": m32, "disc": disc}


@pytest.mark.parametrize("name", ["M32", "disc"])
@pytest.mark.parametrize("style", ["example", "ml_keyword"])
def test_components_reproduce_direct_jampy(galaxies, name, style):
    mge = galaxies[name]
    rng = np.random.default_rng(hash(name) % 2**32)
    norm, re_arcsec, _ = mge.normalized()
    lum_lsun = mge.luminosity_lsun(DISTANCE_MPC)
    # random node positions: a small grid with random radial extent inside 1e-3..3 R_e
    r_lo, r_hi = np.sort(np.exp(rng.uniform(np.log(1e-3), np.log(3.0), 2)))
    grid = PolarGrid(n_r=6, n_theta=5, r_min_re=r_lo, r_max_re=r_hi)
    q_int = rng.uniform(0.051, norm.qobs_min)
    ratio = rng.uniform(0.5, 1.5)
    maps = component_maps(norm, q_int, ratio, grid, scale=_scale(mge))
    assert maps.physical
    x_re, y_re = grid.nodes_xy_re()
    x, y = (x_re * re_arcsec).ravel(), (y_re * re_arcsec).ravel()
    ml = rng.uniform(0.5, 5.0)
    for mbh_over_mstar in [0.0, 1e-3, 5e-3]:
        mbh = mbh_over_mstar * ml * lum_lsun
        v2 = vrms2_from_components(maps.A, maps.B, ml, mbh, lum_lsun, re_arcsec, DISTANCE_MPC)
        ours = np.sqrt(v2).ravel()
        ref = _jampy_vrms(mge, q_int, ratio, ml, mbh, x, y, style)
        rel = np.max(np.abs(ours / ref - 1))
        assert rel <= 1e-6, f"{name} M_BH/M*={mbh_over_mstar}: max rel err {rel:.2e}"


def test_quadrant_symmetry(m32):
    norm, re_arcsec, _ = m32.normalized()
    grid = PolarGrid(n_r=5, n_theta=4, r_min_re=0.01, r_max_re=2.0)
    maps = component_maps(norm, 0.4, 0.8, grid, scale=_scale(m32))
    lum = m32.luminosity_lsun(DISTANCE_MPC)
    x_re, y_re = grid.nodes_xy_re()
    x, y = (x_re * re_arcsec).ravel(), (y_re * re_arcsec).ravel()
    ours = np.sqrt(vrms2_from_components(maps.A, maps.B, 1.0, 0.0, lum, re_arcsec, DISTANCE_MPC))
    for sx, sy in [(-1, 1), (1, -1), (-1, -1)]:
        mirrored = _jampy_vrms(m32, 0.4, 0.8, 1.0, 0.0, sx * x, sy * y, "example")
        np.testing.assert_allclose(mirrored, ours.ravel(), rtol=1e-6)


def test_physical_scale_changes_labels_only_by_jampy_quadrature_noise(m32):
    """Scale-free physics: A and B do not depend on distance and size, up to the noise of
    jampy's line-of-sight quadrature, which places its nodes in absolute parsecs."""
    norm = m32.normalized()[0]
    grid = PolarGrid(n_r=12, n_theta=4)
    a = component_maps(norm, 0.5, 1.2, grid)
    b = component_maps(norm, 0.5, 1.2, grid, scale=JampyScale(31.0, 2.0, 3e8))
    rel_vrms = np.abs(np.sqrt(b.A / a.A) - 1)
    assert np.max(rel_vrms) < 2e-3
    assert np.median(rel_vrms) < 1e-4


def test_default_resolution_against_nang30(m32):
    """Spot check of label resolution: jampy's nang=15 against nang=30 (Vrms, no BH)."""
    norm = m32.normalized()[0]
    grid = PolarGrid(n_r=16, n_theta=4)
    lo = component_maps(norm, 0.3, 0.7, grid)
    hi = component_maps(norm, 0.3, 0.7, grid, LabelConfig(nang=30))
    err = np.abs(np.sqrt(lo.A / hi.A) - 1)
    assert np.median(err) < 1e-3
    assert err.max() < 1e-2


@pytest.mark.parametrize(
    ("q_int", "ratio", "match"),
    [
        (0.05, 1.0, "q_int"),  # below the global limit
        (0.8, 1.0, "inclination would be below"),  # above q'min = 0.72 of M32
        (np.nan, 1.0, "q_int"),
        (0.4, 0.45, "ratio"),
        (0.4, 1.55, "ratio"),
        (0.4, np.nan, "ratio"),
    ],
)
def test_invalid_inputs_rejected_before_jampy(m32, monkeypatch, q_int, ratio, match):
    def boom(*args, **kwargs):
        raise AssertionError("jampy must not be called with invalid input")

    monkeypatch.setattr(jam.axi, "proj", boom)
    with pytest.raises(ValueError, match=match):
        component_maps(m32.normalized()[0], q_int, ratio)


def test_unnormalized_mge_rejected(m32):
    with pytest.raises(ValueError, match="normalised"):
        component_maps(m32, 0.4, 1.0)


# A low-index (n = 0.53) flat Sérsic drawn by the sampler (seed 1, photometry 8), normalised.
UNPHYSICAL_MGE = MGE(
    [6.1206429223670174e-08, 3.1455811935843659e-07, 1.1328812139022927e-06,
     3.3963315204816657e-06, 9.3078769871982963e-06, 2.4793011054905799e-05,
     6.5696704647644503e-05, 1.7430811476887650e-04, 4.6340453731467588e-04,
     1.2325774568183443e-03, 3.3259187650063302e-03, 9.4774476774847783e-03,
     3.1022655697687251e-02, 9.6801667914371226e-02, 8.6038794926281775e-02,
     4.6910162813086886e-04],
    [1.2573131543433141e-03, 3.7320287713739336e-03, 8.2997499563989708e-03,
     1.6098393328066028e-02, 2.8888032790015512e-02, 4.9777482561189558e-02,
     8.4194927314222290e-02, 1.4110227132197320e-01, 2.3456415091185356e-01,
     3.8338816913764401e-01, 6.0425146382074568e-01, 8.8965895030650066e-01,
     1.1864119076200712e+00, 1.4183567129029162e+00, 1.5559560355146000e+00,
     1.7159364124775227e+00],
    [0.29783179031309664, 0.28864225653005154, 0.2994481681122283, 0.3014715488633868,
     0.3012791445967833, 0.32867329465168876, 0.31093944858904515, 0.33874390397960674,
     0.3186233117277066, 0.3444626080879369, 0.33067623903558085, 0.34535405386114,
     0.3397014093228916, 0.3761849741252188, 0.3239490607614316, 0.37697878527418627],
)  # fmt: skip


def test_unphysical_draw_is_flagged():
    # Nearly face-on (q_int = 0.09), tangential anisotropy: V² < 0 on the minor axis at ~2 R_e.
    maps = component_maps(UNPHYSICAL_MGE, 0.09023678, 1.2612549)
    assert maps.status == jam_labels.STATUS_A_NONPOSITIVE
    assert not maps.physical
    assert np.min(maps.A) <= 0
    # the same galaxy, seen more edge-on and with radial anisotropy, is physical
    maps = component_maps(UNPHYSICAL_MGE, 0.28, 0.7)
    assert maps.status == jam_labels.STATUS_OK and maps.physical
    assert np.min(maps.A) > 0


def test_pc_conversion_matches_jampy():
    assert pc_per_arcsec(1.0) == pytest.approx(np.pi / 0.648)
    from jampy.axi import jam_axi_intr

    from jaxjam.constants import G_PC_KMS2_PER_MSUN

    assert jam_axi_intr.G == G_PC_KMS2_PER_MSUN
