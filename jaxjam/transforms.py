"""Input features and target transforms of the emulator, in one place, saved with checkpoints.

Inputs
    The photometry image (``jaxjam.photometry``), standardised per pixel, and the JAM scalars
    of :func:`jam_scalars`: q_int, ratio and derived quantities the prototype showed the
    network needs explicitly (q'min, the inclination and q_int's position in its allowed
    range), standardised.

Targets
    - ``log A`` per node, standardised per node. A relative error δ in Vrms is an error 2δ in
      log A, so the loss on log A weighs every node equally in Vrms space.
    - ``B · r`` per node (r in R_e), standardised per node. B behaves like a Keplerian
      ``1/r`` near the black hole and oscillates around zero far from it, so it has no log;
      ``B·r`` is O(1) and smooth.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from jaxjam.geometry import Q_INT_MIN

__all__ = ["N_SCALARS", "SCALAR_NAMES", "Normalization", "jam_scalars"]

SCALAR_NAMES = ("q_int", "ratio", "log_ratio", "qobs_min", "q_int_position", "cos_inc")
N_SCALARS = len(SCALAR_NAMES)


def jam_scalars(q_int, ratio, qobs_min):
    """The MLP's scalar inputs (before standardisation).

    Parameters
    ----------
    q_int, ratio, qobs_min : array_like, shape (...)
        Intrinsic axial ratio of the flattest Gaussian, anisotropy ratio and q'min.

    Returns
    -------
    array, shape (..., N_SCALARS)
        In the order of :data:`SCALAR_NAMES`. ``q_int_position`` is
        ``(q_int − 0.051)/(q'min − 0.051)`` in (0, 1]; ``cos_inc`` is
        ``sqrt((q'min² − q_int²)/(1 − q_int²))``. Works with NumPy and JAX arrays and is
        differentiable in q_int and ratio.
    """
    xp = jnp if any(isinstance(a, jnp.ndarray) for a in (q_int, ratio, qobs_min)) else np
    q_int, ratio, qobs_min = (xp.asarray(a) for a in (q_int, ratio, qobs_min))
    position = (q_int - Q_INT_MIN) / (qobs_min - Q_INT_MIN)
    cos_inc = xp.sqrt(xp.clip((qobs_min**2 - q_int**2) / (1 - q_int**2), 0.0, 1.0))
    q_int, ratio, qobs_min = xp.broadcast_arrays(q_int, ratio, qobs_min)
    position, cos_inc = xp.broadcast_arrays(position, cos_inc)
    return xp.stack([q_int, ratio, xp.log(ratio), qobs_min, position, cos_inc], axis=-1)


@dataclasses.dataclass(frozen=True, eq=False)
class Normalization:
    """Means and standard deviations of inputs and targets, measured on the training set.

    Attributes (all float32 arrays)
    ----------
    image_mean, image_std : shape (n_r_img, n_theta_img)
    scalar_mean, scalar_std : shape (N_SCALARS,)
    log_a_mean, log_a_std : shape (n_r, n_theta)
    b_r_mean, b_r_std : shape (n_r, n_theta)
    r_re : shape (n_r,), grid radii (R_e) used for ``B·r``
    """

    image_mean: np.ndarray
    image_std: np.ndarray
    scalar_mean: np.ndarray
    scalar_std: np.ndarray
    log_a_mean: np.ndarray
    log_a_std: np.ndarray
    b_r_mean: np.ndarray
    b_r_std: np.ndarray
    r_re: np.ndarray

    @classmethod
    def fit(cls, images, scalars, A, B, r_re, floor: float = 1e-6) -> Normalization:
        """Measure the statistics on (a sample of) the training data.

        Parameters
        ----------
        images : array, shape (n, n_r_img, n_theta_img)
        scalars : array, shape (n, N_SCALARS)
        A, B : array, shape (n, n_r, n_theta), physical samples only (A > 0)
        r_re : array, shape (n_r,)
        """
        A = np.asarray(A, np.float64)
        if np.any(A <= 0):
            raise ValueError("Normalization.fit needs physical samples only (A > 0 everywhere)")
        log_a = np.log(A)
        b_r = np.asarray(B, np.float64) * np.asarray(r_re)[:, None]

        def stats(x):
            return x.mean(0).astype(np.float32), np.maximum(x.std(0), floor).astype(np.float32)

        return cls(*stats(np.asarray(images, np.float64)), *stats(np.asarray(scalars)),
                   *stats(log_a), *stats(b_r), np.asarray(r_re, np.float32))  # fmt: skip

    # ---------------------------------------------------------------- inputs
    def standardize_image(self, image):
        return (image - self.image_mean) / self.image_std

    def standardize_scalars(self, scalars):
        return (scalars - self.scalar_mean) / self.scalar_std

    # ---------------------------------------------------------------- targets
    def encode_targets(self, A, B):
        """(A, B) → standardised (z_A, z_B), each shape (..., n_r, n_theta)."""
        xp = jnp if isinstance(A, jnp.ndarray) else np
        z_a = (xp.log(A) - self.log_a_mean) / self.log_a_std
        z_b = (B * self.r_re[:, None] - self.b_r_mean) / self.b_r_std
        return z_a, z_b

    def decode_targets(self, z_a, z_b):
        """Standardised network outputs → (A, B), dimensionless, shape (..., n_r, n_theta)."""
        xp = jnp if isinstance(z_a, jnp.ndarray) else np
        A = xp.exp(z_a * self.log_a_std + self.log_a_mean)
        B = (z_b * self.b_r_std + self.b_r_mean) / self.r_re[:, None]
        return A, B

    # ---------------------------------------------------------------- I/O
    def to_dict(self) -> dict:
        return {
            f.name: np.asarray(getattr(self, f.name)).tolist() for f in dataclasses.fields(self)
        }

    @classmethod
    def from_dict(cls, d: dict) -> Normalization:
        names = [f.name for f in dataclasses.fields(cls)]
        missing = set(names) - set(d)
        if missing:
            raise ValueError(f"normalisation is missing {sorted(missing)}")
        return cls(**{k: np.asarray(d[k], np.float32) for k in names})
