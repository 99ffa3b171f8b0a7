"""The emulator fused with one data set's forward operator: what a fit evaluates per step.

:func:`jaxjam.core.forward.apply_operator` needs the component node maps; a fit only needs their
bin-integrated values

    c_k = W_k @ C_k + g_in @ C_k,in

(dimensionless, shape (n_bins,) each), from which Vrms² = (G L/R_e) Σ_k m_k c_k
(:mod:`jaxjam.core.components`: c = (a, b) for the stars and the black hole), and their
derivatives with respect to the two inputs the network sees, q_int and ratio. Two exact
rewritings make that cheaper than differentiating ``apply_operator(maps_fn(...))``:

- **A ``"linear_r"`` component (the black hole's B) is linear in the last hidden layer h**, and
  W_k is linear: its head and W_k fold into one ``(mlp_width, n_bins)`` matrix
  (:func:`fold_linear_heads`), built once per fit. Only the two node rows that the power law
  inside r_min uses are kept besides. (A ``"log"`` component, the stars' A = exp(·) of its
  head, keeps its head.)
- **Forward mode.** With two inputs, the value and both derivatives go through the network
  together (:meth:`jaxjam.emulator.network.EmulatorNet.last_hidden_jvp`): one 3-row matmul per
  layer, reading each weight matrix once. Reverse mode reads it twice. :func:`bins_fn` is a
  :func:`jax.custom_jvp` whose rule returns this Jacobian, so ``jax.grad`` of the
  log-posterior costs one such pass, and the sampler needs nothing else.

Derivatives with respect to anything but (q_int, ratio) (the weights, the operator) are not
defined here and raise; train with :meth:`~jaxjam.emulator.network.EmulatorNet.decode`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxjam.core.forward import BinOperator
from jaxjam.core.physics import INNER_SLOPE_NODE, inner_power_law_rows
from jaxjam.emulator.network import head_parts
from jaxjam.emulator.transforms import Normalization, jam_scalars

__all__ = [
    "Folded",
    "FusedHead",
    "fold_linear_heads",
    "make_bins_fn",
    "require_zero_tangents",
    "split_head",
]


class Folded(NamedTuple):
    """The network's ``"linear_r"`` heads folded with a data set's W_k (a pytree).

    Each attribute is a tuple with one entry per ``"linear_r"`` component, in component order.

    Attributes
    ----------
    kernel, bias : tuple of array, shape (mlp_width, n_bins) and (n_bins,)
        ``W_k @ C_k.ravel() = h @ kernel + bias`` for the last hidden layer h.
    inner_kernel, inner_bias : tuple of array, shape (mlp_width, 2, n_theta) and (2, n_theta)
        C_k at node rows 0 and :data:`~jaxjam.core.physics.INNER_SLOPE_NODE`, for the power law
        inside the grid's innermost radius.
    """

    kernel: tuple
    bias: tuple
    inner_kernel: tuple
    inner_bias: tuple


class FusedHead(NamedTuple):
    """What a fit reads of a network head per step besides the folded parts (a pytree).

    Kept as separate, contiguous arrays: slicing them out of the full head inside the
    sampler's loop would copy 2 MB per step when the head is an argument of the program (a
    per-galaxy refined head), and that doubled the cost of a step.

    Attributes
    ----------
    log_kernel, log_bias : tuple of array, shape (mlp_width, n_nodes) and (n_nodes,)
        The standardised outputs of each ``"log"`` component (the stars' log A), in
        component order.
    logit_kernel, logit_bias : array, shape (mlp_width,) and ()
        The physicality logit.
    """

    log_kernel: tuple
    log_bias: tuple
    logit_kernel: jax.Array
    logit_bias: jax.Array


def _kinds(norm: Normalization) -> tuple[list[int], list[int]]:
    """Indices of the ``"log"`` and of the ``"linear_r"`` components."""
    comps = norm.components
    return ([k for k, c in enumerate(comps) if c.target == "log"],
            [k for k, c in enumerate(comps) if c.target == "linear_r"])  # fmt: skip


def split_head(norm: Normalization, head_kernel, head_bias) -> FusedHead:
    """:class:`FusedHead` of a full head, shapes (mlp_width, n_components · n_nodes + 1) and
    (n_components · n_nodes + 1,) (:func:`jaxjam.emulator.network.head_of`, or a refined one)."""
    n = len(norm.components)
    (ks, kl), (bs, bl) = (head_parts(jnp.asarray(a), n) for a in (head_kernel, head_bias))
    logs, _ = _kinds(norm)
    # jnp slices are new arrays, each contiguous
    return FusedHead(tuple(ks[k] for k in logs), tuple(bs[k] for k in logs), kl, bl)


def fold_linear_heads(norm: Normalization, op: BinOperator, head_kernel, head_bias) -> Folded:
    """Fold the ``"linear_r"`` parts of a network head into the operator's W_k (float64, then
    float32).

    Parameters
    ----------
    norm : Normalization
        The emulator's target normalisation: ``C_k = (z_k · σ_k + μ_k) / r``.
    op : BinOperator
    head_kernel, head_bias : array, shape (mlp_width, n_components · n_nodes + 1) and (·,)
        The head (:func:`jaxjam.emulator.network.head_of`), the emulator's own or a refined one.

    Returns
    -------
    Folded
    """
    n = len(norm.components)
    kernels, _ = head_parts(np.asarray(head_kernel, np.float64), n)
    biases, _ = head_parts(np.asarray(head_bias, np.float64), n)
    r = np.asarray(norm.r_re, np.float64)[:, None]
    rows = np.r_[0, INNER_SLOPE_NODE]
    f32 = np.float32
    out = ([], [], [], [])
    for k in _kinds(norm)[1]:
        n_r, n_theta = np.shape(norm.target_std[k])
        scale = (np.asarray(norm.target_std[k], np.float64) / r).ravel()
        offset = (np.asarray(norm.target_mean[k], np.float64) / r).ravel()
        k_nodes = kernels[k] * scale  # C_k.ravel() = h @ k_nodes + b_nodes
        b_nodes = biases[k] * scale + offset
        w = np.asarray(op.w[k], np.float64)
        out[0].append(jnp.asarray(k_nodes @ w.T, f32))
        out[1].append(jnp.asarray(w @ b_nodes, f32))
        out[2].append(jnp.asarray(k_nodes.reshape(-1, n_r, n_theta)[:, rows], f32))
        out[3].append(jnp.asarray(b_nodes.reshape(n_r, n_theta)[rows], f32))
    return Folded(*(tuple(x) for x in out))


def make_bins_fn(graphdef, norm: Normalization):
    """The pure, differentiable per-step function of a fit for one network architecture.

    Returns
    -------
    callable
        ``bins_fn(state, head, folded, op, features, qobs_min, q_int, ratio) → (c, logit)``:
        ``c`` a tuple of n_components arrays of shape (n_bins,) (module docstring; batched:
        (m, n_bins) each) and the logit of the
        probability that JAM has a physical solution. ``state`` is the ``nnx.split`` state;
        ``head`` a :class:`FusedHead` (a refined one), or ``None`` for the state's own;
        ``folded`` must come from the same head; ``op`` supplies the ``"log"`` components' W_k
        and the inner points. Differentiable in ``q_int`` and ``ratio`` (forward-mode rule).
    """
    n_r, n_theta = np.shape(norm.target_std[0])
    logs, linears = _kinds(norm)
    n_comp = len(norm.components)
    log_std = [jnp.asarray(norm.target_std[k]).ravel() for k in logs]
    log_mean = [jnp.asarray(norm.target_mean[k]).ravel() for k in logs]
    rows = jnp.r_[0, INNER_SLOPE_NODE]

    def scalars_of(x, qobs_min):
        return norm.standardize_scalars(jam_scalars(x[0], x[1], qobs_min))

    def evaluate(state, head, fb: Folded, op: BinOperator, features, qobs_min, x, n_tangents):
        """Per component, c with shape (1 + k, n_bins), value then derivatives along the
        first ``n_tangents`` = k inputs x (a list), and the physicality logit."""
        model = nnx.merge(graphdef, state)
        s = scalars_of(x, qobs_min)
        ds = jax.jacfwd(scalars_of)(x, qobs_min).T[:n_tangents]  # (k, N_SCALARS)
        h, dh = model.last_hidden_jvp(features, s, ds)
        hs = jnp.concatenate([h[None], dh])  # (1 + k, width)
        if head is None:  # the emulator's own (constant-folded when the state is a constant)
            head = split_head(norm, model.head.kernel[...], model.head.bias[...])
        out = [None] * n_comp
        for i, k in enumerate(logs):
            # C = exp(z σ + μ) at the nodes, and its derivatives: C · dz σ
            z = hs @ head.log_kernel[i]
            nodes = jnp.exp((z[0] + head.log_bias[i]) * log_std[i] + log_mean[i])
            c_all = jnp.concatenate([nodes[None], nodes * z[1:] * log_std[i]])
            c_rows = c_all.reshape(-1, n_r, n_theta)[:, rows]
            out[k] = c_all @ op.w[k].T + _inner(c_rows, op) @ op.g_inner.T
        for i, k in enumerate(linears):
            # the folded head gives W_k @ C_k directly; the two inner rows, for the power law
            c_all = (hs @ fb.kernel[i]).at[0].add(fb.bias[i])
            c_rows = jnp.einsum("kw,wrt->krt", hs, fb.inner_kernel[i])
            c_rows = c_rows.at[0].add(fb.inner_bias[i])
            out[k] = c_all + _inner(c_rows, op) @ op.g_inner.T
        return out, h @ head.logit_kernel + head.logit_bias

    @jax.custom_jvp
    def bins_x(state, head, fb, op, features, qobs_min, x):
        c, logit = evaluate(state, head, fb, op, features, qobs_min, x, 0)
        return tuple(ck[0] for ck in c), logit

    def _bins_x_jvp(primals, tangents):
        *fixed, x = primals
        *fixed_dot, x_dot = tangents
        require_zero_tangents(
            fixed_dot,
            "the fused likelihood is differentiable in q_int and "
            "ratio only; differentiate Emulator.maps_fn for anything else",
        )
        c, logit = evaluate(*fixed, x, x.shape[0])
        # the logit only enters through the hard cut logit ≥ 0: its derivative is never needed
        value = tuple(ck[0] for ck in c)
        c_dot = tuple(x_dot @ ck[1:] for ck in c)
        return (value, logit), (c_dot, jnp.zeros_like(logit))

    bins_x.defjvp(_bins_x_jvp, symbolic_zeros=True)

    def bins_fn(state, head, folded, op, features, qobs_min, q_int, ratio):
        return bins_x(state, head, folded, op, features, qobs_min, jnp.stack([q_int, ratio]))

    return bins_fn


def _inner(rows, op: BinOperator):
    """Power law inside r_min for stacked (value, derivatives) node rows, shape
    (1 + k, 2, n_theta) → (1 + k, n_in): value, then the derivatives by JAX's JVP."""
    value, derivs = jax.vmap(
        lambda t: jax.jvp(lambda r: inner_power_law_rows(r[0], r[1], op.inner), (rows[0],), (t,)),
        out_axes=(None, 0),
    )(rows[1:])
    return jnp.concatenate([value[None], derivs])


def require_zero_tangents(tangents, message: str) -> None:
    """In a ``custom_jvp`` rule with ``symbolic_zeros=True``: raise ``NotImplementedError``
    (``message``) unless every tangent in the pytree is a symbolic zero, i.e. unless nothing
    is differentiated that the rule does not define."""
    if not all(_is_zero(t) for t in jax.tree.leaves(tangents, is_leaf=_is_zero)):
        raise NotImplementedError(message)


def _is_zero(t) -> bool:
    return isinstance(t, jax.custom_derivatives.SymbolicZero)
