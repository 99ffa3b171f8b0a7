"""The jampy reference wrapper against direct ``jam.axi.proj`` calls."""

import contextlib
import io
import zlib

import jampy as jam
import numpy as np
import pytest

from jaxjam.core.constants import pc_per_arcsec
from jaxjam.core.geometry import beta_eq37, inc_from_q_int
from jaxjam.core.grid import PolarGrid
from jaxjam.core.mge import MGE
from jaxjam.core.scaling import vrms2_from_components
from jaxjam.data_gen import jam_labels
from jaxjam.data_gen.jam_labels import JampyScale, LabelConfig, component_maps
from jaxjam.data_gen.sampler import draw_photometry

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
    rng = np.random.default_rng(zlib.crc32(name.encode()))  # str hash() is salted per process
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
        m = [ml, mbh / lum_lsun]
        v2 = vrms2_from_components(maps.maps, m, lum_lsun, re_arcsec, DISTANCE_MPC)
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
    ours = np.sqrt(vrms2_from_components(maps.maps, [1.0, 0.0], lum, re_arcsec, DISTANCE_MPC))
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
    rel_vrms = np.abs(np.sqrt(b["A"] / a["A"]) - 1)
    assert np.max(rel_vrms) < 2e-3
    assert np.median(rel_vrms) < 1e-4


def test_default_resolution_against_nang30(m32):
    """Spot check of label resolution: jampy's nang=15 against nang=30 (Vrms, no BH)."""
    norm = m32.normalized()[0]
    grid = PolarGrid(n_r=16, n_theta=4)
    lo = component_maps(norm, 0.3, 0.7, grid)
    hi = component_maps(norm, 0.3, 0.7, grid, LabelConfig(nang=30))
    err = np.abs(np.sqrt(lo["A"] / hi["A"]) - 1)
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


# A low-index (n = 0.59), round (q' 0.71-0.98) Sérsic drawn by the sampler, normalised.
UNPHYSICAL_MGE = MGE(
    [1.7179961260148744e-06, 8.21013119080555e-06, 2.7709650133353984e-05,
     7.768849016646307e-05, 0.00019327387804106053, 0.0004418015105238093,
     0.0009493709452780148, 0.0019547723693417065, 0.003933588806594916,
     0.00788070682902406, 0.015874955446537616, 0.03177234643283454, 0.05841812642606424,
     0.07673714687777185, 0.044166487497042065, 0.005118592213131915],
    [0.001266390401863287, 0.004094934687628754, 0.009591796228472447,
     0.019297119756747135, 0.035352167946873174, 0.06063765042574622, 0.09885439447771514,
     0.15444919476938498, 0.23218656983902441, 0.33582211634179976, 0.4650047505157886,
     0.6116151837001925, 0.7607599450718197, 0.8977402115313367, 1.0153300356957413,
     1.1175960246646588],
    [0.7056814973089133, 0.7589497822955107, 0.7678811627992269, 0.8344563434800687,
     0.8231030423589568, 0.8447918572822568, 0.8837060908207183, 0.8879590356909015,
     0.9358497197561368, 0.9206965178788993, 0.9324416682972998, 0.9553781383602552,
     0.958064431565452, 0.9747532239972541, 0.9802755164262429, 0.9733045926978415],
)  # fmt: skip


def test_unphysical_draw_is_flagged():
    # Radial anisotropy (ratio 0.65) in a round galaxy with a steeply truncated profile:
    # V² < 0 somewhere, robustly (the same at nlos = 250).
    maps = component_maps(UNPHYSICAL_MGE, 0.46057574954336084, 0.6526049596488824)
    assert maps.status == jam_labels.STATUS_A_NONPOSITIVE
    assert not maps.physical
    assert np.min(maps["A"]) < -0.01 * np.max(maps["A"])
    # the same galaxy, isotropic, is physical
    maps = component_maps(UNPHYSICAL_MGE, 0.3, 1.0)
    assert maps.status == jam_labels.STATUS_OK and maps.physical
    assert np.min(maps["A"]) > 0


def test_pc_conversion_matches_jampy():
    assert pc_per_arcsec(1.0) == pytest.approx(np.pi / 0.648)
    from jampy.axi import jam_axi_intr

    from jaxjam.core.constants import G_PC_KMS2_PER_MSUN

    assert jam_axi_intr.G == G_PC_KMS2_PER_MSUN
