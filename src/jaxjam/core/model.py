"""The model a fit samples: its potential components and its anisotropy family, and the free
parameters they define, each with its name, unit, meaning and default prior bounds.

Everything that lists parameters asks a :class:`Model`: the priors
(:class:`~jaxjam.inference.priors.PriorBounds`), the ``--NAME-bounds`` options of ``jaxjam fit``
and ``jaxjam survey`` (:func:`jaxjam.cli.options.fit_options`), the survey catalogue's
``NAME_bounds`` columns (:func:`jaxjam.cli.survey.catalog.read_catalog`) and the rows of
``summary.csv`` (the posterior's variables). A new component adds its parameter in one place,
its :class:`~jaxjam.core.components.Component` entry, and a new anisotropy family one entry of
:data:`ANISOTROPY`.

>>> from jaxjam.core.model import Model
>>> Model().names
('q_int', 'ratio', 'log10_mbh', 'log10_ml')
>>> Model().parameter("log10_mbh").unit
'log10 Msun'
"""

from __future__ import annotations

import dataclasses

from jaxjam.core.components import DEFAULT, Component, check

__all__ = ["ANISOTROPY", "Q_INT", "RATIO", "Model", "Parameter"]


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One free parameter of a model.

    Parameters
    ----------
    name : str
        θ's name, the posterior variable and the ``summary.csv`` row (``"log10_mbh"``).
    unit : str
        As printed (``"log10 Msun"``; ``""`` for a pure number).
    description : str
        What it is, in a phrase (help texts).
    default_bounds : (float, float) or None
        Default uniform prior bounds; ``None`` where they come from the data (q_int's upper
        bound is the MGE's q'min).
    default_text : str
        The default bounds in words, for help texts (default: ``"LO to HI"``).
    """

    name: str
    unit: str
    description: str
    default_bounds: tuple[float, float] | None
    default_text: str = ""

    @property
    def option(self) -> str:
        """The command-line option of its prior bounds (``"--log10-mbh-bounds"``)."""
        return f"--{self.name.replace('_', '-')}-bounds"

    @property
    def column(self) -> str:
        """The survey catalogue's column of its prior bounds (``"log10_mbh_bounds"``)."""
        return f"{self.name}_bounds"

    def describe_default(self) -> str:
        if self.default_text:
            return self.default_text
        lo, hi = self.default_bounds
        return f"{lo:g} to {hi:g}"


#: The intrinsic axial ratio of the flattest MGE Gaussian, which sets the inclination.
Q_INT = Parameter("q_int", "", "intrinsic axial ratio of the flattest MGE Gaussian (sets the "
                  "inclination)", None, "0.051 to the MGE's q'min")  # fmt: skip

#: σ_θ/σ_r of the cylindrically-aligned anisotropy of Cappellari (2026, eq. 37).
RATIO = Parameter("ratio", "", "anisotropy σ_θ/σ_r of eq. (37) (1: isotropic)", (0.5, 1.0))

#: Anisotropy families: their parameters, after q_int. ``cyl``: eq. (37), today's model.
ANISOTROPY: dict[str, tuple[Parameter, ...]] = {"cyl": (RATIO,)}


def component_parameter(c: Component) -> Parameter:
    """The parameter that scales a component (its mass or mass-to-light ratio)."""
    what = c.name.replace("_", " ")
    text = f"scales the {what} ({c.description})" if c.description else f"scales the {what}"
    return Parameter(c.parameter, c.parameter_unit, text, c.default_bounds)


@dataclasses.dataclass(frozen=True)
class Model:
    """Components of the potential and an anisotropy family: the model's free parameters.

    Parameters
    ----------
    components : tuple of Component
        The potential's components, as an emulator's
        (:attr:`~jaxjam.emulator.emulator.Emulator.components`); default stars and black hole.
    anisotropy : str
        A key of :data:`ANISOTROPY` (default ``"cyl"``).
    """

    components: tuple[Component, ...] = DEFAULT
    anisotropy: str = "cyl"

    def __post_init__(self):
        if self.anisotropy not in ANISOTROPY:
            raise ValueError(f"unknown anisotropy family {self.anisotropy!r}; known: "
                             f"{sorted(ANISOTROPY)}")  # fmt: skip
        check(self.components)
        names = self.names
        if len(set(names)) != len(names):
            raise ValueError(f"the model's parameters must have distinct names, got {names}")

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        """θ's parameters in θ's order: q_int, the anisotropy's, then each component's at its
        ``parameter_index``."""
        by_index = sorted(self.components, key=lambda c: c.parameter_index)
        return (Q_INT, *ANISOTROPY[self.anisotropy], *map(component_parameter, by_index))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def parameter(self, name: str) -> Parameter:
        """The parameter called ``name``; a ``KeyError`` names the model's parameters."""
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(f"{name!r} is not a parameter of this model; its parameters are "
                       f"{list(self.names)}")  # fmt: skip
