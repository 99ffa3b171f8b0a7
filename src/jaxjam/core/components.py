"""The model's components: the linear parts of the potential, in one list.

For a fixed tracer (the photometry), inclination and anisotropy the Jeans equations are linear in
the potential, and the PSF convolution is linear in Σ·V². So the model is

    V²(x) = (G L_tot / R_e) · Σ_k m_k(θ) C_k(x)

with ``C_k`` the dimensionless map of component k per unit of its mass scaling (learned by the
network on the polar grid, or computed by jampy) and ``m_k`` that scaling, exact
(:func:`scalings`; DESIGN.md, "What the network does not learn"). Today:

========== ====== ============ =====================================================================
name       symbol parameter    C_k
========== ====== ============ =====================================================================
stars      A      log10_ml     V² of the stars' own potential per unit M/L (w = Υ)
black_hole B      log10_mbh    jampy's linear response to a central point mass, per unit M_BH/L_tot
========== ====== ============ =====================================================================

and, for the emulator v2's training set (issue 15; not yet in a shipped model):

========== ====== ============ =====================================================================
halo       H      log10_mhalo  jampy's linear response to one spherical Gaussian of width s (an
                               input, ``log10_width_re``), per unit M/L_tot: the halo basis
========== ====== ============ =====================================================================

Everything that handles component maps iterates over a tuple of :class:`Component` (an
emulator's :attr:`~jaxjam.emulator.emulator.Emulator.components`): the jampy labels
(:func:`jaxjam.reference.jam.grid_maps`), the store, the target transforms, the network head, the
exact layer (:mod:`jaxjam.core.forward`, :mod:`jaxjam.core.psf`), the fused network, the table, the
likelihood's weights and the priors. Adding a component (a halo basis function) is a new entry
here, with its label function, plus a test; :func:`register` adds one at run time (tests do).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

__all__ = [
    "BLACK_HOLE",
    "DEFAULT",
    "HALO",
    "HALO_REF_FRACTION",
    "STARS",
    "Component",
    "by_name",
    "halo_gaussian",
    "halo_ref_fraction",
    "halo_ref_mass",
    "names",
    "parameter_names",
    "register",
    "scalings",
]

TARGETS = ("log", "linear_r")


@dataclasses.dataclass(frozen=True)
class Component:
    """One linear component of the potential.

    Parameters
    ----------
    name : str
        Identifier, recorded in stores and checkpoints (``"stars"``).
    symbol : str
        Short name of its map (``"A"``): the store's array and the normalisation's key.
    parameter : str
        The sampled parameter that scales it, a log10 (``"log10_ml"``).
    parameter_index : int
        Position of ``parameter`` in θ (after q_int and ratio: 2, 3, ...).
    per_luminosity : bool
        ``True``: the parameter is a mass in Msun and its scaling ``m = 10**p / L_tot``;
        ``False``: a mass-to-light ratio in Msun/Lsun and ``m = 10**p``.
    target : {"log", "linear_r"}
        How the network predicts it: ``"log"``, the standardised log of a positive map (a
        relative error δ in Vrms is 2δ in log C); ``"linear_r"``, the standardised map times
        r/R_e (for maps that change sign, like the black hole's response; its head is linear,
        so a fit folds it into the operator, :func:`jaxjam.emulator.fused.fold_linear_heads`).
    outer_power : float
        Beyond the grid's outer radius the map is extrapolated as ``(r_max/r)**outer_power``
        times its value at r_max (0: constant; 1: Keplerian).
    label : callable
        ``label(second_moment, scale, settings) → V² map`` per unit scaling (jampy's raw
        units), with ``second_moment(mbh_msun=0.0, extra=None)`` jampy's V² of the stars at
        Υ = 1 plus a point mass and extra potential Gaussians ``(surf [Msun/pc²], sigma
        [arcsec], q)`` (:func:`jaxjam.reference.jam.grid_maps`, which divides by G L_tot/R_e),
        ``scale`` the :class:`~jaxjam.reference.jam.JampyScale` (luminosity, R_e, distance) and
        ``settings`` the :class:`~jaxjam.reference.jam.JampySettings`.
    max_weight : callable or None
        ``max_weight(settings) → m``: the largest scaling at which a label map is checked to be
        physical (``C_stars + m C_k > 0``); ``None`` for a map that must itself be positive.
    default_bounds : (float, float)
        Default uniform prior bounds of ``parameter``.
    description : str
    parameter_unit : str
        Unit of ``parameter`` as printed in help texts and tables (``"log10 Msun"``).
    input_name : str or None
        A per-sample scalar the map depends on besides the photometry, q_int and ratio (the
        halo's ``"log10_width_re"``); ``None`` for none. The generator draws it uniformly over
        ``input_range`` for each sample and stores it as ``<symbol>_<input_name>``; the label
        is then called as ``label(second_moment, scale, settings, value)``.
    input_range : (float, float) or None
        The generator's uniform range of the input.
    input_scale : callable or None
        ``input_scale(value) → factor`` (NumPy or JAX): the network's target is the map times
        this factor (the halo's reference mass per L_tot, which keeps the target O(1) across
        five decades of width), a known exact function of the input. ``None``: 1.
    """

    name: str
    symbol: str
    parameter: str
    parameter_index: int
    per_luminosity: bool
    target: str
    outer_power: float
    label: Callable
    max_weight: Callable | None
    default_bounds: tuple[float, float]
    description: str = ""
    parameter_unit: str = ""
    input_name: str | None = None
    input_range: tuple[float, float] | None = None
    input_scale: Callable | None = None

    def __post_init__(self):
        if self.target not in TARGETS:
            raise ValueError(f"component {self.name!r}: target must be one of {TARGETS}")
        if self.parameter_index < 2:
            raise ValueError(f"component {self.name!r}: parameter_index must be ≥ 2 "
                             "(0 and 1 are q_int and ratio)")  # fmt: skip
        lo, hi = self.default_bounds
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"component {self.name!r}: default_bounds must be finite, lo < hi")
        if (self.input_name is None) != (self.input_range is None):
            raise ValueError(f"component {self.name!r}: give input_name and input_range together")
        if self.input_range is not None:
            lo, hi = self.input_range
            if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
                raise ValueError(f"component {self.name!r}: input_range must be finite, lo < hi")

    @property
    def input_key(self) -> str | None:
        """The store's array of the per-sample input (``"H_log10_width_re"``), or ``None``."""
        return None if self.input_name is None else f"{self.symbol}_{self.input_name}"


def _stars_label(second_moment, scale, settings):
    return second_moment(0.0)


def _black_hole_label(second_moment, scale, settings):
    m_ref = settings.bh_ref_fraction * scale.lum_lsun
    return (second_moment(m_ref) - second_moment(0.0)) / m_ref * scale.lum_lsun


#: The stars' own potential, per unit M/L.
STARS = Component(
    name="stars",
    symbol="A",
    parameter="log10_ml",
    parameter_index=3,
    per_luminosity=False,
    target="log",
    outer_power=0.0,
    label=_stars_label,
    max_weight=None,
    default_bounds=(-1.0, 1.5),
    description="V² of the stars' own potential per unit M/L (Υ = 1, no black hole)",
    parameter_unit="log10 Msun/Lsun",
)

#: A central black hole, per unit M_BH/L_tot: jampy's linear response to it, which reproduces
#: direct jampy calls to ≲ 1e-6 for M_BH/(Υ L_tot) ≤ 1e-2 (``JampySettings.bh_ref_fraction``).
BLACK_HOLE = Component(
    name="black_hole",
    symbol="B",
    parameter="log10_mbh",
    parameter_index=2,
    per_luminosity=True,
    target="linear_r",
    outer_power=1.0,
    label=_black_hole_label,
    max_weight=lambda settings: settings.bh_max_fraction,
    default_bounds=(4.0, 10.5),
    description="jampy's linear response to a central point mass, per unit M_BH/L_tot",
    parameter_unit="log10 Msun",
)

#: Reference mass of the halo label for widths s ≤ R_e, in units of L_tot (with Υ = 1); wider
#: Gaussians use ``HALO_REF_FRACTION · (1 + s³)`` (s in R_e) so that the mass they put inside
#: the grid, and their share of V², stays comparable (:func:`halo_ref_mass`).
HALO_REF_FRACTION = 0.1


def halo_ref_fraction(log10_width_re):
    """The halo label's reference mass per L_tot (Υ = 1), ``HALO_REF_FRACTION · (1 + s³)``
    with s in R_e; NumPy or JAX, any shape."""
    return HALO_REF_FRACTION * (1.0 + 10.0 ** (3.0 * log10_width_re))


def halo_ref_mass(log10_width_re: float, lum_lsun: float) -> float:
    """Mass (Msun) of the spherical Gaussian at which the halo label is jampy's linear response
    (``halo_ref_fraction · L_tot``; this order of operations made the v2 store's labels)."""
    return HALO_REF_FRACTION * lum_lsun * (1.0 + 10.0 ** (3.0 * float(log10_width_re)))


def halo_gaussian(mass_msun: float, log10_width_re: float, scale) -> tuple[float, float, float]:
    """One spherical Gaussian of the potential in jampy's units: ``(surf [Msun/pc²], sigma
    [arcsec], q = 1)`` of total mass ``mass_msun`` and width ``10**log10_width_re · R_e``
    (``scale`` a :class:`~jaxjam.reference.jam.JampyScale`)."""
    from jaxjam.core.constants import pc_per_arcsec

    sigma_arcsec = 10.0 ** float(log10_width_re) * scale.re_arcsec
    sigma_pc = sigma_arcsec * pc_per_arcsec(scale.distance_mpc)
    return (mass_msun / (2 * np.pi * sigma_pc**2), sigma_arcsec, 1.0)


def _halo_label(second_moment, scale, settings, log10_width_re):
    m_ref = halo_ref_mass(log10_width_re, scale.lum_lsun)
    with_halo = second_moment(0.0, halo_gaussian(m_ref, log10_width_re, scale))
    return (with_halo - second_moment(0.0)) / m_ref * scale.lum_lsun


#: One spherical Gaussian of the potential of width s (the per-sample input log10 s/R_e, over
#: 3e-4–60 R_e: a basis of 24 such widths represents gNFW halos with γ from −1.6 to 0 to ≤ 1e-4
#: of V_c², ``benchmarks/halo/halo_basis.py``), per unit M/L_tot. A halo is a weighted sum of them.
HALO = Component(
    name="halo",
    symbol="H",
    parameter="log10_mhalo",
    parameter_index=4,
    per_luminosity=True,
    target="linear_r",  # a difference of two jampy calls: small and of either sign near r = 0
    outer_power=1.0,
    label=_halo_label,
    max_weight=None,
    default_bounds=(7.0, 13.0),
    description="jampy's linear response to a spherical Gaussian of width s (input "
    "log10_width_re), per unit M/L_tot",
    parameter_unit="log10 Msun",
    input_name="log10_width_re",
    input_range=(-3.5, 1.8),
    input_scale=halo_ref_fraction,
)

#: The shipped model's components, in the order of its maps and its head.
DEFAULT = (STARS, BLACK_HOLE)

_REGISTRY: dict[str, Component] = {c.name: c for c in (*DEFAULT, HALO)}


def register(component: Component) -> Component:
    """Make a component known by name (for stores and checkpoints that list it)."""
    old = _REGISTRY.get(component.name)
    if old is not None and old != component:
        raise ValueError(f"a different component is already registered as {component.name!r}")
    _REGISTRY[component.name] = component
    return component


def by_name(component_names) -> tuple[Component, ...]:
    """The registered components of these names, in order; a clear error for unknown ones.

    The first must be ``"stars"`` (the tracer's own potential: every other map is a response
    added to it), and their parameters must fill θ's positions 2, 3, ... exactly once.
    """
    out = []
    for n in component_names:
        if n not in _REGISTRY:
            raise ValueError(
                f"unknown model component {n!r}; known: {sorted(_REGISTRY)} "
                "(register new ones with jaxjam.core.components.register)"
            )
        out.append(_REGISTRY[n])
    check(tuple(out))
    return tuple(out)


def check(components) -> None:
    """Validate a component tuple (see :func:`by_name`)."""
    if not components or components[0].name != "stars":
        raise ValueError("the first component must be 'stars'")
    idx = sorted(c.parameter_index for c in components)
    if idx != list(range(2, 2 + len(components))):
        raise ValueError(f"component parameter positions {idx} must be 2..{1 + len(components)}")
    if len({c.symbol for c in components}) != len(components):
        raise ValueError("component symbols must be distinct")


def names(components) -> tuple[str, ...]:
    return tuple(c.name for c in components)


def parameter_names(components) -> tuple[str, ...]:
    """θ's names: ``("q_int", "ratio", ...)`` then each component's parameter at its index
    (:attr:`jaxjam.core.model.Model.names` of these components)."""
    from jaxjam.core.model import Model

    return Model(tuple(components)).names


def scalings(components, theta, lum_lsun):
    """Each component's mass scaling ``m_k`` for parameters θ (NumPy or JAX).

    Parameters
    ----------
    components : tuple of Component
    theta : array, shape (..., 2 + n_components)
        (q_int, ratio, then the log10 parameters at their indices).
    lum_lsun : float
        Total luminosity L_tot, Lsun.

    Returns
    -------
    array, shape (..., n_components)
        ``10**p`` (mass-to-light ratios) or ``10**p / L_tot`` (masses), in component order.
    """
    xp = np if isinstance(theta, np.ndarray) else _jnp()
    cols = []
    for c in components:
        m = 10.0 ** theta[..., c.parameter_index]
        cols.append(m / lum_lsun if c.per_luminosity else m)
    return xp.stack(cols, axis=-1)


def _jnp():
    import jax.numpy as jnp

    return jnp
