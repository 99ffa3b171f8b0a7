"""The component list end to end: a test-only third component (a spherical Gaussian halo of
width R_e, DESIGN.md's halo basis element) goes through jampy labels, a tiny store, a tiny
network, prediction and a fit by adding one entry and its label function, nothing else."""

import json

import jax.numpy as jnp
import numpy as np
import pytest

from jaxjam.core import components
from jaxjam.core.grid import PolarGrid
from jaxjam.data_gen.config import GeneratorConfig
from jaxjam.emulator.network import NetworkConfig
from jaxjam.reference.jam import LABELS, JampyScale, grid_maps

#: Mass of the labels' reference halo, in units of L_tot (Υ = 1).
HALO_REF_FRACTION = 0.1
HALO_WIDTH_RE = 1.0


def _halo_gaussian(mass_msun, scale):
    """One spherical Gaussian of ``mass_msun`` and width HALO_WIDTH_RE · R_e, jampy units."""
    return components.halo_gaussian(mass_msun, np.log10(HALO_WIDTH_RE), scale)


def _halo_label(second_moment, scale, settings):
    m_ref = HALO_REF_FRACTION * scale.lum_lsun
    with_halo = second_moment(0.0, _halo_gaussian(m_ref, scale))
    return (with_halo - second_moment(0.0)) / m_ref * scale.lum_lsun


HALO = components.register(
    components.Component(
        name="test_gaussian_halo",
        symbol="H",
        parameter="log10_mhalo",
        parameter_index=4,
        per_luminosity=True,
        target="linear_r",  # a difference of two jampy calls: ~0, of either sign, near the centre
        outer_power=1.0,
        label=_halo_label,
        max_weight=None,
        default_bounds=(7.0, 11.0),
        description="test only: V² response to a spherical Gaussian of width R_e, per unit M/L_tot",
    )
)
THREE = (components.STARS, components.BLACK_HOLE, HALO)
NAMES = components.names(THREE)
GRID = PolarGrid(n_r=8, n_theta=4)


@pytest.fixture(scope="module")
def m32_galaxy():
    from jaxjam.testing.m32 import m32_galaxy

    return m32_galaxy()


def test_the_list_is_checked_and_names_theta():
    assert components.parameter_names(THREE) == (
        "q_int", "ratio", "log10_mbh", "log10_ml", "log10_mhalo"
    )  # fmt: skip
    assert components.by_name(NAMES) == THREE
    with pytest.raises(ValueError, match="unknown model component 'dark'"):
        components.by_name(("stars", "dark"))
    with pytest.raises(ValueError, match="first component must be 'stars'"):
        components.by_name(("black_hole", "stars"))
    with pytest.raises(ValueError, match="positions"):
        components.check((components.STARS, HALO))  # θ would have a hole at index 2
    theta = np.array([0.3, 0.9, 8.0, 0.5, 10.0])
    np.testing.assert_allclose(components.scalings(THREE, theta, 1e10), [10**0.5, 1e-2, 1.0])


def test_the_new_label_is_jampy_with_the_halo_in_the_potential(m32):
    """The label is a linear response: A + (M/L_tot) C reproduces a direct jampy call with a
    halo of another mass in the potential. jampy is slightly nonlinear in the potential, as
    for the black hole; measured on the 8×4 grid (M32, NGC 4342, NGC 5831, nang 15 and 30),
    ≤ 4e-7 at M = 0.3 L_tot (the halo 25–30% of V²) and ≤ 2.6e-6 at M = L_tot (53–59%)."""
    from jaxjam.core.geometry import inc_from_q_int
    from jaxjam.reference.jam import _physical_mge, _proj, padded

    norm, re, _ = m32.normalized()
    scale = JampyScale(0.7, re, m32.luminosity_lsun(0.7))
    maps = grid_maps(norm, 0.4, 0.9, GRID, LABELS, scale, components=THREE)
    assert maps.maps.shape == (3, *GRID.shape) and maps.physical
    assert np.all(np.isfinite(maps["H"])) and np.median(maps["H"]) > 0  # more mass, more V²
    mass = 3 * HALO_REF_FRACTION * scale.lum_lsun
    lum = _physical_mge(padded(norm, LABELS), scale)
    pot = tuple(np.r_[a, e] for a, e in zip(lum, _halo_gaussian(mass, scale), strict=True))
    x_re, y_re = GRID.nodes_xy_re()
    inc = inc_from_q_int(0.4, norm.qobs_min)
    out = _proj(lum, inc, 0.0, 0.7, (x_re * re).ravel(), (y_re * re).ravel(), 0.9, 1, LABELS,
                pot, interp=False)  # fmt: skip
    from jaxjam.core.scaling import v2_unit_kms2

    direct = np.asarray(out.vel2[2, 2]).reshape(GRID.shape) / v2_unit_kms2(scale.lum_lsun, re, 0.7)
    linear = maps["A"] + mass / scale.lum_lsun * maps["H"]
    assert np.max(np.abs(linear / direct - 1)) < 1e-5


@pytest.fixture(scope="module")
def three_store(tmp_path_factory):
    """A 12-sample store with the three components, on an in-process (threaded) cluster: the
    test component is registered in this process only."""
    from dask.distributed import LocalCluster

    from jaxjam.data_gen.generate import generate

    cfg = GeneratorConfig(draws_per_photometry=2, photometries_per_task=2, grid=GRID,
                          components=NAMES)  # fmt: skip
    path = tmp_path_factory.mktemp("three") / "three.zarr"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster:  # fmt: skip
        generate(path, 12, seed=5, config=cfg, scheduler=cluster.scheduler_address,
                 progress=False)  # fmt: skip
    return path, cfg


def test_store_holds_one_map_per_component(three_store):
    from jaxjam.core.mge import MGE
    from jaxjam.data_gen.store import StoreReader

    path, cfg = three_store
    r = StoreReader(path)
    assert r.manifest["config"]["components"] == list(NAMES)
    i = int(r.usable_indices()[0])
    d = r.read([i], ["H", "A", "q_int", "ratio", "mge_surf", "mge_sigma", "mge_qobs", "mge_mask"])
    assert d["H"].shape == (1, *GRID.shape)
    mge = MGE.from_padded_arrays(d["mge_surf"][0], d["mge_sigma"][0], d["mge_qobs"][0],
                                 d["mge_mask"][0])  # fmt: skip
    labels = grid_maps(mge, d["q_int"][0], d["ratio"][0], GRID, cfg.labels,
                       components=THREE)  # fmt: skip
    np.testing.assert_array_equal(d["H"][0], labels["H"].astype(np.float32))
    np.testing.assert_array_equal(d["A"][0], labels["A"].astype(np.float32))


@pytest.fixture(scope="module")
def three_emulator(three_store, tmp_path_factory):
    from jaxjam.emulator.emulator import Emulator
    from jaxjam.emulator.training import TrainConfig, train

    path, _ = three_store
    net = NetworkConfig(conv_channels=(4, 4, 4, 4, 4), n_features=8, mlp_width=32, mlp_depth=2,
                        grid_shape=GRID.shape, n_components=3)  # fmt: skip
    run = tmp_path_factory.mktemp("three_run")
    cfg = TrainConfig(network=net, batch_size=4, max_epochs=2, warmup_epochs=1,
                      val_fraction=0.25, window_chunks=8)  # fmt: skip
    with pytest.raises(ValueError, match="n_components = 3"):
        train(path, run / "wrong", TrainConfig(network=NetworkConfig(grid_shape=GRID.shape)),
              progress=False)  # fmt: skip
    train(path, run / "run", cfg, progress=False)
    meta = json.loads((run / "run" / "model" / "metadata.json").read_text())
    assert meta["components"] == list(NAMES) and "h_r_mean" in meta["normalization"]
    emu = Emulator.load(run / "run" / "model")
    # the tiny model has no measured error: give it one so that a fit's error model runs
    emu.metadata["test_metrics"] = {"no_bh": {"p68": 0.05}}
    return emu


def test_prediction_sums_the_three_components(three_emulator, m32_galaxy):
    from jaxjam.core.forward import apply_operator, bin_operator

    emu, g = three_emulator, m32_galaxy
    assert emu.components == THREE
    k = g.kinematics
    maps, _ = emu.component_maps(g.mge, 0.4, 0.9)
    assert maps.shape == (3, *GRID.shape) and np.all(np.isfinite(maps))
    v = emu.predict_vrms(g.mge, 0.7, 0.4, 0.9, 1.4, 2e6, k.x_arcsec, k.y_arcsec, psf=g.psf,
                         log10_mhalo=9.0)  # fmt: skip
    op = bin_operator(emu.grid, g.mge, 0.7, k.x_arcsec, k.y_arcsec, g.psf, components=THREE)
    m = np.array([1.4, 2e6 / op.lum_lsun, 1e9 / op.lum_lsun])
    np.testing.assert_allclose(v**2, np.asarray(apply_operator(op, jnp.asarray(maps), m)),
                               rtol=1e-5)  # fmt: skip
    lighter = emu.predict_vrms(g.mge, 0.7, 0.4, 0.9, 1.4, 2e6, k.x_arcsec, k.y_arcsec,
                               psf=g.psf, log10_mhalo=8.0)  # fmt: skip
    assert np.all(lighter < v)  # the halo adds mass
    with pytest.raises(ValueError, match="log10_mhalo"):
        emu.predict_vrms(g.mge, 0.7, 0.4, 0.9, 1.4, 2e6, k.x_arcsec, k.y_arcsec)


@pytest.mark.slow
def test_a_fit_samples_the_third_components_parameter(three_emulator, m32_galaxy):
    """Refinement on jampy maps of all three components, the table, NUTS, the DataTree."""
    from jaxjam.inference import FitConfig, NUTSConfig, fit
    from jaxjam.inference.certify import CertifyConfig

    nuts = NUTSConfig(n_chains=2, n_warmup=30, n_samples=30, n_init_candidates=8,
                      n_map_steps=20, n_map_starts=2)  # fmt: skip
    cfg = FitConfig(nuts=nuts, refine_maps=4, refine_settings=LABELS, table_nodes=(8, 6),
                    certify=CertifyConfig(enabled=False, workers=0))  # fmt: skip
    with pytest.raises(ValueError, match="cannot run jampy with the component"):
        fit(m32_galaxy, FitConfig(certify=CertifyConfig(workers=0)), three_emulator,
            progress=False)  # fmt: skip
    res = fit(m32_galaxy, cfg, three_emulator, progress=False, warn=False)
    post = res.datatree["posterior"]
    assert post["log10_mhalo"].shape == (2, 30)
    assert list(res.summary.index) == list(components.parameter_names(THREE))
    lo, hi = HALO.default_bounds
    assert np.all((post["log10_mhalo"].values > lo) & (post["log10_mhalo"].values < hi))
    refinement = json.loads(post.attrs["jampy_refinement"])
    assert len(refinement["loo_at_bins"]["relative_scalings"]) == 3
    assert len(json.loads(post.attrs["table"])["max_rel_error"]) == 3
