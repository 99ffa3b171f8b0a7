"""The user-facing emulator: load a model, emulate its component maps, predict Vrms at bins.

>>> emu = jaxjam.Emulator.load("RUN_DIR/model")          # doctest: +SKIP
>>> vrms_kms = emu.predict_vrms(mge, distance_mpc=0.7, q_int=0.5, ratio=0.9,
...                             ml=1.5, mbh_msun=2e6, x_arcsec=x, y_arcsec=y)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import warnings
from importlib import resources
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxjam.core import components as comps
from jaxjam.core.errors import ArgumentError, literal
from jaxjam.core.geometry import RATIO_RANGE, check_q_int
from jaxjam.core.grid import PolarGrid
from jaxjam.core.mge import MGE
from jaxjam.core.photometry import ImageSpec, render_photometry
from jaxjam.emulator.checkpoint import load_model
from jaxjam.emulator.fused import make_bins_fn
from jaxjam.emulator.transforms import jam_scalars

__all__ = ["BH_FRACTION_MAX", "DomainError", "Emulator", "PhysicalityWarning", "default_model_dir"]

#: Largest M_BH/(Υ L_tot) for models whose metadata ``domain`` does not record
#: ``mbh_fraction_max``: the labels' ``JampySettings.bh_max_fraction``, up to which training
#: checked the maps and the evaluation measured the black hole's part.
BH_FRACTION_MAX = 1e-2


class PhysicalityWarning(UserWarning):
    """The model is physical at the bins but, by the emulator, unphysical beyond them."""


class DomainError(ArgumentError):
    """Parameters or photometry outside the emulator's trained domain."""


def default_model_dir() -> Path:
    """Directory of the pretrained model shipped inside the package."""
    return Path(str(resources.files("jaxjam") / "pretrained" / "default"))


class Emulator:
    """A trained emulator with its normalisation, grid and validity domain.

    Use :meth:`load`. Arrays returned are NumPy; the jitted pure functions are in
    :attr:`maps_fn`, :attr:`features_fn`, :attr:`hidden_fn` (the MLP's last hidden
    layer), :attr:`bins_fn` (the network fused with a data set's operator, as a fit
    evaluates it: :mod:`jaxjam.emulator.fused`) and :attr:`bins_batch_fn` (``bins_fn`` over arrays
    of q_int and ratio, shape (m,)) for use inside JAX code.
    """

    def __init__(self, model, normalization, metadata: dict):
        if model.config.head_rank is not None or model.config.physicality != "global":
            raise ValueError(
                "this model has the v2 network layout (a factorised head or a physical-radius "
                "output, issue 15), which fits, predictions and tables do not take yet; load "
                "it with jaxjam.emulator.checkpoint.load_model, or use a v1-layout model"
            )
        self.normalization = normalization
        self.metadata = metadata
        self.grid = PolarGrid(**metadata["grid"])
        self.image_spec = ImageSpec(**metadata["image"])
        self.domain = metadata.get("domain", {})
        #: The model's components (:mod:`jaxjam.core.components`), in the order of its maps.
        self.components = normalization.components
        self.path: Path | None = None
        self._graphdef, self._state = nnx.split(model)
        norm, graphdef = normalization, self._graphdef

        def features_fn(state, image):
            return nnx.merge(graphdef, state).encode(norm.standardize_image(image))

        def maps_fn(state, features, q_int, ratio, qobs_min):
            scalars = norm.standardize_scalars(jam_scalars(q_int, ratio, qobs_min))
            z, logit = nnx.merge(graphdef, state).decode(features, scalars)
            return norm.decode_targets(z), jax.nn.sigmoid(logit)

        def hidden_fn(state, features, q_int, ratio, qobs_min):
            scalars = norm.standardize_scalars(jam_scalars(q_int, ratio, qobs_min))
            return nnx.merge(graphdef, state).last_hidden(features, scalars)

        self.features_fn = jax.jit(features_fn)
        bins_fn = make_bins_fn(graphdef, norm)
        self.bins_fn = jax.jit(bins_fn)
        self.bins_batch_fn = jax.jit(jax.vmap(bins_fn, in_axes=(None,) * 6 + (0, 0)))
        self.maps_fn = jax.jit(maps_fn)
        self.hidden_fn = jax.jit(hidden_fn)

    @classmethod
    def load(cls, path=None) -> Emulator:
        """Load a model directory; ``None`` loads the pretrained default shipped in jaxjam.

        Raises
        ------
        FileNotFoundError
            If ``path`` is None and no pretrained model is installed.
        jaxjam.emulator.checkpoint.CheckpointError
            For a missing, corrupt or incompatible model directory.
        """
        if path is None:
            path = default_model_dir()
            if not (path / "metadata.json").is_file():
                raise FileNotFoundError(
                    f"no pretrained model is installed at {path}; pass the path of a trained "
                    "model directory (RUN_DIR/model from `jaxjam train`)"
                )
        model, norm, meta = load_model(path)
        emulator = cls(model, norm, meta)
        emulator.path = Path(path).absolute()
        return emulator

    @property
    def state(self):
        """The network's ``nnx.split`` state (a pytree of arrays): the argument of the pure
        functions :attr:`features_fn`, :attr:`maps_fn`, :attr:`hidden_fn` and :attr:`bins_fn`."""
        return self._state

    def with_state(self, state) -> Emulator:
        """The same emulator with other weights (e.g. a refined head:
        :func:`jaxjam.emulator.network.
        with_head`); the original is unchanged, and programs compiled for it are not reused.

        Parameters
        ----------
        state : nnx.State
            A state of the same structure as :attr:`state`.
        """
        shapes = jax.tree.map(jnp.shape, self._state)
        if jax.tree.map(jnp.shape, state) != shapes:
            raise ValueError("with_state needs a state of the same structure and shapes as "
                             "Emulator.state")  # fmt: skip
        new = copy.copy(self)
        new._state = state
        return new

    @property
    def error_model(self) -> dict | None:
        """Measured structure of the emulator's error (:mod:`jaxjam.emulator.error_model`), or
        None."""
        return self.metadata.get("test_metrics", {}).get("error_model")

    @property
    def relative_error(self) -> float | None:
        """Typical fractional Vrms error (68th percentile on the held-out test set), or None."""
        return self.metadata.get("test_metrics", {}).get("no_bh", {}).get("p68")

    # ------------------------------------------------------------------ checks
    def check_mge(self, mge: MGE, extrapolate: bool = False) -> None:
        """Raise :class:`DomainError` if the photometry lies outside the trained domain."""
        self._report(self._mge_problems(mge), extrapolate)

    def _mge_problems(self, mge: MGE) -> list[str]:
        qlo, qhi = self.domain.get("qobs_min", (0.0, 1.0))
        if not qlo <= mge.qobs_min <= qhi:
            return [f"q'min = {mge.qobs_min:.3g} outside the trained range [{qlo}, {qhi}]"]
        return []

    @property
    def mbh_fraction_max(self) -> float:
        """Largest M_BH/(Υ L_tot) of the trained domain (the stars' mass Υ L_tot)."""
        return float(self.domain.get("mbh_fraction_max", BH_FRACTION_MAX))

    def check_mbh(self, mge: MGE, distance_mpc, ml, mbh_msun, extrapolate: bool = False) -> None:
        """Raise :class:`DomainError` if M_BH exceeds the trained range relative to the stars.

        The black hole's map is learned and measured up to M_BH/(Υ L_tot) =
        :attr:`mbh_fraction_max`; beyond it the emulator's error is unmeasured and grows with
        M_BH. :meth:`predict_vrms` does not call this (fits sample wider priors, and their
        certificate checks the result against jampy); ``jaxjam predict`` does.

        Parameters
        ----------
        mge : MGE
        distance_mpc : float
            Distance, Mpc (it sets L_tot).
        ml : float
            Mass-to-light ratio Υ, Msun/Lsun.
        mbh_msun : float
            Black-hole mass, Msun.
        extrapolate : bool
            Warn instead of raising.
        """
        ml, mbh, dist = float(ml), float(mbh_msun), float(distance_mpc)
        if not all(np.isfinite(v) and v > 0 for v in (ml, mbh, dist)):
            return  # predict_vrms refuses bad values; no black hole is always in range
        stars = ml * float(mge.luminosity_lsun(dist))
        fmax = self.mbh_fraction_max
        if mbh > fmax * stars:
            self._report([f"M_BH = {mbh:.3g} Msun is {mbh / stars:.3g} times the stars' mass "
                          f"(M/L × L_tot = {stars:.3g} Msun), beyond the trained range of "
                          f"{fmax:g} times it (M_BH <= {fmax * stars:.3g} Msun)"],
                         extrapolate)  # fmt: skip

    def _check(self, mge: MGE, q_int, ratio, extrapolate: bool) -> None:
        check_q_int(q_int, mge.qobs_min)  # the MGE's inclination limit: always an error
        if not np.all(np.isfinite(ratio)):
            raise ArgumentError(f"{{ratio}} must be finite, got {ratio}")
        problems = []
        lo, hi = self.domain.get("ratio", RATIO_RANGE)
        if np.any(np.asarray(ratio) < lo) or np.any(np.asarray(ratio) > hi):
            problems.append(f"ratio = {ratio} outside the trained range [{lo}, {hi}]")
        self._report(problems + self._mge_problems(mge), extrapolate)

    @staticmethod
    def _report(problems: list[str], extrapolate: bool) -> None:
        if problems:
            msg = "; ".join(problems)
            if not extrapolate:
                raise DomainError(
                    literal(msg) + ". {extrapolate_hint}.",
                    extrapolate_hint="Pass extrapolate=True to evaluate anyway",
                )
            warnings.warn(f"extrapolating the emulator: {msg}", stacklevel=3)

    # ------------------------------------------------------------------ evaluation
    def features(self, mge: MGE):
        """CNN features of a galaxy's photometry (compute once per galaxy), shape (n_features,)."""
        image = render_photometry(mge, self.image_spec)
        return self.features_from_image(image)

    def features_from_image(self, image):
        """CNN features from a rendered photometry image, shape (64, 64) → (n_features,)."""
        image = np.asarray(image, np.float32)
        if image.shape != self.image_spec.shape:
            raise ValueError(f"photometry image must have shape {self.image_spec.shape}, "
                             f"got {image.shape}")  # fmt: skip
        if not np.all(np.isfinite(image)):
            raise ValueError("photometry image contains NaN or infinite values")
        return self.features_fn(self._state, jnp.asarray(image))

    def component_maps(self, mge: MGE, q_int, ratio, extrapolate: bool = False):
        """Emulated component maps and p_physical on the model grid.

        Returns
        -------
        maps : ndarray, shape (n_components, n_r, n_theta)
            Dimensionless V² per unit of each component's scaling (units of G L_tot/R_e), in
            the order of :attr:`components`: A per unit M/L, B per unit M_BH/L_tot.
        p_physical : float
            Emulated probability that JAM has a physical solution (V² > 0 everywhere).
        """
        self._check(mge, q_int, ratio, extrapolate)
        maps, p = self.maps_fn(self._state, self.features(mge), q_int, ratio, mge.qobs_min)
        return np.asarray(maps), float(p)

    def predict_vrms(self, mge: MGE, distance_mpc, q_int, ratio, ml, mbh_msun, x_arcsec,
                     y_arcsec, pa_deg=0.0, psf=None, step_arcsec=None,
                     extrapolate: bool = False, **parameters):  # fmt: skip
        """Model Vrms (km/s) at bins, with or without PSF and pixel convolution.

        Parameters
        ----------
        mge : MGE
            Photometry (Lsun/pc², arcsec).
        distance_mpc : float
            Distance, Mpc.
        q_int, ratio : float
            JAM parameters.
        ml : float
            Mass-to-light ratio Υ, Msun/Lsun.
        mbh_msun : float
            Black-hole mass, Msun.
        x_arcsec, y_arcsec : array_like, shape (n_bins,)
            Bin positions, arcsec.
        pa_deg : float
            Position angle of the projected major axis (see
            :func:`jaxjam.core.physics.bins_to_model_frame`).
        psf : jaxjam.core.psf.PSF, optional
            PSF and pixel size; None for the PSF-free model.
        step_arcsec : float, optional
            Cartesian step of the convolution, > 0 (default ``min(sigma_psf)/4``, as jampy).
        extrapolate : bool
            Evaluate outside the trained domain with a warning instead of an error. M_BH is
            not checked against the domain here: see :meth:`check_mbh`.
        **parameters
            The log10 parameters of any further components (:attr:`components`), by name.

        Returns
        -------
        ndarray, shape (n_bins,)
            V_rms in km/s.

        Raises
        ------
        DomainError
            Outside the trained domain, or where JAM has no physical solution.
        """
        from jaxjam.core.forward import apply_operator, bin_operator

        if not (np.isfinite(ml) and ml > 0):
            raise ArgumentError(f"{{ml}} must be finite and > 0, got {ml}")
        if not (np.isfinite(mbh_msun) and mbh_msun >= 0):
            raise ArgumentError(
                f"{{mbh_msun}} must be finite and >= 0 (0: no black hole), got {mbh_msun}"
            )
        names = comps.parameter_names(self.components)
        given = {"log10_ml": np.log10(ml), "log10_mbh": np.log10(mbh_msun) if mbh_msun > 0
                 else -np.inf, **parameters}  # fmt: skip
        unknown = set(given) - set(names)
        missing = set(names[2:]) - set(given)
        if unknown or missing:
            raise ValueError(f"this emulator's component parameters are {names[2:]}: "
                             f"{sorted(missing)} missing, {sorted(unknown)} unknown")  # fmt: skip
        maps, p = self.component_maps(mge, q_int, ratio, extrapolate)
        op = bin_operator(self.grid, mge, distance_mpc, x_arcsec, y_arcsec, psf, pa_deg,
                          step_arcsec, self.components)  # fmt: skip
        theta = np.array([q_int, ratio] + [given[n] for n in names[2:]], float)
        scalings = comps.scalings(self.components, theta, op.lum_lsun)
        v2 = np.asarray(apply_operator(op, jnp.asarray(maps), jnp.asarray(scalings)))
        if np.any(v2 <= 0):
            raise DomainError(
                f"JAM has no physical solution at {int(np.sum(v2 <= 0))} of the {v2.size} bins "
                f"(min V² = {v2.min():.3g} km²/s²): q_int = {q_int}, ratio = {ratio}"
            )
        if p < 0.5:
            warnings.warn(
                f"V² > 0 at every bin, but the emulator says JAM is unphysical somewhere on its "
                f"grid out to {self.grid.r_max_re:g} R_e (P(physical) = {p:.2f}): beyond the "
                "bins, not where the data are",
                PhysicalityWarning,
                stacklevel=2,
            )
        return np.sqrt(v2)
