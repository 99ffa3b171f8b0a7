"""jaxjam: a differentiable JAX/Flax emulator of Jeans Anisotropic Models (jampy)."""

from jaxjam.geometry import inc_from_q_int, q_int_from_inc, q_int_range
from jaxjam.grid import PolarGrid
from jaxjam.mge import MGE, read_mge, write_mge
from jaxjam.photometry import ImageSpec, render_photometry

__version__ = "0.1.0"

__all__ = [
    "MGE",
    "ImageSpec",
    "PolarGrid",
    "__version__",
    "inc_from_q_int",
    "q_int_from_inc",
    "q_int_range",
    "read_mge",
    "render_photometry",
    "write_mge",
]
