"""The reference layer: every call of jampy, the ground truth (padding, converged settings,
maps on the grid and at the bins). Imports only :mod:`jaxjam.core`."""

from jaxjam.reference.jam import (
    CONVERGED,
    LABELS,
    JampyScale,
    JampySettings,
)

__all__ = ["CONVERGED", "LABELS", "JampyScale", "JampySettings"]
