"""The model's polar output grid, in scale-free units (radii in R_e, angles from the major axis).

Unconvolved V² is symmetric under x → −x and y → −y, so one quadrant suffices. Radii are
log-spaced; angles are uniformly spaced from 0 (major axis) to 90 deg (minor axis), end points
included, so that interpolation never extrapolates in angle.

The default size, 64 radii × 16 angles over 1e-3–3 R_e, was chosen from the measured
interpolation error of jampy maps (``benchmarks/refinement/grid_interpolation.py``): cost is
dominated by
jampy's Jeans solve, not by the number of nodes, so a fine grid is cheap to label.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["PolarGrid"]


@dataclasses.dataclass(frozen=True)
class PolarGrid:
    """A (log r, θ) grid covering one quadrant.

    Parameters
    ----------
    n_r : int
        Number of log-spaced radii.
    n_theta : int
        Number of angles, from 0 to 90 deg inclusive.
    r_min_re, r_max_re : float
        Innermost and outermost radius, in units of R_e.
    """

    n_r: int = 64
    n_theta: int = 16
    r_min_re: float = 1e-3
    r_max_re: float = 3.0

    def __post_init__(self):
        if self.n_r < 4 or self.n_theta < 2:
            raise ValueError(f"grid too small: n_r={self.n_r}, n_theta={self.n_theta}")
        if not (0 < self.r_min_re < self.r_max_re):
            raise ValueError(f"need 0 < r_min_re < r_max_re, got {self.r_min_re}, {self.r_max_re}")

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_r, n_theta)``."""
        return (self.n_r, self.n_theta)

    @property
    def log_r(self) -> np.ndarray:
        """Natural log of the node radii (in R_e), shape (n_r,)."""
        return np.linspace(np.log(self.r_min_re), np.log(self.r_max_re), self.n_r)

    @property
    def r_re(self) -> np.ndarray:
        """Node radii in units of R_e, shape (n_r,)."""
        return np.exp(self.log_r)

    @property
    def theta_rad(self) -> np.ndarray:
        """Node angles from the projected major axis, radians, shape (n_theta,)."""
        return np.linspace(0.0, np.pi / 2, self.n_theta)

    def nodes_xy_re(self) -> tuple[np.ndarray, np.ndarray]:
        """Sky coordinates of the nodes in R_e, each shape (n_r, n_theta).

        x is along the projected major axis and y along the minor axis (jampy's convention).
        """
        r, th = np.meshgrid(self.r_re, self.theta_rad, indexing="ij")
        return r * np.cos(th), r * np.sin(th)

    def to_dict(self) -> dict:
        """JSON-serialisable description."""
        return dataclasses.asdict(self)
