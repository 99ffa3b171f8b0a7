"""Frozen-dataclass configs from dicts and JSON files: one helper for every config of jaxjam.

>>> from jaxjam.core.configs import from_json                     # doctest: +SKIP
>>> config = from_json(GeneratorConfig, "configs/v1.json")    # doctest: +SKIP

Nested configs (a field whose default is itself a dataclass) are built from nested dicts,
JSON lists become tuples where the field is a tuple, and unknown keys are refused with their
names, so a misspelt option never falls back silently to its default.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["from_dict", "from_json"]


def _is_tuple_field(field: dataclasses.Field) -> bool:
    annotation = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
    return isinstance(field.default, tuple) or str(annotation).startswith("tuple")


def _nested_type(field: dataclasses.Field):
    """The dataclass a field holds (from its default), or None."""
    default = field.default
    if default is dataclasses.MISSING and field.default_factory is not dataclasses.MISSING:
        default = field.default_factory()
    if dataclasses.is_dataclass(default) and not isinstance(default, type):
        return type(default)
    return None


def _tuples(value):
    if isinstance(value, list | tuple):
        return tuple(_tuples(v) for v in value)
    return value


def from_dict[T](cls: type[T], values: Mapping[str, Any], where: str | None = None) -> T:
    """Build the dataclass ``cls`` from ``values``.

    Parameters
    ----------
    cls : type
        A dataclass (frozen or not).
    values : mapping
        Field names to values; nested dataclass fields take a mapping (or an instance).
    where : str, optional
        Where the values come from, for error messages (default: the class name).

    Returns
    -------
    cls
        Validated by the class's own ``__post_init__``.

    Raises
    ------
    ValueError
        For unknown keys (all named), or a nested field given something that is not a mapping.
    """
    where = where or cls.__name__
    if not isinstance(values, Mapping):
        raise ValueError(f"{where} must be a mapping of option names to values, got "
                         f"{type(values).__name__}")  # fmt: skip
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"unknown {where} option(s): {sorted(unknown)} (known: "
                         f"{sorted(fields)})")  # fmt: skip
    kwargs = {}
    for key, val in values.items():
        field = fields[key]
        nested = _nested_type(field)
        if nested is not None and val is not None and not isinstance(val, nested):
            kwargs[key] = from_dict(nested, val, f"{where}.{key}")
        elif _is_tuple_field(field):
            kwargs[key] = _tuples(val)
        else:
            kwargs[key] = val
    return cls(**kwargs)


def from_json[T](cls: type[T], path) -> T:
    """Build the dataclass ``cls`` from a JSON file (see :func:`from_dict`).

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a file.
    ValueError
        For invalid JSON (with the line and column) or unknown keys.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        values = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"config file {path} is not valid JSON: {exc}") from exc
    return from_dict(cls, values, f"{cls.__name__} in {path}")
