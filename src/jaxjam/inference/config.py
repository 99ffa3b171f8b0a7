"""What a fit is given: a galaxy's data (:class:`Galaxy`) and its settings (:class:`FitConfig`)."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

from jaxjam.core.errors import ArgumentError
from jaxjam.core.kinematics import Kinematics
from jaxjam.core.mge import MGE
from jaxjam.core.psf import PSF
from jaxjam.inference.certify import CertifyConfig
from jaxjam.inference.nuts import NUTSConfig
from jaxjam.inference.priors import PriorBounds
from jaxjam.reference.jam import CONVERGED, LABELS, JampySettings

__all__ = ["FitConfig", "Galaxy"]


class Galaxy(NamedTuple):
    """One galaxy's data.

    Attributes
    ----------
    mge : MGE
        Photometry (Lsun/pc², arcsec).
    kinematics : Kinematics
        Binned Vrms and errors (km/s) at (x, y) in arcsec.
    distance_mpc : float
        Distance, Mpc.
    psf : PSF or None
        PSF and pixel size; None for PSF-free modelling.
    pa_deg : float
        Position angle of the projected major axis from the data's +x axis, degrees.
    """

    mge: MGE
    kinematics: Kinematics
    distance_mpc: float
    psf: PSF | None = None
    pa_deg: float = 0.0


@dataclasses.dataclass(frozen=True)
class FitConfig:
    """Fit settings (recorded in the posterior's metadata).

    Parameters
    ----------
    nuts : NUTSConfig
    bounds : PriorBounds
    seed : int
        Seed of the PRNG key (initialisation, adaptation and sampling).
    model_error : bool
        Include the emulator's own error, as measured on its held-out store
        (:mod:`jaxjam.emulator.error_model`: smooth correlated modes plus an independent per-bin
        part).
    step_arcsec : float, optional
        Cartesian step of the PSF convolution (default ``min(sigma_psf)/4``, as jampy).
    refine_maps : int
        jampy maps per stage of the refinement (:mod:`jaxjam.inference.refine`, in parallel
        processes); 0 fits the plain emulator. A **pilot** refines the network's head on maps
        at ``pilot_settings`` over the prior box and samples, only to find the posterior; each
        round then adds maps at ``refine_settings`` spread over the last posterior
        (:func:`~jaxjam.inference.refine.spread_draws`), refines on those alone, samples and
        certifies. The likelihood's model-error term is the refined model's leave-one-out
        error measured at the data's bins through the PSF, on the newest round's maps.
    refine_settings : JampySettings
        jampy settings of the rounds' maps (default :data:`jaxjam.reference.jam.CONVERGED`,
        3–4 s a map).
    pilot_settings : JampySettings
        jampy settings of the pilot's maps (default :data:`jaxjam.reference.jam.LABELS`, the
        training labels' settings: 0.5 s a map, 0.1–0.4% off at the bins, enough to locate the
        posterior).
    certify : CertifyConfig
        The certificate against converged jampy at posterior draws
        (:mod:`jaxjam.inference.certify`) and its rounds of refinement near the posterior.
    table_nodes : (int, int) or None
        Chebyshev nodes in ψ(q_int) and in ratio of the table that replaces the network during
        sampling (:mod:`jaxjam.emulator.table`: built once per fit from the exact network, about
        0.1 s; a step then costs ~1/3 of the network's). Its error is measured at random points when
        it is built and at every posterior draw afterwards, and recorded. ``None`` evaluates
        the network at every step.
    """

    nuts: NUTSConfig = NUTSConfig()
    bounds: PriorBounds = PriorBounds()
    seed: int = 0
    model_error: bool = True
    step_arcsec: float | None = None
    refine_maps: int = 12
    table_nodes: tuple[int, int] | None = (32, 24)
    refine_settings: JampySettings = CONVERGED
    certify: CertifyConfig = CertifyConfig()
    pilot_settings: JampySettings = LABELS

    def __post_init__(self):
        for name in ("refine_settings", "pilot_settings"):
            if isinstance(getattr(self, name), dict):
                object.__setattr__(self, name, JampySettings(**getattr(self, name)))
        if isinstance(self.certify, dict):
            object.__setattr__(self, "certify", CertifyConfig(**self.certify))
        if self.refine_maps != 0 and self.refine_maps < 3:
            raise ArgumentError(f"{{refine_maps}} must be 0 or ≥ 3, got {self.refine_maps}")
        if self.table_nodes is not None:
            nodes = tuple(int(n) for n in self.table_nodes)
            if len(nodes) != 2 or min(nodes) < 4:
                raise ArgumentError(f"{{table_nodes}} must be {{none}} or two counts ≥ 4, got "
                                    f"{self.table_nodes}", none="None")  # fmt: skip
            object.__setattr__(self, "table_nodes", nodes)

    def to_dict(self) -> dict:
        # the bounds by name (PriorBounds.to_dict): a survey's manifest is unchanged by fields
        # that hold nothing
        return dataclasses.asdict(self) | {"bounds": self.bounds.to_dict()}
