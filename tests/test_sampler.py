import contextlib
import io

import numpy as np
import pytest

from jaxjam.data_gen.real_galaxies import real_galaxy_mges
from jaxjam.data_gen.sampler import (
    DESCRIPTOR_NAMES,
    SamplerConfig,
    draw_jam_parameters,
    draw_photometry,
    profile_descriptors,
)
from jaxjam.geometry import Q_INT_MIN


def _draws(n, seed):
    rng = np.random.default_rng(seed)
    with contextlib.redirect_stdout(io.StringIO()):
        return [draw_photometry(rng) for _ in range(n)]


@pytest.fixture(scope="module")
def sample():
    return _draws(96, seed=2024)


def test_deterministic_given_seed():
    a, b = _draws(2, seed=5), _draws(2, seed=5)
    for pa, pb in zip(a, b, strict=True):
        np.testing.assert_array_equal(pa.mge.surf_lsun_pc2, pb.mge.surf_lsun_pc2)
        np.testing.assert_array_equal(pa.descriptors, pb.descriptors)
    c = _draws(1, seed=6)
    assert not np.array_equal(a[0].descriptors, c[0].descriptors)


def test_photometries_are_valid_and_normalised(sample):
    cfg = SamplerConfig()
    for p in sample:
        assert p.mge.n_gauss <= cfg.n_max_gauss
        assert p.mge.effective_radius_arcsec() == pytest.approx(1.0, rel=1e-9)
        assert p.mge.luminosity_arcsec2() == pytest.approx(1.0, rel=1e-9)
        assert cfg.q_floor <= p.mge.qobs_min <= 1.0
        assert p.descriptors.shape == (len(DESCRIPTOR_NAMES),)


def test_sampler_spans_what_early_types_need(sample):
    desc = np.array([p.descriptors for p in sample])
    col = {k: desc[:, i] for i, k in enumerate(DESCRIPTOR_NAMES)}
    assert col["sersic_n"].min() < 1 and col["sersic_n"].max() > 6  # wide range of index
    assert np.mean(col["disc_fraction"] > 0) > 0.4  # bulge + disc systems are common
    assert col["qobs_min"].min() < 0.25  # discs down to q' ~ 0.2
    has_nucleus = col["nucleus_radius"] > 0
    assert has_nucleus.any() and col["nucleus_radius"][has_nucleus].min() < 3e-3  # ~1e-3 R_e
    assert np.any(col["break_radius"] > 0)  # cores and cusps


def test_real_galaxies_lie_inside_the_sampled_distribution(sample):
    """M32 and mgefit's NGC 4342 and NGC 5831 must not be outliers of the training photometry:
    every shape descriptor of each lies within the central 98% of the sampled ones."""
    sampled = [profile_descriptors(p.mge) for p in sample]
    keys = list(sampled[0])
    arr = np.array([[d[k] for k in keys] for d in sampled])
    lo, hi = np.percentile(arr, 1, axis=0), np.percentile(arr, 99, axis=0)
    for name, mge in real_galaxy_mges().items():
        d = profile_descriptors(mge)
        for j, k in enumerate(keys):
            assert lo[j] <= d[k] <= hi[j], (
                f"{name}: {k} = {d[k]:.3f} outside [{lo[j]:.3f}, {hi[j]:.3f}]"
            )


def test_jam_prior_covers_full_range():
    rng = np.random.default_rng(0)
    draws = np.array([draw_jam_parameters(rng, 0.6) for _ in range(4000)])
    q, ratio = draws.T
    assert np.all((q > Q_INT_MIN) & (q < 0.6))
    assert q.min() < Q_INT_MIN + 0.01 and q.max() > 0.59
    assert np.all((ratio >= 0.5) & (ratio <= 1.5))
    assert ratio.min() < 0.51 and ratio.max() > 1.49
