"""Uniform priors with bounds, sampled through unconstrained (logit) transforms.

The free parameters, in this order (:data:`PARAM_NAMES`):

- ``q_int``: intrinsic axial ratio of the flattest MGE Gaussian (sets the inclination);
- ``ratio``: σ_θ/σ_r of the eq.-37 anisotropy (Cappellari 2026);
- ``log10_mbh``: log10 of the black-hole mass in Msun;
- ``log10_ml``: log10 of the mass-to-light ratio in Msun/Lsun;

then the parameter of any further model component (:mod:`jaxjam.core.components`), at its
``parameter_index``, with the component's ``default_bounds``.

Each is uniform between its bounds, as in jampy's examples. NUTS samples ``u ∈ R⁴`` with
``θ = lo + (hi − lo) · sigmoid(u)``; :func:`to_constrained` returns θ and the log-Jacobian.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxjam.core.components import BLACK_HOLE, DEFAULT, STARS, parameter_names
from jaxjam.core.errors import ArgumentError
from jaxjam.core.geometry import Q_INT_MIN, RATIO_RANGE
from jaxjam.core.model import RATIO, Model

__all__ = ["PARAM_NAMES", "PriorBounds", "to_constrained", "to_unconstrained"]

#: θ's names for the default components (stars and black hole).
PARAM_NAMES = parameter_names(DEFAULT)


@dataclasses.dataclass(frozen=True)
class PriorBounds:
    """Bounds of the uniform priors.

    Parameters
    ----------
    q_int : (float, float) or None
        Default ``None``: the whole range the MGE allows, (0.051, q'min).
    ratio : (float, float)
        Default [0.5, 1] (cylindrical: isotropic or flattened velocity ellipsoid).
    log10_mbh : (float, float)
        log10 M_BH / Msun, default [4, 10.5].
    log10_ml : (float, float)
        log10 Υ / (Msun/Lsun), default [−1, 1.5].
    others : tuple of (str, (float, float))
        Bounds of any further parameter of the model (a component's, an anisotropy family's),
        by name; :meth:`from_dict` fills it. Parameters given nowhere get their
        :class:`~jaxjam.core.model.Parameter`'s ``default_bounds``.
    """

    q_int: tuple[float, float] | None = None
    ratio: tuple[float, float] = RATIO.default_bounds
    log10_mbh: tuple[float, float] = BLACK_HOLE.default_bounds
    log10_ml: tuple[float, float] = STARS.default_bounds
    others: tuple[tuple[str, tuple[float, float]], ...] = ()

    @classmethod
    def from_dict(cls, bounds: dict) -> PriorBounds:
        """Bounds by parameter name, ``{"log10_mbh": (6, 9), "log10_mhalo": (8, 12)}``: the
        named fields are set, the other names go to ``others`` (checked against the model in
        :meth:`resolve`)."""
        return cls().updated(bounds)

    def updated(self, bounds: dict) -> PriorBounds:
        """These bounds with those of ``bounds`` (by parameter name) replacing them."""
        named = {f.name for f in dataclasses.fields(self)} - {"others"}
        fields = {k: tuple(v) for k, v in bounds.items() if k in named}
        others = dict(self.others) | {k: tuple(v) for k, v in bounds.items() if k not in named}
        return dataclasses.replace(self, **fields, others=tuple(sorted(others.items())))

    def get(self, name: str):
        """The bounds given for ``name`` (a field or ``others``), or None."""
        if name != "others" and name in {f.name for f in dataclasses.fields(self)}:
            return getattr(self, name)
        return dict(self.others).get(name)

    def resolve(self, qobs_min: float, domain: dict | None = None,
                components: tuple = DEFAULT) -> np.ndarray:  # fmt: skip
        """Numeric bounds for one galaxy, checked against the MGE and the emulator's domain.

        Parameters
        ----------
        qobs_min : float
            The MGE's flattest observed axial ratio q'min (the inclination limit).
        domain : dict, optional
            The emulator's validity domain (checkpoint metadata ``domain``).
        components : tuple of jaxjam.core.components.Component
            The model's components (an emulator's): they name θ's parameters after q_int and
            ratio; those without a field here get their ``default_bounds``.

        Returns
        -------
        ndarray, shape (n_params, 2)
            ``[lo, hi]`` per parameter, in θ's order
            (:func:`jaxjam.core.components.parameter_names`,
            :data:`PARAM_NAMES` for the default components).

        Raises
        ------
        ValueError
            For reversed or non-finite bounds, q_int bounds outside (0.051, q'min), or ratio
            bounds outside the emulator's trained range.
        """
        domain = domain or {}
        model = Model(tuple(components))
        unknown = [n for n, _ in self.others if n not in model.names]
        if unknown:
            raise ValueError(f"prior bounds given for {unknown}, which this model does not "
                             f"have; its parameters are {list(model.names)}")  # fmt: skip
        q = self.q_int if self.q_int is not None else (Q_INT_MIN, qobs_min)
        out = np.array([q] + [self.get(p.name) or p.default_bounds for p in model.parameters[1:]],
                       float)  # fmt: skip
        for name, (lo, hi) in zip(model.names, out, strict=True):
            if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
                raise ArgumentError(
                    f"{{{name}_bounds}} must be finite with lo < hi, got ({lo:g}, {hi:g})",
                    **{f"{name}_bounds": f"prior bounds of {name}"},
                )
        qlo, qhi = out[0]
        if qlo < Q_INT_MIN or qhi > qobs_min:
            raise ArgumentError(
                f"{{q_int_bounds}} ({qlo:g}, {qhi:g}) must lie within ({Q_INT_MIN}, q'min = "
                f"{qobs_min:.4g}): the MGE cannot be deprojected beyond its inclination limit",
                q_int_bounds="q_int bounds",
            )
        rlo, rhi = domain.get("ratio", RATIO_RANGE)
        if out[1, 0] < rlo or out[1, 1] > rhi:
            raise ArgumentError(
                f"{{ratio_bounds}} ({out[1, 0]:g}, {out[1, 1]:g}) lie outside the emulator's "
                f"trained range [{rlo:g}, {rhi:g}]",
                ratio_bounds="ratio bounds",
            )
        return out

    def to_dict(self) -> dict:
        """``{name: bounds}``: the four named fields, then ``others`` by name."""
        named = [f.name for f in dataclasses.fields(self) if f.name != "others"]
        return {name: getattr(self, name) for name in named} | dict(self.others)


def to_constrained(u, bounds):
    """Unconstrained ``u`` → parameters and log |dθ/du| (pure JAX).

    Parameters
    ----------
    u : array, shape (4,)
    bounds : array, shape (4, 2)

    Returns
    -------
    theta : array, shape (4,)
    log_jacobian : float
    """
    import jax
    import jax.numpy as jnp

    lo, hi = bounds[:, 0], bounds[:, 1]
    theta = lo + (hi - lo) * jax.nn.sigmoid(u)
    log_jac = jnp.sum(jnp.log(hi - lo) + jax.nn.log_sigmoid(u) + jax.nn.log_sigmoid(-u))
    return theta, log_jac


def to_unconstrained(theta, bounds):
    """Inverse of :func:`to_constrained` (parameters strictly inside their bounds)."""
    import jax.numpy as jnp

    lo, hi = bounds[:, 0], bounds[:, 1]
    p = (theta - lo) / (hi - lo)
    return jnp.log(p) - jnp.log1p(-p)
