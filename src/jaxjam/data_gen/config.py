"""The generator's configuration: one frozen dataclass, serialised to JSON in the manifest."""

from __future__ import annotations

import dataclasses

from jaxjam.core.components import DEFAULT, Component, by_name, names
from jaxjam.core.configs import from_dict, from_json
from jaxjam.core.grid import PolarGrid
from jaxjam.core.photometry import ImageSpec
from jaxjam.data_gen.jam_labels import LabelConfig
from jaxjam.data_gen.sampler import SamplerConfig

__all__ = ["GeneratorConfig"]


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
    """Everything that determines a training set, besides its size and seed.

    Parameters
    ----------
    draws_per_photometry : int
        JAM parameter draws (q_int, ratio) per distinct photometry. Distinct photometries are
        the scarce resource for the emulator (a prototype with 2,300 photometries overfit on
        them), and drawing one costs ~0.2 s against ~0.18 s for a draw's jampy labels, so the
        default spends the budget on photometries: one draw each.
    photometries_per_task : int
        Photometries per dask task; a task's samples form one zarr chunk, written atomically.
    grid, image, labels, sampler
        Output grid, CNN image, jampy settings and galaxy distribution.
    components : tuple of str
        The model components labelled (:mod:`jaxjam.core.components`, by name; the first
        ``"stars"``): one map per sample each, stored under its symbol; a component with a
        per-sample input (the halo's width) also stores that input.
    physical_radius : bool
        Store, per sample and grid angle, the radius out to which the stars' V² is positive
        (:func:`jaxjam.data_gen.jam_labels.physical_radius_re`): the label of a physicality
        output that judges a model only where the data reach (DESIGN.md, "Physicality where
        the data are").
    """

    draws_per_photometry: int = 1
    photometries_per_task: int = 16
    grid: PolarGrid = PolarGrid()
    image: ImageSpec = ImageSpec()
    labels: LabelConfig = LabelConfig()
    sampler: SamplerConfig = SamplerConfig()
    components: tuple[str, ...] = names(DEFAULT)
    physical_radius: bool = False

    def __post_init__(self):
        if self.draws_per_photometry < 1 or self.photometries_per_task < 1:
            raise ValueError("draws_per_photometry and photometries_per_task must be >= 1")
        by_name(self.components)  # a clear error for unknown names

    @property
    def model_components(self) -> tuple[Component, ...]:
        """The :class:`~jaxjam.core.components.Component` objects of :attr:`components`."""
        return by_name(self.components)

    @property
    def samples_per_task(self) -> int:
        return self.draws_per_photometry * self.photometries_per_task

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> GeneratorConfig:
        """From a dict, nested configs included; unknown keys are refused
        (:func:`jaxjam.core.configs.from_dict`)."""
        return from_dict(cls, values)

    @classmethod
    def from_json(cls, path) -> GeneratorConfig:
        """From a JSON file (:func:`jaxjam.core.configs.from_json`)."""
        return from_json(cls, path)
