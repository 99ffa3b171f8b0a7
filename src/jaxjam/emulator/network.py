"""The emulator network (flax.nnx): a CNN encoder of the photometry and an MLP decoder.

- :meth:`EmulatorNet.encode`: standardised 64×64 photometry image → feature vector. It does not
  depend on the JAM parameters, so a fit evaluates it once per galaxy and caches the features.
- :meth:`EmulatorNet.decode`: features + standardised JAM scalars (:func:`jam_scalars`) →
  one standardised map per model component on the model grid (:mod:`jaxjam.core.components`,
  :mod:`jaxjam.emulator.transforms`: log A and B·r today) and the physicality output: a logit of the
  probability that JAM has a physical solution (V² > 0 everywhere), or, for
  ``physicality="radius"``, log10 of the radius (R_e) out to which V² > 0 at each grid angle.

The head is linear in the MLP's last hidden layer ``h``. In the v1 layout (``head_rank=None``)
it is one dense layer whose outputs are the components' nodes, in component order, then the
logit (:func:`head_parts`). In the v2 layout it is factorised (:class:`FactorisedHead`): ``h``
→ ``rank`` coefficients per component → the component's basis of ``rank`` maps (a linear layer
initialised from the targets' principal components, :func:`set_basis`). A component whose map
depends on an input (the halo's width, :attr:`jaxjam.core.components.Component.input_name`) has
``input_terms`` coefficient vectors, combined with the Chebyshev polynomials of its input
mapped onto [−1, 1] over ``input_ranges``; at a fixed input the head is still linear in ``h``
(:meth:`EmulatorNet.dense_head`), so a fit refines and folds it like any other.

For ``jax.jit``, ``jax.grad`` and ``jax.vmap`` use the pure functions :func:`encode_fn` and
:func:`decode_fn` over the ``nnx.split`` state (``nnx.jit`` costs ~1 ms per call).
"""

from __future__ import annotations

import dataclasses
import itertools

import jax
import jax.numpy as jnp
from flax import nnx

from jaxjam.core.configs import from_dict
from jaxjam.emulator.transforms import N_SCALARS

__all__ = [
    "EmulatorNet",
    "FactorisedHead",
    "NetworkConfig",
    "chebyshev_terms",
    "decode_fn",
    "encode_fn",
    "head_of",
    "head_parts",
    "set_basis",
    "with_head",
]


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Architecture.

    Parameters
    ----------
    image_shape : (int, int)
        Photometry image shape (radii × angles).
    grid_shape : (int, int)
        Output grid shape (n_r, n_theta).
    conv_channels : tuple of int
        Channels of the 3×3 stem and of the stride-2 3×3 convolutions after it.
    stem_stride : int
        Stride of the stem (2 halves the image first: ~3× cheaper on the smooth MGE images).
    n_features : int
        Size of the photometry feature vector (64, as in Simon et al. 2026).
    mlp_width, mlp_depth : int
        Hidden width and number of hidden layers of the MLP (~7 in the paper).
    n_components : int
        Component maps the head predicts (:mod:`jaxjam.core.components`; 2: stars and black hole).
    head_rank : int or None
        ``None``: one dense linear head (the v1 layout). An integer: the factorised head of
        :class:`FactorisedHead`, with a basis of that many maps per component.
    input_ranges : tuple
        Per component, ``None`` or the ``(lo, hi)`` range of its input (``Component.
        input_range``); empty for no inputs. Inputs need a factorised head.
    input_terms : int
        Chebyshev terms in an input (the series' degree plus one). 48: the halo's map is a
        smooth but not low-order function of log s over its 5.3 decades; on M32, NGC 4342 and
        NGC 5831 a 33-term series is good to ≤ 3.2e-3 of V² and the error falls ~5× per 8
        terms (``benchmarks/halo/halo_width_chebyshev.py``), which puts 1e-3 near 40 terms.
    physicality : {"global", "radius"}
        One logit of "V² > 0 everywhere", or log10 of the physical radius at each grid angle.
    """

    image_shape: tuple[int, int] = (64, 64)
    grid_shape: tuple[int, int] = (64, 16)
    conv_channels: tuple[int, ...] = (32, 64, 96, 128, 128)
    stem_stride: int = 1
    n_features: int = 64
    mlp_width: int = 512
    mlp_depth: int = 7
    n_components: int = 2
    head_rank: int | None = None
    input_ranges: tuple = ()
    input_terms: int = 48
    physicality: str = "global"

    def __post_init__(self):
        if self.head_rank is not None and not (
            isinstance(self.head_rank, int) and not isinstance(self.head_rank, bool)
            and self.head_rank >= 1
        ):  # fmt: skip
            raise ValueError(f"NetworkConfig.head_rank must be None or an integer >= 1, got "
                             f"{self.head_rank!r}")  # fmt: skip
        if self.input_ranges and len(self.input_ranges) != self.n_components:
            raise ValueError("NetworkConfig.input_ranges must have one entry (None or (lo, hi)) "
                             f"per component ({self.n_components}), got "
                             f"{self.input_ranges!r}")  # fmt: skip
        for r in self.input_ranges:
            if r is not None and not (len(r) == 2 and float(r[0]) < float(r[1])):
                raise ValueError(f"NetworkConfig.input_ranges: {r!r} is not a (lo, hi) range")
        if self.n_inputs and self.head_rank is None:
            raise ValueError("components with an input (input_ranges) need a factorised head: "
                             "set NetworkConfig.head_rank")  # fmt: skip
        if not (isinstance(self.input_terms, int) and self.input_terms >= 1):
            raise ValueError(f"NetworkConfig.input_terms must be an integer >= 1, got "
                             f"{self.input_terms!r}")  # fmt: skip
        if self.physicality not in ("global", "radius"):
            raise ValueError(f"NetworkConfig.physicality must be 'global' or 'radius', got "
                             f"{self.physicality!r}")  # fmt: skip

    @property
    def n_inputs(self) -> int:
        """Number of components whose map depends on an input."""
        return sum(r is not None for r in self.input_ranges)

    @property
    def n_physical(self) -> int:
        """Size of the physicality output: 1 (a logit) or n_theta (log10 radii)."""
        return 1 if self.physicality == "global" else self.grid_shape[1]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> NetworkConfig:
        """From a dict (:func:`jaxjam.core.configs.from_dict`: lists become tuples, unknown keys
        are refused)."""
        return from_dict(cls, d)


class EmulatorNet(nnx.Module):
    """CNN encoder + MLP decoder. See the module docstring."""

    def __init__(self, config: NetworkConfig, rngs: nnx.Rngs):
        self.config = config
        chans = (1, *config.conv_channels)
        self.stem = nnx.Conv(1, chans[1], (3, 3), strides=config.stem_stride, rngs=rngs)
        self.convs = nnx.List(
            [
                nnx.Conv(chans[i], chans[i + 1], (3, 3), strides=2, rngs=rngs)
                for i in range(1, len(chans) - 1)
            ]
        )
        n_down = len(chans) - 2
        h, w = (s // (config.stem_stride * 2**n_down) for s in config.image_shape)
        self.to_features = nnx.Linear(h * w * chans[-1], config.n_features, rngs=rngs)
        width = config.mlp_width
        sizes = [config.n_features + N_SCALARS] + [width] * config.mlp_depth
        self.hidden = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in itertools.pairwise(sizes)])
        n_nodes = config.grid_shape[0] * config.grid_shape[1]
        if config.head_rank is None:
            self.head = nnx.Linear(width, config.n_components * n_nodes + 1, rngs=rngs)
        else:
            self.factorised = FactorisedHead(config, rngs)

    def encode(self, image):
        """Standardised image, shape (..., n_r_img, n_theta_img) → features (..., n_features)."""
        batch = image.shape[:-2]
        x = image.reshape((-1, *image.shape[-2:], 1))
        x = nnx.gelu(self.stem(x))
        for conv in self.convs:
            x = nnx.gelu(conv(x))
        x = x.reshape((x.shape[0], -1))
        return self.to_features(x).reshape((*batch, self.config.n_features))

    def last_hidden(self, features, scalars):
        """Features (..., n_features) and standardised scalars (..., N_SCALARS) → the last
        hidden layer (..., mlp_width), on which the linear head acts."""
        x = jnp.concatenate([features, scalars], axis=-1)
        for layer in self.hidden:
            x = nnx.gelu(layer(x))
        return x

    def last_hidden_jvp(self, features, scalars, scalar_tangents):
        """:meth:`last_hidden` and its derivatives along ``k`` directions of the scalars.

        Forward-mode differentiation with the tangents stacked under the value, so that each
        linear layer is a single (1 + k)-row matmul: its weights are read once for the value
        and all ``k`` derivatives, where reverse mode reads them twice (forward and backward
        pass). A fit differentiates along k = 2 inputs (q_int, ratio), and at one or a few
        chains the MLP's cost is reading its weights. The activation's JVP is JAX's own.

        Parameters
        ----------
        features : array, shape (n_features,)
        scalars : array, shape (N_SCALARS,)
        scalar_tangents : array, shape (k, N_SCALARS)

        Returns
        -------
        h : array, shape (mlp_width,)
        dh : array, shape (k, mlp_width)
            ``dh[i]`` is the derivative of ``h`` along ``scalar_tangents[i]``.
        """
        x = jnp.concatenate([features, scalars])
        zeros = jnp.zeros((scalar_tangents.shape[0], features.shape[-1]), x.dtype)
        dx = jnp.concatenate([zeros, scalar_tangents], axis=1)
        for layer in self.hidden:
            z = jnp.concatenate([x[None], dx]) @ layer.kernel[...]
            x, dx = jax.vmap(
                lambda t, z0=z[0] + layer.bias[...]: jax.jvp(nnx.gelu, (z0,), (t,)),
                out_axes=(None, 0),
            )(z[1:])
        return x, dx

    def decode(self, features, scalars, inputs=None):
        """Features (..., n_features), standardised scalars (..., N_SCALARS) and, for
        components with an input, their raw values (..., n_inputs) in component order (the
        halo's log10 s/R_e) → ``(z, physical)``: the standardised component maps, shape
        (..., n_components, n_r, n_theta), and the physicality output, shape (...) (a logit)
        or (..., n_theta) (log10 of the physical radius in R_e, ``physicality="radius"``)."""
        h = self.last_hidden(features, scalars)
        if self.config.head_rank is None:
            out = self.head(h)
            shape = (*out.shape[:-1], self.config.n_components, *self.config.grid_shape)
            return out[..., :-1].reshape(shape), out[..., -1]
        return self.factorised(h, inputs)

    def dense_head(self, inputs=None):
        """The head as one dense layer at fixed inputs, in the v1 layout of :func:`head_parts`.

        Parameters
        ----------
        inputs : array, shape (n_inputs,), optional
            The input components' values (needed when there are any).

        Returns
        -------
        kernel : array, shape (mlp_width, n_components · n_nodes + n_physical)
        bias : array, shape (n_components · n_nodes + n_physical,)
            ``decode`` equals ``h @ kernel + bias`` (reshaped) at these inputs.
        """
        if self.config.head_rank is None:
            return self.head.kernel[...], self.head.bias[...]
        return self.factorised.dense(inputs)

    def __call__(self, image, scalars, inputs=None):
        return self.decode(self.encode(image), scalars, inputs)


def chebyshev_terms(x, n_terms: int):
    """Chebyshev polynomials T_0..T_{n−1} at x ∈ [−1, 1]: shape (..., n_terms), by the
    three-term recurrence (smooth derivatives at the ends, unlike cos(n arccos x))."""
    terms = [jnp.ones_like(x), x]
    for _ in range(2, n_terms):
        terms.append(2 * x * terms[-1] - terms[-2])
    return jnp.stack(terms[:n_terms], axis=-1)


class FactorisedHead(nnx.Module):
    """The v2 head: ``h`` → per-component coefficients → per-component basis of maps.

    ``coef`` maps the last hidden layer (mlp_width) to ``rank`` coefficients per component
    (``rank · input_terms`` for a component with an input) and the physicality output;
    ``bases[k]`` maps component k's ``rank`` coefficients to its n_r · n_theta standardised
    nodes. For a component with an input its coefficient vectors are weighted by the
    Chebyshev polynomials of the input mapped onto [−1, 1] over its range.
    """

    def __init__(self, config: NetworkConfig, rngs: nnx.Rngs):
        self.config = config
        ranges = config.input_ranges or (None,) * config.n_components
        self.n_terms = tuple(1 if r is None else config.input_terms for r in ranges)
        self.ranges = tuple(ranges)
        n_coef = config.head_rank * sum(self.n_terms)
        self.coef = nnx.Linear(config.mlp_width, n_coef + config.n_physical, rngs=rngs)
        n_nodes = config.grid_shape[0] * config.grid_shape[1]
        self.bases = nnx.List([nnx.Linear(config.head_rank, n_nodes, rngs=rngs) for _ in ranges])

    def _weights(self, inputs):
        """Per component: None or the Chebyshev weights, shape (..., n_terms)."""
        out, j = [], 0
        for r in self.ranges:
            if r is None:
                out.append(None)
                continue
            if inputs is None:
                raise ValueError("this network has components with an input (input_ranges): "
                                 "pass their values as `inputs`")  # fmt: skip
            x = (2 * inputs[..., j] - (r[0] + r[1])) / (r[1] - r[0])
            out.append(chebyshev_terms(x, self.config.input_terms))
            j += 1
        return out

    def _split(self, a):
        """Split the coefficient axis (last) into per-component (..., n_terms, rank) blocks
        and the physicality part (..., n_physical)."""
        rank, blocks, start = self.config.head_rank, [], 0
        for n in self.n_terms:
            blocks.append(a[..., start : start + n * rank].reshape((*a.shape[:-1], n, rank)))
            start += n * rank
        return blocks, a[..., start:]

    def __call__(self, h, inputs=None):
        blocks, phys = self._split(self.coef(h))
        maps = []
        for k, (c, w) in enumerate(zip(blocks, self._weights(inputs), strict=True)):
            c = c[..., 0, :] if w is None else jnp.einsum("...jr,...j->...r", c, w)
            maps.append(self.bases[k](c))
        z = jnp.stack(maps, axis=-2).reshape((*h.shape[:-1], len(maps), *self.config.grid_shape))
        return z, phys[..., 0] if self.config.physicality == "global" else phys

    def dense(self, inputs=None):
        """(kernel, bias) of the equivalent dense head at fixed inputs (shape (n_inputs,))."""
        kb, kp = self._split(self.coef.kernel[...])
        bb, bp = self._split(self.coef.bias[...])
        kernels, biases = [], []
        for k, w in enumerate(self._weights(inputs)):
            if w is None:
                kc, bc = kb[k][..., 0, :], bb[k][0]
            else:
                kc, bc = jnp.einsum("wjr,j->wr", kb[k], w), w @ bb[k]
            u, u0 = self.bases[k].kernel[...], self.bases[k].bias[...]
            kernels.append(kc @ u)
            biases.append(bc @ u + u0)
        return jnp.concatenate([*kernels, kp], -1), jnp.concatenate([*biases, bp], -1)


def set_basis(model: EmulatorNet, k: int, basis, mean=None) -> None:
    """Initialise component k's basis (in place) from principal components of its targets.

    Parameters
    ----------
    basis : array, shape (head_rank, n_r · n_theta)
        Rows: the basis maps, scaled so that the coefficients of the training targets are
        O(1) (the singular vectors times their singular values / sqrt(n_samples)).
    mean : array, shape (n_r · n_theta,), optional
        The basis layer's bias (0 for standardised targets).
    """
    layer = model.factorised.bases[k]
    layer.kernel[...] = jnp.asarray(basis, layer.kernel.dtype)
    if mean is not None:
        layer.bias[...] = jnp.asarray(mean, layer.bias.dtype)


def encode_fn(graphdef, state, image):
    """Pure form of :meth:`EmulatorNet.encode` over ``nnx.split(model)``."""
    return nnx.merge(graphdef, state).encode(image)


def decode_fn(graphdef, state, features, scalars, inputs=None):
    """Pure form of :meth:`EmulatorNet.decode` over ``nnx.split(model)``."""
    return nnx.merge(graphdef, state).decode(features, scalars, inputs)


def head_parts(x, n_components: int):
    """Split the head's last axis (``n_components · n_nodes + 1``: each component's nodes in
    component order, then the physicality logit). Works on the head's output, its kernel
    (mlp_width, ·) and its bias (·,); returns a tuple of ``n_components`` views of shape
    (..., n_nodes) and the logit's, shape (...)."""
    n = (x.shape[-1] - 1) // n_components
    return tuple(x[..., k * n : (k + 1) * n] for k in range(n_components)), x[..., -1]


def _head_leaf(path) -> str | None:
    keys = [getattr(k, "key", None) for k in path]
    return keys[1] if keys[:1] == ["head"] and keys[1] in ("kernel", "bias") else None


def head_of(state) -> tuple:
    """The linear head's ``(kernel, bias)``, shapes (mlp_width, n_components · n_nodes + 1)
    and (n_components · n_nodes + 1,), from an ``nnx.split`` state."""
    leaves = jax.tree_util.tree_flatten_with_path(state)[0]
    found = {_head_leaf(p): x for p, x in leaves if _head_leaf(p)}
    if not found:
        raise ValueError("this network has a factorised head (NetworkConfig.head_rank): use "
                         "EmulatorNet.dense_head for its dense equivalent")  # fmt: skip
    return found["kernel"], found["bias"]


def with_head(state, kernel, bias):
    """``state`` with the head's kernel and bias replaced (pure: safe under jit, grad, vmap).

    A fit swaps in a per-galaxy head refined against jampy (:mod:`jaxjam.inference.refine`).
    """
    new = {"kernel": kernel, "bias": bias}
    return jax.tree_util.tree_map_with_path(lambda p, x: new.get(_head_leaf(p), x), state)


def count_params(state) -> int:
    """Number of scalar parameters in an nnx state."""
    return sum(x.size for x in jax.tree_util.tree_leaves(state))
