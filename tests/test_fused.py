"""The per-step function of a fit (:mod:`jaxjam.emulator.fused`) against the unfused forward model.

The reference is ``apply_operator(maps_fn(...))``, the layer that ``test_psf.py`` validates
against jampy's own PSF-convolved ``jam.axi.proj``; its derivatives are JAX's reverse mode.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxjam.core.forward import bin_operator, bin_values
from jaxjam.emulator.emulator import Emulator
from jaxjam.emulator.fused import fold_linear_heads, split_head
from jaxjam.emulator.network import head_of, with_head
from jaxjam.inference import FitConfig, build_problem
from jaxjam.inference.likelihood import log_posterior
from jaxjam.testing.m32 import M32_PSF, m32_galaxy


@pytest.fixture(scope="module")
def emu():
    return Emulator.load()


@pytest.fixture(scope="module")
def galaxy():
    return m32_galaxy()


def _reference_bins(emu):
    """((a, b), logit) from the node maps and the operator, as before the fusion."""

    def bins(state, head, folded, op, features, qobs_min, q_int, ratio):
        assert head is None  # pass a refined head in the state, B columns included
        maps, _ = emu.maps_fn(state, features, q_int, ratio, qobs_min)
        c = bin_values(op, maps)
        kernel, bias = head_of(state)
        logit = emu.hidden_fn(state, features, q_int, ratio, qobs_min) @ kernel[:, -1] + bias[-1]
        return tuple(c), logit

    return bins


def _operator(emu, galaxy, psf):
    k = galaxy.kinematics
    # one extra bin inside the grid's innermost radius exercises the inner power law
    x = np.r_[k.x_arcsec, 0.01]
    y = np.r_[k.y_arcsec, 0.004]
    op = bin_operator(emu.grid, galaxy.mge, galaxy.distance_mpc, x, y, psf, pa_deg=20.0)
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), op), op


@pytest.mark.parametrize("psf", [M32_PSF, None], ids=["ao_psf", "no_psf"])
@pytest.mark.parametrize("head", ["emulator", "refined"])
def test_fused_bins_equal_the_operator_on_the_maps(emu, galaxy, psf, head):
    op32, op = _operator(emu, galaxy, psf)
    assert op.g_inner.shape[1] >= 1  # the inner power law is in play
    kernel, bias = head_of(emu.state)
    if head == "refined":  # any other head: the fold must follow it
        rng = np.random.default_rng(1)
        kernel = kernel + 0.01 * rng.standard_normal(kernel.shape).astype(np.float32)
        bias = bias + 0.05 * rng.standard_normal(bias.shape).astype(np.float32)
    fb = fold_linear_heads(emu.normalization, op, kernel, bias)
    head = split_head(emu.normalization, kernel, bias) if head == "refined" else None
    features = jnp.asarray(emu.features(galaxy.mge))
    qmin = jnp.float32(galaxy.mge.qobs_min)
    for q_int, ratio in [(0.3, 0.95), (0.5, 0.7), (0.2, 1.0)]:
        args = (head, fb, op32, features, qmin, jnp.float32(q_int), jnp.float32(ratio))
        got = emu.bins_fn(emu.state, *args)
        # the reference gets the whole head, B columns included
        state = with_head(emu.state, kernel, bias)
        ref = _reference_bins(emu)(state, None, *args[1:])
        for g, r in zip((*got[0], got[1]), (*ref[0], ref[1]), strict=True):
            np.testing.assert_allclose(g, r, rtol=2e-5, atol=1e-6 * float(jnp.max(jnp.abs(r))))


@pytest.mark.slow
def test_gradient_and_hessian_match_reverse_mode(emu, galaxy):
    """The forward-mode rule gives the log-posterior's gradient and (forward over reverse)
    Hessian that reverse mode through the unfused model gives."""
    prob = build_problem(emu, galaxy, FitConfig())
    u = jnp.array([-0.3, 0.8, 0.2, -0.1])
    fused = jax.jit(lambda v: log_posterior(emu.bins_fn, emu.state, prob, v))
    ref = jax.jit(lambda v: log_posterior(_reference_bins(emu), emu.state, prob, v))
    np.testing.assert_allclose(fused(u), ref(u), rtol=1e-5)
    g_f, g_r = jax.grad(fused)(u), jax.grad(ref)(u)
    np.testing.assert_allclose(g_f, g_r, rtol=2e-3, atol=2e-3 * float(jnp.max(jnp.abs(g_r))))
    h_f, h_r = jax.hessian(fused)(u), jax.hessian(ref)(u)
    np.testing.assert_allclose(h_f, h_r, rtol=1e-2, atol=1e-2 * float(jnp.max(jnp.abs(h_r))))
    # and it is a gradient of this function, not of some other: finite differences agree
    eps = 1e-2
    for i in range(4):
        du = eps * jnp.eye(4)[i]
        fd = (float(ref(u + du)) - float(ref(u - du))) / (2 * eps)
        assert fd == pytest.approx(float(g_f[i]), rel=0.02, abs=0.02 * float(jnp.abs(g_r).max()))


def test_derivatives_it_does_not_define_are_refused(emu, galaxy):
    prob = build_problem(emu, galaxy, FitConfig())

    def total(features):
        (a, b), _ = emu.bins_fn(emu.state, None, prob.folded, prob.operator, features,
                                prob.qobs_min, jnp.float32(0.4), jnp.float32(0.8))  # fmt: skip
        return jnp.sum(a + b)

    with pytest.raises(NotImplementedError, match="q_int and ratio only"):
        jax.grad(total)(prob.features)
