"""The v2 network layout (issue 15): a factorised head with per-component bases, the halo's
Chebyshev terms in its width, and the physical-radius output. Checked against independent
computations: numpy's Chebyshev polynomials, the dense head assembled by hand, central finite
differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from numpy.polynomial import chebyshev

from jaxjam.core import components as comp
from jaxjam.emulator.batches import pca_basis
from jaxjam.emulator.network import EmulatorNet, NetworkConfig, chebyshev_terms, head_of, set_basis
from jaxjam.emulator.transforms import Normalization

V2 = NetworkConfig(image_shape=(16, 16), grid_shape=(8, 4), conv_channels=(4, 8), n_features=8,
                   mlp_width=16, mlp_depth=2, n_components=3, head_rank=5,
                   input_ranges=(None, None, comp.HALO.input_range), input_terms=6,
                   physicality="radius")  # fmt: skip


@pytest.fixture(scope="module")
def model():
    return EmulatorNet(V2, nnx.Rngs(3))


def test_chebyshev_terms_are_numpys():
    x = np.linspace(-1, 1, 9)
    got = np.asarray(chebyshev_terms(jnp.asarray(x), 7))
    want = np.stack([chebyshev.chebval(x, np.eye(7)[j]) for j in range(7)], -1)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_shapes_and_the_dense_head_equal_the_factorised_one(model):
    image = jax.random.normal(jax.random.key(0), (3, 16, 16))
    scalars = jax.random.normal(jax.random.key(1), (3, 6))
    widths = jnp.array([[-3.5], [0.1], [1.8]])
    z, radius = model(image, scalars, widths)
    assert z.shape == (3, 3, 8, 4) and radius.shape == (3, 4)
    h = model.last_hidden(model.encode(image), scalars)
    for i in range(3):
        kernel, bias = model.dense_head(widths[i])
        assert kernel.shape == (16, 3 * 32 + 4)
        out = np.asarray(h[i] @ kernel + bias)
        np.testing.assert_allclose(out[:96].reshape(3, 8, 4), z[i], atol=1e-5)
        np.testing.assert_allclose(out[96:], radius[i], atol=1e-5)
    # the stars' and black hole's maps do not depend on the halo's width
    z2, _ = model(image, scalars, widths[::-1])
    np.testing.assert_array_equal(np.asarray(z2[:, :2]), np.asarray(z[:, :2]))
    with pytest.raises(ValueError, match="inputs"):
        model(image, scalars)
    with pytest.raises(ValueError, match="dense_head"):
        head_of(nnx.split(model)[1])


def test_gradients_in_q_int_ratio_and_the_width_match_finite_differences(model):
    graphdef, state = nnx.split(model)
    features = model.encode(jnp.ones((16, 16)))

    def f(p):  # a scalar of every output, as a function of (scalar 0, scalar 1, log width)
        m = nnx.merge(graphdef, state)
        scalars = jnp.concatenate([p[:2], jnp.full(4, 0.3)])
        z, radius = m.decode(features, scalars, p[2:])
        return jnp.sum(jnp.sin(z)) + jnp.sum(radius**2)

    p0 = jnp.array([0.2, -0.4, -0.7])
    grad = np.asarray(jax.grad(f)(p0))
    eps = 3e-3  # float32: central differences good to ~1e-3 here
    fd = [(f(p0.at[i].add(eps)) - f(p0.at[i].add(-eps))) / (2 * eps) for i in range(3)]
    assert np.all(np.isfinite(grad)) and np.all(np.abs(grad) > 1e-2)
    np.testing.assert_allclose(grad, np.asarray(fd), rtol=1e-2, atol=1e-3)


def test_one_trace_per_shape(model):
    graphdef, state = nnx.split(model)
    traces = []

    @jax.jit
    def decode(state, features, scalars, widths):
        traces.append(1)
        return nnx.merge(graphdef, state).decode(features, scalars, widths)

    features = jnp.zeros((2, 8))
    for w in (-2.0, 0.0, 1.5):
        decode(state, features, jnp.zeros((2, 6)), jnp.full((2, 1), w))
    assert len(traces) == 1
    decode(state, jnp.zeros((5, 8)), jnp.zeros((5, 6)), jnp.zeros((5, 1)))
    assert len(traces) == 2


def test_the_pca_basis_reproduces_low_rank_targets_and_initialises_the_head():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 3)) @ rng.normal(size=(3, 32))
    z -= z.mean(0)
    basis = pca_basis(z, 5)
    assert basis.shape == (5, 32) and np.allclose(basis[3:], 0)
    coef = np.linalg.lstsq(basis[:3].T, z.T, rcond=None)[0]
    np.testing.assert_allclose(basis[:3].T @ coef, z.T, atol=1e-4)
    np.testing.assert_allclose(np.std(coef, axis=1), 1.0, rtol=0.05)  # O(1) coefficients
    m = EmulatorNet(V2, nnx.Rngs(0))
    set_basis(m, 1, basis)
    np.testing.assert_array_equal(np.asarray(m.factorised.bases[1].kernel[...]), basis)


def test_config_errors_name_the_fix():
    with pytest.raises(ValueError, match="head_rank"):
        NetworkConfig(n_components=3, input_ranges=(None, None, (-3.5, 1.8)))
    with pytest.raises(ValueError, match="one entry"):
        NetworkConfig(n_components=3, head_rank=4, input_ranges=((-3.5, 1.8),))
    with pytest.raises(ValueError, match="physicality"):
        NetworkConfig(physicality="per-node")
    with pytest.raises(ValueError, match="head_rank"):
        NetworkConfig(head_rank=0)


def test_halo_targets_carry_the_reference_mass_and_round_trip():
    comps = (comp.STARS, comp.BLACK_HOLE, comp.HALO)
    rng = np.random.default_rng(1)
    n, r = 50, np.geomspace(1e-4, 3, 8)
    maps = np.stack([rng.uniform(0.5, 2, (n, 8, 4)), rng.normal(size=(n, 8, 4)),
                     rng.uniform(0.1, 1, (n, 8, 4))], 1)  # fmt: skip
    widths = rng.uniform(-3.5, 1.8, (n, 1))
    norm = Normalization.fit(np.ones((n, 4, 4)), np.ones((n, 6)), maps, r, components=comps,
                             inputs=widths)  # fmt: skip
    z = norm.encode_targets(maps, widths)
    np.testing.assert_allclose(norm.decode_targets(z, widths), maps, rtol=1e-5, atol=1e-6)
    t = maps[:, 2] * r[:, None] * (0.1 * (1 + 10 ** (3 * widths[:, :, None])))
    np.testing.assert_allclose(z[:, 2] * norm.target_std[2] + norm.target_mean[2], t,
                               rtol=1e-5, atol=1e-7)  # fmt: skip
    with pytest.raises(ValueError, match="inputs"):
        norm.encode_targets(maps)


def test_component_errors_weigh_each_case_as_jampy_v2():
    """Relative Vrms errors per case: the stars alone, the black hole at M_BH/M* = f, the halo
    at its label's reference mass per L_tot (0.1 (1 + s³) at width s), against hand values."""
    from jaxjam.emulator.store_accuracy import component_errors

    true = np.ones((2, 3, 2, 2))
    true[:, 1] = 10.0  # black hole response
    true[:, 2] = 4.0  # halo response per unit mass
    pred = true.copy()
    pred[:, 0] *= 1.21  # stars 10% high in Vrms
    pred[:, 2] = 0.0  # halo missing
    widths = np.log10([[1.0], [2.0]])  # s = 1, 2 → m_ref = 0.2, 0.9
    errs = component_errors(pred, true, (comp.STARS, comp.BLACK_HOLE, comp.HALO), widths)
    np.testing.assert_allclose(errs["no_bh"], 0.1, rtol=1e-12)
    v2 = 1 + 0.01 * 10
    np.testing.assert_allclose(errs["bh_0.01"], np.sqrt((1.21 + 0.1) / v2) - 1, rtol=1e-12)
    m_ref = np.array([0.2, 0.9])[:, None, None]
    want = np.broadcast_to(np.abs(np.sqrt(1.21 / (1 + 4 * m_ref)) - 1), (2, 2, 2))
    np.testing.assert_allclose(errs["halo"], want, rtol=1e-12)
    true[0, 0, 0, 0] = -1.0  # an unphysical node has no error
    assert np.isnan(component_errors(pred, true, (comp.STARS,))["no_bh"][0, 0, 0])
