"""The v2 halo component (one spherical Gaussian of width s, an input) and the v2 generator's
labels: the basis reproduces jampy with a gNFW halo, the store holds the widths and the
physical radius, and jampy is checked wherever a label has a jampy counterpart."""

import contextlib
import io
import json

import numpy as np
import pytest

from jaxjam.core import components as comp
from jaxjam.core.geometry import inc_from_q_int
from jaxjam.core.grid import PolarGrid
from jaxjam.core.scaling import v2_unit_kms2
from jaxjam.data_gen.config import GeneratorConfig
from jaxjam.data_gen.jam_labels import physical_radius_re
from jaxjam.data_gen.sampler import SamplerConfig
from jaxjam.reference.jam import LABELS, JampyScale, _physical_mge, _proj, grid_maps, padded

GRID = PolarGrid(n_r=8, n_theta=4, r_min_re=1e-4, r_max_re=3.0)
WITH_HALO = (comp.STARS, comp.BLACK_HOLE, comp.HALO)


def _direct_v2(norm, scale, q_int, ratio, extra, settings=LABELS):
    """jampy's V² (Υ = 1) at the grid nodes with extra potential Gaussians, G L_tot/R_e."""
    lum = _physical_mge(padded(norm, settings), scale)
    pot = tuple(np.r_[a, np.atleast_1d(e)] for a, e in zip(lum, extra, strict=True))
    x_re, y_re = GRID.nodes_xy_re()
    re = scale.re_arcsec
    out = _proj(lum, inc_from_q_int(q_int, norm.qobs_min), 0.0, scale.distance_mpc,
                (x_re * re).ravel(), (y_re * re).ravel(), ratio, 1, settings, pot,
                interp=False)  # fmt: skip
    unit = v2_unit_kms2(scale.lum_lsun, re, scale.distance_mpc)
    return np.asarray(out.vel2[2, 2]).reshape(GRID.shape) / unit


def _gnfw_halo_mge(gamma, rbreak_arcsec):
    """jampy's ``jam_dark_halo_bayes_example.dark_halo_mge``: a gNFW density fitted by mgefit
    with 15 spherical Gaussians (peak surface density, sigma in arcsec)."""
    from mgefit import fit_1d

    r = np.geomspace(0.1, rbreak_arcsec * 10, 300)
    rho = (r / rbreak_arcsec) ** gamma * (0.5 + 0.5 * r / rbreak_arcsec) ** (-gamma - 3)
    with contextlib.redirect_stdout(io.StringIO()):
        m = fit_1d(r, rho, ngauss=15, quiet=1, plot=0)
    return m.sol


def test_halo_basis_reproduces_jampy_with_a_gnfw_halo(m32):
    """DESIGN.md's halo basis: an NFW halo MGE (as in jampy's dark-halo example, f_DM = 0.5
    inside R_e) in the potential gives jampy's V², and so does A plus the sum of the halo
    labels at the Gaussians' widths weighted by their masses, to ≤ 0.1% (measured ≤ 1e-5)."""
    from jampy.mge import radial_mass

    norm, re, _ = m32.normalized()
    scale = JampyScale(0.7, re, m32.luminosity_lsun(0.7))
    q_int, ratio = 0.5, 0.9
    surf_dm, sigma_dm = _gnfw_halo_mge(-1.0, 3 * re)
    lum = _physical_mge(padded(norm, LABELS), scale)
    inc = inc_from_q_int(q_int, norm.qobs_min)
    stars_re = radial_mass(*lum, inc, re, scale.distance_mpc)
    dark_re = radial_mass(surf_dm, sigma_dm, np.ones_like(surf_dm), inc, re, scale.distance_mpc)
    surf_dm = surf_dm * 0.5 * stars_re / (dark_re * 0.5)  # f_DM(< R_e) = 0.5 with Υ = 1
    direct = _direct_v2(norm, scale, q_int, ratio, (surf_dm, sigma_dm, np.ones_like(surf_dm)))

    from jaxjam.core.constants import pc_per_arcsec

    mass_msun = 2 * np.pi * surf_dm * (sigma_dm * pc_per_arcsec(scale.distance_mpc)) ** 2
    basis = None
    for m_k, s_k in zip(mass_msun, sigma_dm, strict=True):
        maps = grid_maps(norm, q_int, ratio, GRID, LABELS, scale, components=WITH_HALO,
                         inputs={"log10_width_re": np.log10(s_k / re)})  # fmt: skip
        term = m_k / scale.lum_lsun * maps["H"]
        basis = maps["A"] + term if basis is None else basis + term
    share = 1 - maps["A"] / direct
    assert share.max() > 0.3  # the halo matters: it carries ≥ 30% of V² somewhere
    assert np.max(np.abs(basis / direct - 1)) < 1e-3


@pytest.mark.parametrize("log10_width_re", [-3.5, 1.8])
def test_halo_label_is_linear_at_the_ends_of_its_widths(m32, log10_width_re):
    """jampy's nonlinearity for halo-dominated potentials: at 3× the reference mass the
    linear response reproduces direct jampy to ≤ 1e-3 in V² where the halo carries ≥ 85% of
    V² (measured on three galaxies, benchmarks/halo/halo_linearity.py: ≤ 1.0e-4)."""
    norm, re, _ = m32.normalized()
    scale = JampyScale(0.7, re, m32.luminosity_lsun(0.7))
    maps = grid_maps(norm, 0.5, 1.1, GRID, LABELS, scale, components=WITH_HALO,
                     inputs={"log10_width_re": log10_width_re})  # fmt: skip
    mass = 3 * comp.halo_ref_mass(log10_width_re, scale.lum_lsun)
    direct = _direct_v2(norm, scale, 0.5, 1.1, comp.halo_gaussian(mass, log10_width_re, scale))
    halo = mass / scale.lum_lsun * maps["H"]
    assert np.max(halo / direct) > 0.85
    assert np.max(np.abs((maps["A"] + halo) / direct - 1)) < 1e-3


def test_a_halo_label_needs_its_width(m32):
    norm = m32.normalized()[0]
    with pytest.raises(ValueError, match="log10_width_re"):
        grid_maps(norm, 0.5, 0.9, GRID, LABELS, components=WITH_HALO)
    with pytest.raises(ValueError, match="log10_width_re"):
        grid_maps(norm, 0.5, 0.9, GRID, LABELS, components=WITH_HALO,
                  inputs={"log10_width_re": float("nan")})  # fmt: skip
    with pytest.raises(ValueError, match="input_name and input_range"):
        comp.Component(**{**_fields(comp.HALO), "input_range": None})


def _fields(c):
    import dataclasses

    return {f.name: getattr(c, f.name) for f in dataclasses.fields(c)}


def test_physical_radius_is_where_the_map_first_turns_non_positive():
    radii = np.array([0.1, 0.3, 1.0, 3.0])
    a = np.ones((4, 3))
    a[2, 0] = -1.0  # angle 0 unphysical from 1 R_e: physical out to 0.3
    a[0, 1] = np.nan  # angle 1 not even at the centre
    a[3, 2] = 0.0  # angle 2: zero at the edge
    np.testing.assert_array_equal(physical_radius_re(a, radii), np.float32([0.3, 0.0, 1.0]))
    np.testing.assert_array_equal(physical_radius_re(np.ones((4, 2)), radii), [3.0, 3.0])


@pytest.fixture(scope="module")
def v2_store(tmp_path_factory):
    """Six samples of the v2 design (halo, physical radius, inner discs, log q_int) on a tiny
    grid, at cheap jampy settings."""
    from dask.distributed import LocalCluster

    from jaxjam.data_gen.generate import generate

    cfg = GeneratorConfig(
        photometries_per_task=3, grid=GRID, labels=LABELS,
        sampler=SamplerConfig(p_inner_disc=0.5, q_int_log_fraction=0.5, n_max_gauss=48),
        components=comp.names(WITH_HALO), physical_radius=True,
    )  # fmt: skip
    path = tmp_path_factory.mktemp("v2") / "v2.zarr"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster:  # fmt: skip
        generate(path, 6, seed=11, config=cfg, scheduler=cluster.scheduler_address,
                 progress=False)  # fmt: skip
    return path, cfg


def test_v2_store_holds_widths_physical_radii_and_jampy_labels(v2_store):
    import zarr

    from jaxjam.core.mge import MGE

    path, _ = v2_store
    g = zarr.open_group(str(path), mode="r")
    m = g.attrs["manifest"]
    assert m["descriptor_names"][-3:] == ["inner_disc_fraction", "inner_disc_scale",
                                          "inner_disc_q"]  # fmt: skip
    assert g["descriptors"].shape == (6, 13) and "H_log10_width_re" in m["units"]
    widths = g["H_log10_width_re"][:]
    lo, hi = comp.HALO.input_range
    assert np.all((widths >= lo) & (widths <= hi)) and np.unique(widths).size == 6
    status, a = g["status"][:], g["A"][:]
    for i in range(6):
        np.testing.assert_array_equal(g["physical_radius_re"][i],
                                      physical_radius_re(a[i], GRID.r_re))  # fmt: skip
    i = int(np.nonzero(status == 0)[0][0])
    k = g["mge_mask"][i]
    mge = MGE(g["mge_surf"][i][k], g["mge_sigma"][i][k], g["mge_qobs"][i][k])
    again = grid_maps(mge, g["q_int"][i], g["ratio"][i], GRID, LABELS, components=WITH_HALO,
                      inputs={"log10_width_re": widths[i]})  # fmt: skip
    np.testing.assert_allclose(g["H"][i], again["H"], rtol=1e-6)
    np.testing.assert_array_equal(g["physical_radius_re"][i], np.float32(GRID.r_re[-1]))


def test_a_store_made_before_new_config_fields_still_resumes(tmp_path, tiny_config):
    """Fields added to the config since a store was made are compared at their defaults
    (which keep the old behaviour), so the old store resumes instead of being refused."""
    import zarr

    from jaxjam.data_gen.generate import open_or_create_store

    path = tmp_path / "old.zarr"
    open_or_create_store(path, tiny_config, seed=1, n_samples=4)
    g = zarr.open_group(str(path), mode="r+")
    manifest = json.loads(json.dumps(dict(g.attrs["manifest"])))
    del manifest["config"]["physical_radius"]
    for key in ("p_inner_disc", "q_int_log_fraction", "inner_disc_q"):
        del manifest["config"]["sampler"][key]
    g.attrs["manifest"] = manifest
    open_or_create_store(path, tiny_config, seed=1, n_samples=4)  # no error
    changed = GeneratorConfig.from_dict({**tiny_config.to_dict(), "physical_radius": True})
    with pytest.raises(ValueError, match="physical_radius"):
        open_or_create_store(path, changed, seed=1, n_samples=4)


V2_NET = dict(conv_channels=(4, 4, 4, 4, 4), n_features=8, mlp_width=32, mlp_depth=2,
              grid_shape=(8, 4), n_components=3, head_rank=6, input_terms=8)  # fmt: skip


def test_training_refuses_a_network_that_does_not_take_the_halo_width(v2_store):
    from jaxjam.data_gen.store import StoreReader
    from jaxjam.emulator.network import NetworkConfig
    from jaxjam.emulator.training import TrainConfig, _store_components

    path, _ = v2_store
    for net in (NetworkConfig(n_components=3),
                NetworkConfig(**V2_NET, input_ranges=(None, None, (-3.0, 1.8)))):  # fmt: skip
        with pytest.raises(ValueError, match="input_ranges"):
            _store_components(StoreReader(path), TrainConfig(network=net))


@pytest.mark.slow
def test_a_v2_network_learns_the_halo_store_and_reloads(tmp_path, v2_store):
    """The factorised head with the halo's Chebyshev width terms and the physical-radius output
    trains on a v2 store (the loss falls 10× on its few samples), and the saved model
    reloads to the same predictions (a save/load round trip)."""
    import jax.numpy as jnp

    from jaxjam.emulator.checkpoint import load_model
    from jaxjam.emulator.network import NetworkConfig
    from jaxjam.emulator.training import TrainConfig, train

    path, _ = v2_store
    net = NetworkConfig(**V2_NET, input_ranges=(None, None, comp.HALO.input_range),
                        physicality="radius")  # fmt: skip
    cfg = TrainConfig(network=net, batch_size=2, max_epochs=80, learning_rate=3e-3,
                      warmup_epochs=2, val_fraction=0.2, window_chunks=8,
                      patience=1000)  # fmt: skip
    train(path, tmp_path / "run", cfg, progress=False)
    hist = json.loads((tmp_path / "run" / "history.json").read_text())
    first, last = hist[0]["train_loss"], min(h["train_loss"] for h in hist[-5:])
    assert last < 0.1 * first, f"training loss went from {first:.3g} to {last:.3g}"
    model, norm, _ = load_model(tmp_path / "run" / "model")
    assert model.config == net and norm.components == WITH_HALO
    again, _, _ = load_model(tmp_path / "run" / "model")
    image = jnp.asarray(norm.standardize_image(np.ones((1, 64, 64), np.float32)))
    scalars, width = jnp.zeros((1, 6)), jnp.array([[-1.0]])
    out1, out2 = model(image, scalars, width), again(image, scalars, width)
    for a, b in zip(out1, out2, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert out1[0].shape == (1, 3, 8, 4) and out1[1].shape == (1, 4)
    from jaxjam.emulator.emulator import Emulator

    with pytest.raises(ValueError, match="v2 network layout"):
        Emulator.load(tmp_path / "run" / "model")
    # the store-accuracy measurement takes the v2 model: every case, over the physical samples
    from jaxjam.data_gen.store import StoreReader
    from jaxjam.emulator.store_accuracy import store_accuracy

    acc = store_accuracy(tmp_path / "run" / "model", path)
    status = StoreReader(path).read(np.arange(6), ["status"])["status"]
    assert acc["n_samples"] == 6 and acc["n_physical"] == int(np.isin(status, (0, 2)).sum())
    assert set(acc["cases"]) == {"no_bh", "bh_0.001", "bh_0.003", "bh_0.01", "halo"}
    assert all(np.isfinite(c["median"]) and c["median"] >= 0 for c in acc["cases"].values())
    assert 0 <= acc["physicality"]["fraction_nodes_false_refusal"] <= 1
