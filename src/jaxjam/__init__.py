"""jaxjam: a differentiable JAX/Flax emulator of Jeans Anisotropic Models (jampy)."""

from jaxjam.core.geometry import inc_from_q_int, q_int_from_inc, q_int_range
from jaxjam.core.grid import PolarGrid
from jaxjam.core.kinematics import Kinematics, read_kinematics
from jaxjam.core.mge import MGE, read_mge, write_mge
from jaxjam.core.photometry import ImageSpec, render_photometry

__version__ = "0.1.0"


def __getattr__(name):
    # The emulator pulls in JAX and Flax; import it lazily so that light users (the generator's
    # dask workers, the MGE tools) do not pay for it.
    if name == "Emulator":
        from jaxjam.emulator.emulator import Emulator

        return Emulator
    if name == "PSF":
        from jaxjam.core.psf import PSF

        return PSF
    raise AttributeError(f"module 'jaxjam' has no attribute {name!r}")


__all__ = [
    "MGE",
    "PSF",
    "Emulator",
    "ImageSpec",
    "Kinematics",
    "PolarGrid",
    "__version__",
    "inc_from_q_int",
    "q_int_from_inc",
    "q_int_range",
    "read_kinematics",
    "read_mge",
    "render_photometry",
    "write_mge",
]
