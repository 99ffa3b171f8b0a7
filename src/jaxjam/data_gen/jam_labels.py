"""Training labels: jampy's component maps (:mod:`jaxjam.core.components`) on the model's polar
grid.

The jampy calls themselves, their padding and their settings live in :mod:`jaxjam.reference.jam`
(one module for every jampy call of the package); this module names what the generator uses
of it. ``LabelConfig`` is :class:`jaxjam.reference.jam.JampySettings` (its default is
:data:`jaxjam.reference.jam.LABELS`, the shipped model's labels: nang 15, nlos 120).
"""

from __future__ import annotations

import numpy as np

from jaxjam.core.components import DEFAULT, Component
from jaxjam.core.grid import PolarGrid
from jaxjam.core.mge import MGE
from jaxjam.reference.jam import (
    STATUS_A_NONPOSITIVE,
    STATUS_B_NONPOSITIVE,
    STATUS_NONFINITE,
    STATUS_OK,
    ComponentMaps,
    JampyScale,
    grid_maps,
    jampy_version,
)
from jaxjam.reference.jam import JampySettings as LabelConfig

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
    "physical_radius_re",
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
    """The labels of one sample: :func:`jaxjam.reference.jam.grid_maps` at ``config``."""
    return grid_maps(mge_norm, q_int, ratio, grid, config, scale, components=components,
                     inputs=inputs)  # fmt: skip


def physical_radius_re(stars_map, radii_re):
    """At each angle, the outermost radius out to which a map is positive at every radius.

    Parameters
    ----------
    stars_map : ndarray, shape (n_r, n_theta)
        The stars' V² map (A) on the grid; NaN counts as not positive.
    radii_re : ndarray, shape (n_r,)
        The grid's radii, R_e, increasing.

    Returns
    -------
    ndarray, shape (n_theta,), float32
        R_e; 0 where the innermost radius is already not positive, ``radii_re[-1]`` where the
        map is positive at every radius.
    """
    ok = np.asarray(stars_map) > 0  # NaN → False
    n_ok = np.argmin(np.vstack([ok, np.zeros((1, ok.shape[1]), bool)]), axis=0)
    r = np.concatenate([[0.0], np.asarray(radii_re, float)])
    return r[n_ok].astype(np.float32)
