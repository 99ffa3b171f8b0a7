"""The emulator network (flax.nnx): a CNN encoder of the photometry and an MLP decoder.

- :meth:`EmulatorNet.encode`: standardised 64×64 photometry image → feature vector. It does not
  depend on the JAM parameters, so a fit evaluates it once per galaxy and caches the features.
- :meth:`EmulatorNet.decode`: features + standardised JAM scalars (:func:`jam_scalars`) →
  one standardised map per model component on the model grid (:mod:`jaxjam.components`,
  :mod:`jaxjam.transforms`: log A and B·r today) and a logit of the probability that JAM has a
  physical solution (V² > 0 everywhere). The linear head's outputs are the components' nodes,
  in component order, then the logit (:func:`head_parts`).

For ``jax.jit``, ``jax.grad`` and ``jax.vmap`` use the pure functions :func:`encode_fn` and
:func:`decode_fn` over the ``nnx.split`` state (``nnx.jit`` costs ~1 ms per call).
"""

from __future__ import annotations

import dataclasses
import itertools

import jax
import jax.numpy as jnp
from flax import nnx

from jaxjam.configs import from_dict
from jaxjam.transforms import N_SCALARS

__all__ = [
    "EmulatorNet",
    "NetworkConfig",
    "decode_fn",
    "encode_fn",
    "head_of",
    "head_parts",
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
        Component maps the head predicts (:mod:`jaxjam.components`; 2: stars and black hole).
    """

    image_shape: tuple[int, int] = (64, 64)
    grid_shape: tuple[int, int] = (64, 16)
    conv_channels: tuple[int, ...] = (32, 64, 96, 128, 128)
    stem_stride: int = 1
    n_features: int = 64
    mlp_width: int = 512
    mlp_depth: int = 7
    n_components: int = 2

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> NetworkConfig:
        """From a dict (:func:`jaxjam.configs.from_dict`: lists become tuples, unknown keys
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
        self.head = nnx.Linear(width, config.n_components * n_nodes + 1, rngs=rngs)

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

    def decode(self, features, scalars):
        """Features (..., n_features) and standardised scalars (..., N_SCALARS) →
        ``(z, logit_physical)``: the standardised component maps, shape
        (..., n_components, n_r, n_theta), and the logit, shape (...)."""
        out = self.head(self.last_hidden(features, scalars))
        shape = (*out.shape[:-1], self.config.n_components, *self.config.grid_shape)
        return out[..., :-1].reshape(shape), out[..., -1]

    def __call__(self, image, scalars):
        return self.decode(self.encode(image), scalars)


def encode_fn(graphdef, state, image):
    """Pure form of :meth:`EmulatorNet.encode` over ``nnx.split(model)``."""
    return nnx.merge(graphdef, state).encode(image)


def decode_fn(graphdef, state, features, scalars):
    """Pure form of :meth:`EmulatorNet.decode` over ``nnx.split(model)``."""
    return nnx.merge(graphdef, state).decode(features, scalars)


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
