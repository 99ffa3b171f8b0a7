"""The generator's configuration: one frozen dataclass, serialised to JSON in the manifest."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from jaxjam.data_gen.jam_labels import LabelConfig
from jaxjam.data_gen.sampler import SamplerConfig
from jaxjam.grid import PolarGrid
from jaxjam.photometry import ImageSpec

__all__ = ["GeneratorConfig"]

_NESTED = {"grid": PolarGrid, "image": ImageSpec, "labels": LabelConfig, "sampler": SamplerConfig}


def _build(cls, values: dict):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} option(s): {sorted(unknown)}")
    kwargs = {}
    for key, val in values.items():
        default = next(f for f in dataclasses.fields(cls) if f.name == key).default
        kwargs[key] = tuple(val) if isinstance(default, tuple) else val
    return cls(**kwargs)


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
    """

    draws_per_photometry: int = 1
    photometries_per_task: int = 16
    grid: PolarGrid = PolarGrid()
    image: ImageSpec = ImageSpec()
    labels: LabelConfig = LabelConfig()
    sampler: SamplerConfig = SamplerConfig()

    def __post_init__(self):
        if self.draws_per_photometry < 1 or self.photometries_per_task < 1:
            raise ValueError("draws_per_photometry and photometries_per_task must be >= 1")

    @property
    def samples_per_task(self) -> int:
        return self.draws_per_photometry * self.photometries_per_task

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> GeneratorConfig:
        values = dict(values)
        for key, sub in _NESTED.items():
            if key in values:
                values[key] = _build(sub, values[key])
        return _build(cls, values)

    @classmethod
    def from_json(cls, path) -> GeneratorConfig:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            values = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"config file {path} is not valid JSON: {exc}") from exc
        return cls.from_dict(values)
