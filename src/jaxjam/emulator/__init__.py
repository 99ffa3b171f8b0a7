"""The emulator layer: the network, its transforms and checkpoints, training on a store,
evaluation, and :class:`~jaxjam.emulator.emulator.Emulator`, the trained model as users load
it. Imports :mod:`jaxjam.core`, :mod:`jaxjam.reference` and :mod:`jaxjam.data_gen` (the
stores it reads)."""

from jaxjam.emulator.emulator import Emulator

__all__ = ["Emulator"]
