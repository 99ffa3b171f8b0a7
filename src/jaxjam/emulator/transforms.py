"""Input features and target transforms of the emulator, in one place, saved with checkpoints.

Inputs
    The photometry image (``jaxjam.core.photometry``), standardised per pixel, and the JAM scalars
    of :func:`jam_scalars`: q_int, ratio and derived quantities the prototype showed the
    network needs explicitly (q'min, the inclination and q_int's position in its allowed
    range), standardised.

Targets
    One map per model component (:mod:`jaxjam.core.components`), by the component's ``target``:

    - ``"log"`` (the stars' A): ``log C`` per node, standardised per node. A relative error δ
      in Vrms is an error 2δ in log C, so the loss on it weighs every node equally in Vrms space.
    - ``"linear_r"`` (the black hole's B): ``C · r`` per node (r in R_e), standardised per node.
      B behaves like a Keplerian ``1/r`` near the black hole and oscillates around zero far
      from it, so it has no log; ``B·r`` is O(1) and smooth.

    - a component with an input (the halo, whose map depends on its Gaussian's width s) is
      multiplied by its exact ``input_scale(s)`` first (the label's reference mass per L_tot),
      so that one per-node standardisation serves five decades of width.

    Saved under ``log_<symbol>_mean``/``_std`` and ``<symbol>_r_mean``/``_std`` (``log_a_mean``,
    ``b_r_mean``, ...).

The components' inputs are passed as one array, shape (..., n_inputs), holding the values of
the components that take one, in component order (:func:`input_components`).
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from jaxjam.core.components import DEFAULT, Component
from jaxjam.core.geometry import Q_INT_MIN

__all__ = [
    "N_SCALARS",
    "SCALAR_NAMES",
    "Normalization",
    "input_components",
    "jam_scalars",
    "per_component_inputs",
]

SCALAR_NAMES = ("q_int", "ratio", "log_ratio", "qobs_min", "q_int_position", "cos_inc")
N_SCALARS = len(SCALAR_NAMES)


def jam_scalars(q_int, ratio, qobs_min):
    """The MLP's scalar inputs (before standardisation).

    Parameters
    ----------
    q_int, ratio, qobs_min : array_like, shape (...)
        Intrinsic axial ratio of the flattest Gaussian, anisotropy ratio and q'min.

    Returns
    -------
    array, shape (..., N_SCALARS)
        In the order of :data:`SCALAR_NAMES`. ``q_int_position`` is
        ``(q_int − 0.051)/(q'min − 0.051)`` in (0, 1]; ``cos_inc`` is
        ``sqrt((q'min² − q_int²)/(1 − q_int²))``. Works with NumPy and JAX arrays and is
        differentiable in q_int and ratio.
    """
    xp = jnp if any(isinstance(a, jnp.ndarray) for a in (q_int, ratio, qobs_min)) else np
    q_int, ratio, qobs_min = (xp.asarray(a) for a in (q_int, ratio, qobs_min))
    position = (q_int - Q_INT_MIN) / (qobs_min - Q_INT_MIN)
    cos_inc = xp.sqrt(xp.clip((qobs_min**2 - q_int**2) / (1 - q_int**2), 0.0, 1.0))
    q_int, ratio, qobs_min = xp.broadcast_arrays(q_int, ratio, qobs_min)
    position, cos_inc = xp.broadcast_arrays(position, cos_inc)
    return xp.stack([q_int, ratio, xp.log(ratio), qobs_min, position, cos_inc], axis=-1)


def input_components(components) -> tuple[int, ...]:
    """Positions of the components that take an input, in order (the columns of ``inputs``)."""
    return tuple(k for k, c in enumerate(components) if c.input_name is not None)


def per_component_inputs(components, inputs, xp=np):
    """Per component: None or its input, shape (..., 1, 1) to broadcast over a map."""
    out, cols = [None] * len(components), input_components(components)
    if cols and inputs is None:
        names = [components[k].name for k in cols]
        what = [components[k].input_name for k in cols]
        raise ValueError(f"components {names} take an input ({what}): pass `inputs`")
    for j, k in enumerate(cols):
        out[k] = xp.asarray(inputs)[..., j, None, None]
    return out


def _keys(c: Component) -> tuple[str, str]:
    """The saved names of a component's target statistics."""
    sym = c.symbol.lower()
    stem = f"log_{sym}" if c.target == "log" else f"{sym}_r"
    return f"{stem}_mean", f"{stem}_std"


@dataclasses.dataclass(frozen=True, eq=False)
class Normalization:
    """Means and standard deviations of inputs and targets, measured on the training set.

    Attributes (all float32 arrays)
    ----------
    image_mean, image_std : shape (n_r_img, n_theta_img)
    scalar_mean, scalar_std : shape (N_SCALARS,)
    target_mean, target_std : tuple of arrays, shape (n_r, n_theta) each
        Per component, of its transformed map (module docstring).
    r_re : shape (n_r,), grid radii (R_e) of the ``"linear_r"`` targets
    components : tuple of Component
    """

    image_mean: np.ndarray
    image_std: np.ndarray
    scalar_mean: np.ndarray
    scalar_std: np.ndarray
    target_mean: tuple
    target_std: tuple
    r_re: np.ndarray
    components: tuple = DEFAULT

    @classmethod
    def fit(cls, images, scalars, maps, r_re, floor: float = 1e-6,
            components: tuple[Component, ...] = DEFAULT, inputs=None) -> Normalization:  # fmt: skip
        """Measure the statistics on (a sample of) the training data.

        Parameters
        ----------
        images : array, shape (n, n_r_img, n_theta_img)
        scalars : array, shape (n, N_SCALARS)
        maps : array, shape (n, n_components, n_r, n_theta)
            Physical samples only (the ``"log"`` components' maps > 0).
        r_re : array, shape (n_r,)
        components : tuple of Component
        inputs : array, shape (n, n_inputs), optional
            The input components' values (module docstring).
        """
        maps = np.asarray(maps, np.float64)
        values = per_component_inputs(components, inputs, np)
        r = np.asarray(r_re, np.float64)[:, None]
        for k, c in enumerate(components):
            if c.target == "log" and np.any(maps[:, k] <= 0):
                raise ValueError(f"Normalization.fit needs physical samples only ({c.name}: "
                                 f"{c.symbol} > 0 everywhere)")  # fmt: skip

        def stats(x):
            return x.mean(0).astype(np.float32), np.maximum(x.std(0), floor).astype(np.float32)

        targets = [stats(_forward(c, maps[:, k], r, np, values[k]))
                   for k, c in enumerate(components)]  # fmt: skip
        return cls(*stats(np.asarray(images, np.float64)), *stats(np.asarray(scalars)),
                   tuple(m for m, _ in targets), tuple(s for _, s in targets),
                   np.asarray(r_re, np.float32), tuple(components))  # fmt: skip

    # ---------------------------------------------------------------- inputs
    def standardize_image(self, image):
        return (image - self.image_mean) / self.image_std

    def standardize_scalars(self, scalars):
        return (scalars - self.scalar_mean) / self.scalar_std

    # ---------------------------------------------------------------- targets
    def encode_targets(self, maps, inputs=None):
        """Component maps → standardised targets, both shape (..., n_components, n_r, n_theta);
        ``inputs`` (..., n_inputs) for components that take one."""
        xp = jnp if isinstance(maps, jnp.ndarray) else np
        r = self.r_re[:, None]
        values = per_component_inputs(self.components, inputs, xp)
        return xp.stack([(_forward(c, maps[..., k, :, :], r, xp, values[k]) - self.target_mean[k])
                         / self.target_std[k] for k, c in enumerate(self.components)],
                        axis=-3)  # fmt: skip

    def decode_targets(self, z, inputs=None):
        """Standardised network outputs (..., n_components, n_r, n_theta) → dimensionless
        component maps (units of G L_tot/R_e per unit scaling), same shape; ``inputs``
        (..., n_inputs) for components that take one."""
        xp = jnp if isinstance(z, jnp.ndarray) else np
        r = self.r_re[:, None]
        values = per_component_inputs(self.components, inputs, xp)
        out = []
        for k, c in enumerate(self.components):
            t = z[..., k, :, :] * self.target_std[k] + self.target_mean[k]
            if c.target == "log":
                out.append(xp.exp(t))
            else:
                out.append(t / (r * _scale(c, values[k])))
        return xp.stack(out, axis=-3)

    # ---------------------------------------------------------------- I/O
    def to_dict(self) -> dict:
        out = {k: np.asarray(getattr(self, k)).tolist()
               for k in ("image_mean", "image_std", "scalar_mean", "scalar_std")}  # fmt: skip
        for k, c in enumerate(self.components):
            km, ks = _keys(c)
            out[km] = np.asarray(self.target_mean[k]).tolist()
            out[ks] = np.asarray(self.target_std[k]).tolist()
        out["r_re"] = np.asarray(self.r_re).tolist()
        return out

    @classmethod
    def from_dict(cls, d: dict, components: tuple[Component, ...] = DEFAULT) -> Normalization:
        names = ["image_mean", "image_std", "scalar_mean", "scalar_std", "r_re"]
        names += [k for c in components for k in _keys(c)]
        missing = set(names) - set(d)
        if missing:
            raise ValueError(f"normalisation is missing {sorted(missing)}")

        def arr(k):
            return np.asarray(d[k], np.float32)

        return cls(arr("image_mean"), arr("image_std"), arr("scalar_mean"), arr("scalar_std"),
                   tuple(arr(_keys(c)[0]) for c in components),
                   tuple(arr(_keys(c)[1]) for c in components), arr("r_re"),
                   tuple(components))  # fmt: skip


def _scale(c: Component, value):
    return 1.0 if c.input_scale is None or value is None else c.input_scale(value)


def _forward(c: Component, m, r, xp, value=None):
    """A component's map → its untransformed target (log C, or C·r times its input's scale)."""
    return xp.log(m) if c.target == "log" else m * r * _scale(c, value)
