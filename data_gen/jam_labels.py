"""Training labels: jampy's component maps (:mod:`jaxjam.components`) on the model's polar grid.

The jampy calls themselves, their padding and their settings live in :mod:`jaxjam.reference`
(one module for every jampy call of the package); this module names what the generator uses
of it. ``LabelConfig`` is :class:`jaxjam.reference.JampySettings` (its default is
:data:`jaxjam.reference.LABELS`, the shipped model's labels: nang 15, nlos 120).
"""

from __future__ import annotations

from jaxjam.components import DEFAULT, Component
from jaxjam.grid import PolarGrid
from jaxjam.mge import MGE
from jaxjam.reference import (
    STATUS_A_NONPOSITIVE,
    STATUS_B_NONPOSITIVE,
    STATUS_NONFINITE,
    STATUS_OK,
    ComponentMaps,
    JampyScale,
    grid_maps,
    jampy_version,
)
from jaxjam.reference import JampySettings as LabelConfig

__all__ = [
    "STATUS_A_NONPOSITIVE",
    "STATUS_B_NONPOSITIVE",
    "STATUS_NONFINITE",
    "STATUS_OK",
    "ComponentMaps",
    "JampyScale",
    "LabelConfig",
    "component_maps",
    "jampy_version",
]


def component_maps(
    mge_norm: MGE,
    q_int: float,
    ratio: float,
    grid: PolarGrid = PolarGrid(),
    config: LabelConfig = LabelConfig(),
    scale: JampyScale = JampyScale(),
    components: tuple[Component, ...] = DEFAULT,
    inputs: dict[str, float] | None = None,
) -> ComponentMaps:
    """The labels of one sample: :func:`jaxjam.reference.grid_maps` at ``config``."""
    return grid_maps(mge_norm, q_int, ratio, grid, config, scale, components=components,
                     inputs=inputs)  # fmt: skip
