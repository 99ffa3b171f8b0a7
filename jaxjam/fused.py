"""The emulator fused with one data set's forward operator: what a fit evaluates per step.

:func:`jaxjam.forward.apply_operator` needs the A and B node maps; a fit only needs their
bin-integrated values

    a = W_A @ A + g_in @ A_in,    b = W_B @ B + g_in @ B_in

(dimensionless, shape (n_bins,)), from which Vrms² = (G L/R_e) (Υ a + (M_BH/L) b), and their
derivatives with respect to the two inputs the network sees, q_int and ratio. Two exact
rewritings make that cheaper than differentiating ``apply_operator(maps_fn(...))``:

- **B is linear in the last hidden layer h**, and W_B is linear: the network's B head and
  W_B fold into one ``(mlp_width, n_bins)`` matrix (:func:`fold_b_head`), built once per fit.
  Only the two node rows that the power law inside r_min uses are kept besides. (A = exp(·)
  of its head, so the A head stays.)
- **Forward mode.** With two inputs, the value and both derivatives go through the network
  together (:meth:`jaxjam.network.EmulatorNet.last_hidden_jvp`): one 3-row matmul per layer,
  reading each weight matrix once. Reverse mode reads it twice. :func:`bins_fn` is a
  :func:`jax.custom_jvp` whose rule returns this Jacobian, so ``jax.grad`` of the
  log-posterior costs one such pass, and the sampler needs nothing else.

Derivatives with respect to anything but (q_int, ratio) (the weights, the operator) are not
defined here and raise; train with :meth:`~jaxjam.network.EmulatorNet.decode`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxjam.forward import BinOperator
from jaxjam.network import head_parts
from jaxjam.physics import INNER_SLOPE_NODE, inner_power_law_rows
from jaxjam.transforms import Normalization, jam_scalars

__all__ = [
    "FoldedB",
    "FusedHead",
    "fold_b_head",
    "make_bins_fn",
    "require_zero_tangents",
    "split_head",
]


class FoldedB(NamedTuple):
    """The network's B head folded with a data set's W_B (a pytree).

    Attributes
    ----------
    kernel, bias : array, shape (mlp_width, n_bins) and (n_bins,)
        ``W_B @ B.ravel() = h @ kernel + bias`` for the last hidden layer h.
    inner_kernel, inner_bias : array, shape (mlp_width, 2, n_theta) and (2, n_theta)
        B at node rows 0 and :data:`~jaxjam.physics.INNER_SLOPE_NODE`, for the power law
        inside the grid's innermost radius.
    """

    kernel: jax.Array
    bias: jax.Array
    inner_kernel: jax.Array
    inner_bias: jax.Array


class FusedHead(NamedTuple):
    """What a fit reads of a network head per step besides the folded B part (a pytree).

    Kept as separate, contiguous arrays: slicing them out of the full head inside the
    sampler's loop would copy 2 MB per step when the head is an argument of the program (a
    per-galaxy refined head), and that doubled the cost of a step.

    Attributes
    ----------
    a_kernel, a_bias : array, shape (mlp_width, n_nodes) and (n_nodes,)
        The standardised log A outputs.
    logit_kernel, logit_bias : array, shape (mlp_width,) and ()
        The physicality logit.
    """

    a_kernel: jax.Array
    a_bias: jax.Array
    logit_kernel: jax.Array
    logit_bias: jax.Array


def split_head(head_kernel, head_bias) -> FusedHead:
    """:class:`FusedHead` of a full head, shapes (mlp_width, 2 n_nodes + 1) and
    (2 n_nodes + 1,) (:func:`jaxjam.network.head_of`, or a refined one)."""
    (ka, _, kl), (ba, _, bl) = (head_parts(jnp.asarray(a)) for a in (head_kernel, head_bias))
    return FusedHead(ka, ba, kl, bl)  # jnp slices are new arrays, each contiguous


def fold_b_head(norm: Normalization, op: BinOperator, head_kernel, head_bias) -> FoldedB:
    """Fold the B part of a network head into the operator's W_B (float64, then float32).

    Parameters
    ----------
    norm : Normalization
        The emulator's target normalisation: ``B = (z_b · b_r_std + b_r_mean) / r``.
    op : BinOperator
    head_kernel, head_bias : array, shape (mlp_width, 2 n_nodes + 1) and (2 n_nodes + 1,)
        The head (:func:`jaxjam.network.head_of`), the emulator's own or a refined one.

    Returns
    -------
    FoldedB
    """
    n_r, n_theta = np.shape(norm.b_r_std)
    kernel = head_parts(np.asarray(head_kernel, np.float64))[1]
    bias = head_parts(np.asarray(head_bias, np.float64))[1]
    r = np.asarray(norm.r_re, np.float64)[:, None]
    scale = (np.asarray(norm.b_r_std, np.float64) / r).ravel()
    offset = (np.asarray(norm.b_r_mean, np.float64) / r).ravel()
    k_nodes = kernel * scale  # B.ravel() = h @ k_nodes + b_nodes
    b_nodes = bias * scale + offset
    w_b = np.asarray(op.w_b, np.float64)
    rows = np.r_[0, INNER_SLOPE_NODE]
    f32 = np.float32
    return FoldedB(
        jnp.asarray(k_nodes @ w_b.T, f32),
        jnp.asarray(w_b @ b_nodes, f32),
        jnp.asarray(k_nodes.reshape(-1, n_r, n_theta)[:, rows], f32),
        jnp.asarray(b_nodes.reshape(n_r, n_theta)[rows], f32),
    )


def make_bins_fn(graphdef, norm: Normalization):
    """The pure, differentiable per-step function of a fit for one network architecture.

    Returns
    -------
    callable
        ``bins_fn(state, head, folded_b, op, features, qobs_min, q_int, ratio) →
        (a, b, logit)``: ``a`` and ``b`` of shape (n_bins,) (module docstring) and the
        logit of the probability that JAM has a physical solution. ``state`` is the
        ``nnx.split`` state; ``head`` a :class:`FusedHead` (a refined one), or ``None`` for
        the state's own; ``folded_b`` must come from the same head; ``op`` supplies W_A and the
        inner points. Differentiable in ``q_int`` and ``ratio`` (forward-mode rule).
    """
    n_r, n_theta = np.shape(norm.log_a_std)
    log_a_std = jnp.asarray(norm.log_a_std).ravel()
    log_a_mean = jnp.asarray(norm.log_a_mean).ravel()

    def scalars_of(x, qobs_min):
        return norm.standardize_scalars(jam_scalars(x[0], x[1], qobs_min))

    def evaluate(state, head, fb: FoldedB, op: BinOperator, features, qobs_min, x, n_tangents):
        """(a, b) with shape (1 + k, n_bins), value then derivatives along the first
        ``n_tangents`` = k inputs x, and the physicality logit."""
        model = nnx.merge(graphdef, state)
        s = scalars_of(x, qobs_min)
        ds = jax.jacfwd(scalars_of)(x, qobs_min).T[:n_tangents]  # (k, N_SCALARS)
        h, dh = model.last_hidden_jvp(features, s, ds)
        hs = jnp.concatenate([h[None], dh])  # (1 + k, width)
        if head is None:  # the emulator's own (constant-folded when the state is a constant)
            head = split_head(model.head.kernel[...], model.head.bias[...])
        # A = exp(z_a σ + μ) at the nodes, and its derivatives: A · dz_a σ
        z_a = hs @ head.a_kernel
        log_a = (z_a[0] + head.a_bias) * log_a_std + log_a_mean
        a_nodes = jnp.exp(log_a)
        a_all = jnp.concatenate([a_nodes[None], a_nodes * z_a[1:] * log_a_std])
        # B: the folded head gives W_B @ B directly; the two inner rows, for the power law
        b_all = (hs @ fb.kernel).at[0].add(fb.bias)
        b_rows = jnp.einsum("kw,wrt->krt", hs, fb.inner_kernel)
        b_rows = b_rows.at[0].add(fb.inner_bias)
        a_rows = a_all.reshape(-1, n_r, n_theta)[:, jnp.r_[0, INNER_SLOPE_NODE]]
        a_bins = a_all @ op.w_a.T + _inner(a_rows, op) @ op.g_inner.T
        b_bins = b_all + _inner(b_rows, op) @ op.g_inner.T
        return a_bins, b_bins, h @ head.logit_kernel + head.logit_bias

    @jax.custom_jvp
    def bins_x(state, head, fb, op, features, qobs_min, x):
        a, b, logit = evaluate(state, head, fb, op, features, qobs_min, x, 0)
        return a[0], b[0], logit

    def _bins_x_jvp(primals, tangents):
        *fixed, x = primals
        *fixed_dot, x_dot = tangents
        require_zero_tangents(
            fixed_dot,
            "the fused likelihood is differentiable in q_int and "
            "ratio only; differentiate Emulator.maps_fn for anything else",
        )
        a, b, logit = evaluate(*fixed, x, x.shape[0])
        # the logit only enters through the hard cut logit ≥ 0: its derivative is never needed
        return (a[0], b[0], logit), (x_dot @ a[1:], x_dot @ b[1:], jnp.zeros_like(logit))

    bins_x.defjvp(_bins_x_jvp, symbolic_zeros=True)

    def bins_fn(state, head, folded_b, op, features, qobs_min, q_int, ratio):
        return bins_x(state, head, folded_b, op, features, qobs_min, jnp.stack([q_int, ratio]))

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
