"""Fit galaxies: build the fixed problem once, run NUTS, return an ArviZ DataTree.

>>> from jaxjam.inference import Galaxy, FitConfig, fit         # doctest: +SKIP
>>> result = fit(Galaxy(mge, kin, distance_mpc=0.7, psf=psf), FitConfig(seed=1))  # doctest: +SKIP
>>> result.summary                                             # doctest: +SKIP

:func:`fit_many` vmaps the whole fit over galaxies (bins padded and masked to a common count),
the survey use case.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxjam.emulator import Emulator
from jaxjam.error_model import N_MODES, bin_modes, select
from jaxjam.forward import BinOperator, bin_operator, reached_nodes
from jaxjam.fused import fold_b_head, split_head
from jaxjam.inference.certify import CertifyConfig, certify, verdict, with_certificate
from jaxjam.inference.diagnostics import (
    ConvergenceWarning,
    check_convergence,
    summarize,
    to_datatree,
)
from jaxjam.inference.likelihood import (
    Problem,
    log_likelihood,
    log_likelihood_of_model,
    log_posterior,
    model_vrms,
)
from jaxjam.inference.nuts import NUTSConfig, initial_positions, laplace_start, sample_chains
from jaxjam.inference.pool import jampy_pool
from jaxjam.inference.priors import PARAM_NAMES, PriorBounds, to_constrained
from jaxjam.inference.refine import design_points, jampy_maps, refine_head, spread_draws
from jaxjam.kinematics import Kinematics
from jaxjam.mge import MGE
from jaxjam.network import head_of
from jaxjam.physics import InnerPoints, bins_polar, bins_to_model_frame
from jaxjam.psf import PSF
from jaxjam.reference import CONVERGED, LABELS, JampySettings
from jaxjam.table import pad_rank, table_error, table_rank, tabulate

__all__ = [
    "FitConfig",
    "FitResult",
    "Galaxy",
    "build_problem",
    "fit",
    "fit_many",
    "refine_problem",
    "tabulate_problem",
]

#: Largest |Δ log-likelihood| between the table and the network at the posterior draws that
#: passes without a warning.
TABLE_DLOGL_MAX = 0.05


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
        (:mod:`jaxjam.error_model`: smooth correlated modes plus an independent per-bin part).
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
        jampy settings of the rounds' maps (default :data:`jaxjam.reference.CONVERGED`,
        3–4 s a map).
    pilot_settings : JampySettings
        jampy settings of the pilot's maps (default :data:`jaxjam.reference.LABELS`, the
        training labels' settings: 0.5 s a map, 0.1–0.4% off at the bins, enough to locate the
        posterior).
    certify : CertifyConfig
        The certificate against converged jampy at posterior draws
        (:mod:`jaxjam.inference.certify`) and its rounds of refinement near the posterior.
    table_nodes : (int, int) or None
        Chebyshev nodes in ψ(q_int) and in ratio of the table that replaces the network during
        sampling (:mod:`jaxjam.table`: built once per fit from the exact network, about 0.1 s;
        a step then costs ~1/3 of the network's). Its error is measured at random points when
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
            raise ValueError(f"refine_maps must be 0 or ≥ 3, got {self.refine_maps}")
        if self.table_nodes is not None:
            nodes = tuple(int(n) for n in self.table_nodes)
            if len(nodes) != 2 or min(nodes) < 4:
                raise ValueError(f"table_nodes must be None or two counts ≥ 4, got "
                                 f"{self.table_nodes}")  # fmt: skip
            object.__setattr__(self, "table_nodes", nodes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class FitResult(NamedTuple):
    """Outcome of a fit: the DataTree, its summary, problems found, timings (s)."""

    datatree: object
    summary: object
    problems: list
    timing: dict
    certificate: dict | None = None

    @property
    def certified(self) -> bool:
        """Whether converged jampy at posterior draws agreed (:mod:`jaxjam.inference.certify`)."""
        return bool(self.certificate and self.certificate["certified"])

    def median(self) -> dict:
        """Posterior medians of the parameters."""
        post = self.datatree["posterior"]
        return {k: float(np.median(post[k].values)) for k in PARAM_NAMES}


def galaxy_operator(emulator: Emulator, galaxy: Galaxy, config: FitConfig) -> BinOperator:
    """The exact forward operator of a galaxy's bins (float64 NumPy arrays)."""
    kin = galaxy.kinematics
    return bin_operator(emulator.grid, galaxy.mge, galaxy.distance_mpc, kin.x_arcsec,
                        kin.y_arcsec, galaxy.psf, galaxy.pa_deg, config.step_arcsec)  # fmt: skip


def build_problem(emulator: Emulator, galaxy: Galaxy, config: FitConfig,
                  operator: BinOperator | None = None) -> Problem:  # fmt: skip
    """Everything fixed in a fit: CNN features, forward operator, data and prior bounds.

    Raises
    ------
    ValueError, jaxjam.emulator.DomainError
        For bins outside the emulator's grid, photometry outside its domain, or prior bounds
        outside the emulator's domain or the MGE's inclination limit.
    """
    emulator.check_mge(galaxy.mge)
    bounds = config.bounds.resolve(galaxy.mge.qobs_min, emulator.domain)
    kin = galaxy.kinematics
    op = operator if operator is not None else galaxy_operator(emulator, galaxy, config)
    frac, modes = _model_error(emulator, galaxy, config.model_error)
    f32 = jnp.float32
    return Problem(
        features=jnp.asarray(emulator.features(galaxy.mge)),
        qobs_min=f32(galaxy.mge.qobs_min),
        operator=jax.tree.map(lambda a: jnp.asarray(a, f32), op),
        folded_b=fold_b_head(emulator.normalization, op, *head_of(emulator._state)),
        vrms_kms=jnp.asarray(kin.vrms_kms, f32),
        vrms_err_kms=jnp.asarray(kin.vrms_err_kms, f32),
        mask=jnp.ones(kin.vrms_kms.size, f32),
        bounds=jnp.asarray(bounds, f32),
        model_error_frac=f32(frac),
        error_modes=jnp.asarray(modes, f32),
    )


def refine_problem(emulator: Emulator, galaxy: Galaxy, problem: Problem, maps: list,
                   operator: BinOperator, nodes, bh_fraction: float, config: FitConfig,
                   progress: bool = False, n_local: int | None = None,
                   ) -> tuple[Problem, dict | None]:  # fmt: skip
    """Swap in a head refined on the jampy ``maps`` of this galaxy
    (:func:`jaxjam.inference.refine.refine_head`), and make the likelihood's model-error term
    the refined model's leave-one-out error measured at the bins through the PSF. Returns the
    problem and what was measured (``None`` without maps)."""
    if not maps:
        return problem, None
    t0 = time.perf_counter()
    basis = _unit_modes(emulator, galaxy)
    ref = refine_head(emulator, galaxy.mge, maps, operator, nodes, basis, bh_fraction, n_local)
    info = {**ref.info(), "seconds": time.perf_counter() - t0}
    b = ref.bins
    _say(progress, f"refined the emulator on {len(ref.design)} jampy maps: log A error "
                   f"{ref.raw_rms_log_a:.2%} → {ref.loo_rms_log_a:.2%} (leave-one-out); "
                   f"at the bins {b['median']:.2%} median, {b['p95']:.2%} p95 (through the "
                   "PSF)")  # fmt: skip
    on = config.model_error
    f32 = jnp.float32
    problem = problem._replace(
        head=split_head(ref.kernel, ref.bias),
        folded_b=fold_b_head(emulator.normalization, problem.operator, ref.kernel, ref.bias),
        model_error_frac=f32(b["residual_std"] if on else 0.0),
        error_modes=jnp.asarray(basis * np.asarray(b["mode_std"]) * on, f32),
    )  # fmt: skip
    return problem, info


def _unit_modes(emulator: Emulator, galaxy: Galaxy) -> np.ndarray:
    """The six error modes of :mod:`jaxjam.error_model` at the bins, unit amplitudes."""
    k = galaxy.kinematics
    x, y = bins_to_model_frame(k.x_arcsec, k.y_arcsec, galaxy.pa_deg)
    r_re, theta = bins_polar(x, y, galaxy.mge.effective_radius_arcsec())
    return bin_modes(r_re, theta, emulator.grid, np.ones(N_MODES))


def tabulate_problem(emulator: Emulator, problem: Problem, config: FitConfig,
                     progress: bool = False,
                     min_rank: int = 0) -> tuple[Problem, dict | None]:  # fmt: skip
    """Tabulate the problem's fused network on its prior box (:func:`jaxjam.table.tabulate`)
    with ``config.table_nodes``, and measure the table's error at 64 random points (seeded by
    ``config.seed``). Returns the problem with its table, padded with zero singular vectors
    (exact) to at least ``min_rank`` (so that the rounds of a fit share one compiled program),
    and what was measured (``None`` without a table)."""
    if config.table_nodes is None:
        return problem, None
    t0 = time.perf_counter()
    values = _exact_values(emulator, problem)
    bounds = np.asarray(problem.bounds, np.float64)
    qmin = float(problem.qobs_min)
    q_box, r_box = tuple(bounds[0]), tuple(bounds[1])
    table = tabulate(values, qmin, q_box, r_box, config.table_nodes)
    info = {"nodes": list(config.table_nodes), "rank": table_rank(table),
            **table_error(table, values, q_box, r_box, seed=config.seed),
            "seconds": time.perf_counter() - t0}  # fmt: skip
    _say(progress, f"tabulated the emulator on {np.prod(config.table_nodes)} nodes in "
                   f"{info['seconds']:.2f} s: max error {info['max_rel_error_a']:.1e} (a), "
                   f"{info['max_rel_error_b']:.1e} (b)")  # fmt: skip
    table = pad_rank(table, max(min_rank, table.coef.shape[2]))
    info["padded_rank"] = int(table.coef.shape[2])
    return problem._replace(table=table), info


def _exact_values(emulator: Emulator, problem: Problem, chunk: int = 256):
    """``values(q_int, ratio) → (m, 2 n_bins + 1)``: the fused network's (a | b | logit),
    evaluated ``chunk`` points at a time (one compiled shape for any m)."""
    p = problem

    def values(q_int, ratio):
        x = np.stack([np.asarray(q_int, np.float32), np.asarray(ratio, np.float32)], 1)
        m = len(x)
        x = np.concatenate([x, np.repeat(x[-1:], -m % chunk, 0)])  # pad with the last point
        out = []
        for c in np.split(x, len(x) // chunk):
            a, b, logit = emulator.bins_batch_fn(emulator._state, p.head, p.folded_b, p.operator,
                                                 p.features, p.qobs_min, jnp.asarray(c[:, 0]),
                                                 jnp.asarray(c[:, 1]))  # fmt: skip
            out.append(np.column_stack([np.asarray(a), np.asarray(b), np.asarray(logit)]))
        return np.concatenate(out)[:m]

    return values


def _model_error(emulator: Emulator, galaxy: Galaxy, on: bool) -> tuple[float, np.ndarray]:
    """Independent fraction and correlated modes (n_bins, 6) of the emulator's error."""
    n = galaxy.kinematics.vrms_kms.size
    if not on:
        return 0.0, np.zeros((n, N_MODES))
    em = emulator.error_model
    if em is None:
        if emulator.relative_error is None:
            raise ValueError(
                "this model has no test metrics for its own error; run `jaxjam evaluate` on it "
                "or fit with model_error=False"
            )
        warnings.warn("this model's correlated error was never measured (run `jaxjam "
                      "evaluate` on it); using its p68 error as independent per-bin noise",
                      stacklevel=3)  # fmt: skip
        return emulator.relative_error, np.zeros((n, N_MODES))
    k = galaxy.kinematics
    x, y = bins_to_model_frame(k.x_arcsec, k.y_arcsec, galaxy.pa_deg)
    r_re, theta = bins_polar(x, y, galaxy.mge.effective_radius_arcsec())
    mode_std, residual_std = select(em, r_re, emulator.grid)
    return residual_std, bin_modes(r_re, theta, emulator.grid, mode_std)


def _pipeline(bins_fn, nuts: NUTSConfig):
    """The whole fit of one problem as a pure function (key, problem) → (θ draws, trace)."""

    def run(key, problem: Problem, state):
        def logdensity(u):
            return log_posterior(bins_fn, state, problem, u)

        k_init, k_lap, k_run = jax.random.split(key, 3)
        init, _ = initial_positions(logdensity, k_init, nuts.n_starts(), len(PARAM_NAMES),
                                    nuts.n_init_candidates)  # fmt: skip
        imm = None
        if nuts.n_map_steps > 0:
            init, imm = laplace_start(logdensity, k_lap, init, nuts)
        trace = sample_chains(logdensity, k_run, init, nuts, imm)
        theta = jax.vmap(jax.vmap(lambda u: to_constrained(u, problem.bounds)[0]))(trace.position)
        return theta, trace

    return run


def _at_draws(emulator: Emulator, problem: Problem, theta) -> tuple[np.ndarray, dict | None]:
    """The network's own Vrms at the draws, and how far the table's log-likelihood is from the
    network's there.

    Parameters
    ----------
    theta : array, shape (n_chains, n_samples, 4)

    Returns
    -------
    vrms_kms : ndarray, shape (n_chains, n_samples, n_bins)
        Posterior predictive Vrms of the network (not the table), km/s.
    check : dict or None
        With a table: ``max_abs_dlogl`` (largest |Δ log-likelihood|, table − network, over the
        draws where both are finite), ``n_physical_disagree`` (draws that one calls physical
        and the other not) and ``n_draws``.
    """
    fn = emulator.__dict__.get("_at_draws_fn")
    if fn is None:
        bins_fn = emulator.bins_fn

        def one(state, problem, t):  # the network evaluated once per draw
            v2, logit = model_vrms(bins_fn, state, problem._replace(table=None), t)
            if problem.table is None:
                return v2, jnp.zeros(2)
            lls = jnp.stack([log_likelihood(bins_fn, state, problem, t),
                             log_likelihood_of_model(problem, v2, logit)])  # fmt: skip
            return v2, lls

        fn = jax.jit(jax.vmap(jax.vmap(one, (None, None, 0)), (None, None, 0)))
        emulator.__dict__["_at_draws_fn"] = fn
    v2, lls = (np.asarray(a, np.float64) for a in fn(emulator._state, problem, theta))
    vrms = np.sqrt(np.clip(v2, 0.0, None))
    if problem.table is None:
        return vrms, None
    finite = np.isfinite(lls)
    both = finite.all(-1)
    dlogl = np.abs(lls[..., 0] - lls[..., 1])[both]
    return vrms, {
        "max_abs_dlogl": float(dlogl.max()) if dlogl.size else float("nan"),
        "n_physical_disagree": int((finite[..., 0] != finite[..., 1]).sum()),
        "n_draws": int(both.size),
    }


def _table_problems(check: dict | None, warn: bool) -> list[str]:
    """A warning when the table strays from the network at the posterior draws."""
    if check is None:
        return []
    problems = []
    if not check["max_abs_dlogl"] <= TABLE_DLOGL_MAX:
        problems.append(f"the table's log-likelihood differs from the network's by up to "
                        f"{check['max_abs_dlogl']:.3g} at the posterior draws (> "
                        f"{TABLE_DLOGL_MAX}): refit with more table_nodes, or None")  # fmt: skip
    if check["n_physical_disagree"]:
        problems.append(f"the table and the network disagree on physicality at "
                        f"{check['n_physical_disagree']} posterior draws")  # fmt: skip
    if warn:
        for p in problems:
            warnings.warn(p, ConvergenceWarning, stacklevel=3)
    return problems


def _batched(run, galaxies_per_step: int | None):
    """``run`` over a leading galaxy axis: all galaxies vmapped in lockstep (``None``), or
    ``galaxies_per_step`` at a time with :func:`jax.lax.map`."""
    if galaxies_per_step is None:
        return jax.vmap(run, in_axes=(0, 0, None))

    def mapped(keys, problems, state):
        return jax.lax.map(lambda kp: run(kp[0], kp[1], state), (keys, problems),
                           batch_size=galaxies_per_step)  # fmt: skip

    return mapped


def _compile(emulator: Emulator, nuts: NUTSConfig, batched, progress: bool, key, problem):
    """AOT-compile the pipeline once per (emulator, sampler settings, array shapes).

    The emulator's weights enter the program as constants, not arguments: XLA then lays out
    each weight matrix for its small matmuls once, at compile time, where an argument is
    re-packed at every step (measured: a 3-row 512² matmul in a while loop, 11.0 µs against
    17.5 µs). The compiled programs are cached on the emulator, so they live as long as it.

    ``batched`` is False for one galaxy, or ``(True, galaxies_per_step)`` (see
    :func:`_batched`). With ``progress``, BlackJAX's progress bar is traced into the program
    (its top-level scans: the optimiser, the warm-up and the sampling each show a bar).
    """
    cache = emulator.__dict__.setdefault("_compiled_fits", {})
    shapes = jax.tree.map(lambda a: (jnp.shape(a), jnp.result_type(a)), (key, problem))
    sig = (nuts, batched, progress, str(shapes))
    if sig not in cache:
        run = _pipeline(emulator.bins_fn, nuts)
        run = _batched(run, batched[1]) if batched else run
        state = emulator._state

        with warnings.catch_warnings():
            # tracing runs no scan step, which the progress bar reports on exit
            warnings.filterwarnings("ignore", message="blackjax.progress_bar: no scan step")
            with _progress(progress):
                cache[sig] = jax.jit(lambda k, p: run(k, p, state)).lower(key, problem).compile()
    return cache[sig]


def _execute(emulator: Emulator, nuts: NUTSConfig, batched, progress: bool, key, problem):
    """Compile (cached) and run the pipeline; return its outputs and both timings (s)."""
    t0 = time.perf_counter()
    compiled = _compile(emulator, nuts, batched, progress, key, problem)
    t_compile = time.perf_counter() - t0
    _say(progress, f"sampling: {nuts.n_chains} chains × ({nuts.n_warmup} warm-up + "
                   f"{nuts.n_samples} draws){' per galaxy' if batched else ''} ...")  # fmt: skip
    t0 = time.perf_counter()
    with _progress(progress):
        out = jax.block_until_ready(compiled(key, problem))
    return out, t_compile, time.perf_counter() - t0


def _progress(on: bool):
    import contextlib

    import blackjax

    return blackjax.progress_bar(label="NUTS") if on else contextlib.nullcontext()


def _attrs(emulator: Emulator, galaxy: Galaxy, config: FitConfig, problem: Problem,
           refinement: dict | None, table: dict | None) -> dict:  # fmt: skip
    import jampy

    import jaxjam

    return {
        "seed": config.seed,
        "fit_config": config.to_dict(),
        "distance_mpc": float(galaxy.distance_mpc),
        "pa_deg": float(galaxy.pa_deg),
        "psf": galaxy.psf.to_dict() if galaxy.psf else "none",
        "prior_bounds": np.asarray(problem.bounds).tolist(),
        "model_error_frac": float(problem.model_error_frac),
        "model_error_modes": json.dumps(emulator.error_model) if config.model_error else "none",
        "jampy_refinement": json.dumps(refinement) if refinement else "none",
        "table": json.dumps(table) if table else "none",
        "emulator_data_manifest_hash": str(emulator.metadata.get("data_manifest_hash")),
        "jaxjam_version": jaxjam.__version__,
        "jampy_version": jampy.__version__,
        "jax_version": jax.__version__,
        "jax_backend": jax.default_backend(),
        "chains_vectorized": int(config.nuts.vectorize_chains()),  # chain_method "auto" resolved
    }


def fit(
    galaxy: Galaxy,
    config: FitConfig = FitConfig(),
    emulator: Emulator | None = None,
    progress: bool = True,
    warn: bool = True,
    client=None,
) -> FitResult:
    """Fit one galaxy with NUTS, and certify the posterior against converged jampy.

    A pilot refines the network on cheap jampy maps over the prior box and samples, to find
    the posterior. Each round then adds converged jampy maps spread over the last posterior,
    refines on them, samples, and runs jampy at ``config.certify.n_draws`` posterior draws
    (:mod:`jaxjam.inference.certify`). A round that is not certified is followed by another,
    with maps over its own posterior; after ``config.certify.max_rounds`` the fit ends not
    certified, loudly. Every sampling reuses one compiled program.

    Parameters
    ----------
    galaxy : Galaxy
    config : FitConfig
    emulator : Emulator, optional
        Default: the pretrained model shipped with jaxjam.
    progress : bool
        Print what is happening (refinement, compilation, sampling, certificate) to stderr.
    warn : bool
        Emit :class:`~jaxjam.inference.diagnostics.ConvergenceWarning` for R-hat > 1.01, low
        ESS, divergences or a fit that is not certified.
    client : dask.distributed.Client, optional
        Where to run the jampy calls (default: a LocalCluster of ``config.certify.workers``
        processes for the fit's duration).

    Returns
    -------
    FitResult
    """
    emulator = emulator or Emulator.load()
    t_start = t0 = time.perf_counter()
    operator = galaxy_operator(emulator, galaxy, config)
    base = build_problem(emulator, galaxy, config, operator)
    nodes = reached_nodes(operator, emulator.grid)
    cc = config.certify
    timing = {"setup_s": time.perf_counter() - t0, "refine_s": 0.0, "compile_s": 0.0,
              "sample_s": 0.0, "certify_s": 0.0, "post_s": 0.0}  # fmt: skip
    workers = cc.workers if (cc.enabled or config.refine_maps) else 0
    with jampy_pool(workers, client) as pool:
        problem, refinement, theta, trace = base, None, None, None
        maps, n_local = [], None
        bh_fraction = _bh_fraction(np.mean(np.asarray(base.bounds), 1), operator)
        n_rounds = cc.max_rounds if cc.enabled else 1
        stages = (["pilot"] if config.refine_maps else []) + list(range(n_rounds))
        history, cert, min_rank = [], None, 0
        for rnd in stages:
            t0 = time.perf_counter()
            if rnd == "pilot":  # cheap maps over the prior box: where is the posterior?
                box = design_points(config.refine_maps, np.asarray(base.bounds), config.seed)
                pilot = jampy_maps(pool, galaxy, box, emulator.grid, nodes,
                                   config.pilot_settings, progress)  # fmt: skip
                timing["refine_s"] += time.perf_counter() - t0
                problem, refinement = refine_problem(emulator, galaxy, base, pilot, operator,
                                                     nodes, bh_fraction, config,
                                                     progress)  # fmt: skip
            elif config.refine_maps:  # converged maps spread over the last posterior
                near = spread_draws(theta, config.refine_maps, config.seed * 1000 + rnd)
                new = jampy_maps(pool, galaxy, near, emulator.grid, nodes,
                                 config.refine_settings, progress)  # fmt: skip
                maps, n_local = maps + new, (len(new) if maps else None)
                timing["refine_s"] += time.perf_counter() - t0
                bh_fraction = _bh_fraction(np.median(np.asarray(theta).reshape(-1, 4), 0),
                                           operator)  # fmt: skip
                problem, refinement = refine_problem(emulator, galaxy, base, maps, operator,
                                                     nodes, bh_fraction, config, progress,
                                                     n_local)  # fmt: skip
            t0 = time.perf_counter()
            problem, table = tabulate_problem(emulator, problem, config, progress, min_rank)
            if table:  # later rounds pad to this rank (a few spare vectors cost ~nothing)
                min_rank = max(min_rank, table["padded_rank"])
            timing["setup_s"] += time.perf_counter() - t0
            name = "pilot" if rnd == "pilot" else f"round {rnd + 1}"
            key = jax.random.fold_in(jax.random.key(config.seed), 1000 if rnd == "pilot" else rnd)
            _say(progress, f"{name}: compiling the NUTS pipeline ...")
            (theta, trace), t_compile, t_sample = _execute(emulator, config.nuts, False, progress,
                                                           key, problem)  # fmt: skip
            timing["compile_s"] += t_compile
            timing["sample_s"] += t_sample
            if rnd == "pilot" or not cc.enabled:
                continue
            t0 = time.perf_counter()
            cert = certify(galaxy, np.asarray(theta), _loglik_fn(emulator, problem),
                           _loglik_fn(emulator, _pure(problem)), pool, cc,
                           seed=config.seed * 1000 + rnd, progress=progress)  # fmt: skip
            timing["certify_s"] += time.perf_counter() - t0
            history.append({k: cert[k] for k in ("certified", "k_hat", "ess", "max_abs_dlogl",
                                                 "n_unphysical", "seconds")})  # fmt: skip
            cert["rounds"] = rnd + 1
            _say(progress, f"{name}: " + verdict(cert))
            if cert["certified"] or not config.refine_maps:  # nothing to refine: stop
                break
    if cert is not None:
        cert["history"] = history
    t0 = time.perf_counter()
    result = _result(emulator, galaxy, config, problem, refinement, table, theta, trace, warn,
                     cert)  # fmt: skip
    timing["post_s"] = time.perf_counter() - t0
    # the wall clock, so it includes what no stage counts (starting the jampy processes)
    timing["total_s"] = time.perf_counter() - t_start
    _say(progress, f"done in {timing['total_s']:.1f} s ({timing['sample_s']:.1f} s sampling, "
                   f"{timing['refine_s'] + timing['certify_s']:.1f} s jampy)")  # fmt: skip
    return result._replace(timing=timing)


def _bh_fraction(theta, operator: BinOperator) -> float:
    """M_BH/(Υ L_tot) of parameters θ (the black hole's weight in V² per unit M/L)."""
    return float(10.0 ** (theta[2] - theta[3]) / operator.lum_lsun)


def _pure(problem: Problem) -> Problem:
    """The problem's likelihood with the data errors alone (no model-error term)."""
    return problem._replace(model_error_frac=jnp.float32(0.0),
                            error_modes=jnp.zeros_like(problem.error_modes))  # fmt: skip


def _loglik_fn(emulator: Emulator, problem: Problem):
    """``θ (n, 4) → log-likelihood (n,)`` of the problem as NUTS sampled it (table or network)."""
    fn = emulator.__dict__.get("_loglik_batch")
    if fn is None:
        bins_fn = emulator.bins_fn
        fn = jax.jit(jax.vmap(lambda st, p, t: log_likelihood(bins_fn, st, p, t), (None, None, 0)))
        emulator.__dict__["_loglik_batch"] = fn
    return lambda theta: np.asarray(fn(emulator.state, problem, jnp.asarray(theta, jnp.float32)))


def _result(emulator: Emulator, galaxy: Galaxy, config: FitConfig, problem: Problem,
            refinement: dict | None, table: dict | None, theta, trace, warn: bool,
            cert: dict | None = None, **attrs) -> FitResult:  # fmt: skip
    """One galaxy's FitResult from its draws (a padded problem's extra bins cut off): the
    network's Vrms and the table's check at the draws, the DataTree, its summary and the
    problems found. ``timing`` is left empty; ``attrs`` are added to the DataTree's."""
    vrms, check = _at_draws(emulator, problem, theta)
    if table:
        table["at_draws"] = check
    kin = galaxy.kinematics
    attrs = {**_attrs(emulator, galaxy, config, problem, refinement, table), **attrs,
             "certificate": json.dumps(cert) if cert else "none",
             "certified": int(bool(cert and cert["certified"])),
             "verdict": verdict(cert)}  # fmt: skip
    dt = to_datatree(theta, trace, kin._asdict(), vrms[..., : kin.vrms_kms.size], attrs)
    summary = with_certificate(summarize(dt), cert)
    problems = check_convergence(summary, trace, warn=warn) + _table_problems(check, warn)
    if config.certify.enabled and not (cert and cert["certified"]):
        problems.append(verdict(cert))
        if warn:
            warnings.warn(verdict(cert), ConvergenceWarning, stacklevel=3)
    return FitResult(dt, summary, problems, {}, cert)


def _say(progress: bool, msg: str) -> None:
    if progress:
        import sys

        print(msg, file=sys.stderr, flush=True)


def _pad_problem(p: Problem, n_bins: int, n_in: int) -> Problem:
    op = p.operator
    nb, ni = op.w_a.shape[0], op.g_inner.shape[1]

    def rows(a, fill=0.0):
        return jnp.concatenate([a, jnp.full((n_bins - nb, *a.shape[1:]), fill, a.dtype)])

    g_inner = rows(op.g_inner)
    g_inner = jnp.concatenate([g_inner, jnp.zeros((n_bins, n_in - ni), g_inner.dtype)], axis=1)
    inner = InnerPoints(
        jnp.concatenate(
            [op.inner.theta_weights, jnp.zeros((n_in - ni, op.inner.theta_weights.shape[1]))]
        ),
        jnp.concatenate([op.inner.dlogr, jnp.zeros(n_in - ni)]),
        op.inner.slope_dlogr,
    )
    operator = BinOperator(rows(op.w_a), rows(op.w_b), g_inner, inner, op.unit_kms2, op.lum_lsun)
    fb = p.folded_b
    folded_b = fb._replace(kernel=rows(fb.kernel.T).T, bias=rows(fb.bias))
    return p._replace(
        operator=operator,
        folded_b=folded_b,
        error_modes=rows(p.error_modes),
        vrms_kms=rows(p.vrms_kms, 1.0),
        vrms_err_kms=rows(p.vrms_err_kms, 1.0),
        mask=rows(p.mask),
    )


def fit_many(
    galaxies: list[Galaxy],
    config: FitConfig = FitConfig(),
    emulator: Emulator | None = None,
    progress: bool = True,
    galaxies_per_step: int | None = None,
    client=None,
) -> list[FitResult]:
    """Fit many galaxies in one jit-compiled call (the survey use case).

    Bins are padded to the largest bin count and masked. Galaxy ``i`` uses the PRNG key
    ``fold_in(key(seed), i)``, whatever the batching.

    Parameters
    ----------
    galaxies : list of Galaxy
    config : FitConfig
    emulator : Emulator, optional
    progress : bool
    galaxies_per_step : int, optional
        ``None`` vmaps all galaxies: they step in lockstep, so every NUTS step costs the
        deepest tree of the batch (best on a GPU, which runs the batch in parallel). An
        integer runs that many at a time in sequence (``jax.lax.map``); on a CPU with few
        cores 1 avoids the lockstep cost.
    client : dask.distributed.Client, optional
        Where to run the jampy calls of refinement and certification.

    Every galaxy is certified (:mod:`jaxjam.inference.certify`); one that is not is refitted
    alone with :func:`fit`'s rounds (its seed ``seed · 1000 + i``).

    Returns
    -------
    list of FitResult
        In input order; ``timing`` holds the batch's totals.
    """
    emulator = emulator or Emulator.load()
    if not galaxies:
        raise ValueError("fit_many needs at least one galaxy")
    t0 = time.perf_counter()
    cc = config.certify
    workers = cc.workers if (cc.enabled or config.refine_maps) else 0
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(jampy_pool(workers, client))
        setups = []  # per galaxy: base problem, operator, reached nodes
        for g in galaxies:
            op = galaxy_operator(emulator, g, config)
            p = build_problem(emulator, g, config, op)
            setups.append((p, op, reached_nodes(op, emulator.grid)))
        probs = [p for p, _, _ in setups]
        refinements = [None] * len(galaxies)
        if config.refine_maps:  # the pilot: maps over the box, one batched sampling
            for i, (g, (p, op, nodes)) in enumerate(zip(galaxies, setups, strict=True)):
                box = design_points(config.refine_maps, np.asarray(p.bounds), config.seed)
                pilot = jampy_maps(pool, g, box, emulator.grid, nodes, config.pilot_settings,
                                   progress)  # fmt: skip
                bh = _bh_fraction(np.mean(np.asarray(p.bounds), 1), op)
                probs[i] = refine_problem(emulator, g, p, pilot, op, nodes, bh, config,
                                          progress)[0]  # fmt: skip
            padded, _, theta, _, _ = _sample_batch(emulator, config, probs, progress,
                                                   galaxies_per_step, 1000)  # fmt: skip
            min_rank = padded[0].table.coef.shape[2] if config.table_nodes else 0
            for i, (g, (p, op, nodes)) in enumerate(zip(galaxies, setups, strict=True)):
                th = np.asarray(theta[i])
                near = spread_draws(th, config.refine_maps, config.seed * 1000)
                maps = jampy_maps(pool, g, near, emulator.grid, nodes, config.refine_settings,
                                  progress)  # fmt: skip
                bh = _bh_fraction(np.median(th.reshape(-1, 4), 0), op)
                probs[i], refinements[i] = refine_problem(emulator, g, p, maps, op, nodes, bh,
                                                          config, progress)  # fmt: skip
        else:
            min_rank = 0
        return _fit_batch(emulator, galaxies, config, probs, refinements, pool, progress,
                          galaxies_per_step, t0, min_rank)  # fmt: skip


def _sample_batch(emulator, config, probs, progress, galaxies_per_step, fold: int = 0,
                  min_rank: int = 0):  # fmt: skip
    """Pad, tabulate and sample a batch of problems in one program; returns the padded
    problems, their tables' info, the draws θ (n_galaxies, n_chains, n_samples, 4), the
    trace and the timings. Galaxy ``i``'s key is ``fold_in(key(seed), fold + i)``; the
    tables are padded to at least ``min_rank`` (to reuse a compiled program)."""
    t0 = time.perf_counter()
    n_bins = max(p.operator.w_a.shape[0] for p in probs)
    n_in = max(p.operator.g_inner.shape[1] for p in probs)
    padded, tables = [], []
    for p in probs:  # tabulated after padding: the padded bins' rows are zero in the table too
        p, info = tabulate_problem(emulator, _pad_problem(p, n_bins, n_in), config, progress)
        padded.append(p)
        tables.append(info)
    if config.table_nodes is not None:  # one rank for all: the tables are stacked
        rank = max([min_rank] + [p.table.coef.shape[2] for p in padded])
        padded = [p._replace(table=pad_rank(p.table, rank)) for p in padded]
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *padded)
    t_setup = time.perf_counter() - t0
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(config.seed), i))(
        fold + jnp.arange(len(probs))
    )
    _say(progress, f"compiling the batched NUTS pipeline for {len(probs)} galaxies ...")
    if galaxies_per_step is not None and galaxies_per_step < 1:
        raise ValueError(f"galaxies_per_step must be None or ≥ 1, got {galaxies_per_step}")
    batching = (True, galaxies_per_step)
    (theta, trace), t_compile, t_sample = _execute(emulator, config.nuts, batching, progress,
                                                   keys, stacked)  # fmt: skip
    timing = {"setup_s": t_setup, "compile_s": t_compile, "sample_s": t_sample}
    return padded, tables, theta, trace, timing


def _fit_batch(emulator, galaxies, config, probs, refinements, pool, progress,
               galaxies_per_step, t0, min_rank: int = 0) -> list[FitResult]:  # fmt: skip
    """:func:`fit_many` once its problems are refined: pad, tabulate, sample, certify."""
    cc = config.certify
    padded, tables, theta, trace, timing = _sample_batch(emulator, config, probs, progress,
                                                         galaxies_per_step, 0,
                                                         min_rank)  # fmt: skip
    timing.update(setup_s=time.perf_counter() - t0 - timing["compile_s"] - timing["sample_s"],
                  n_galaxies=len(galaxies), galaxies_per_step=galaxies_per_step)  # fmt: skip
    results = []
    for i, (g, p, ref, table) in enumerate(zip(galaxies, padded, refinements, tables,
                                               strict=True)):  # fmt: skip
        tr = jax.tree.map(lambda a, i=i: a[i], trace)
        cert = None
        if cc.enabled:
            cert = certify(g, np.asarray(theta[i]), _loglik_fn(emulator, p),
                           _loglik_fn(emulator, _pure(p)), pool, cc,
                           seed=config.seed * 1000 + i, progress=progress)  # fmt: skip
            cert["rounds"] = 1
            _say(progress, f"galaxy {i}: " + verdict(cert))
        if cert is not None and not cert["certified"] and cc.max_rounds > 1:
            # refine near this galaxy's posterior and refit it alone (fit's own rounds)
            single = dataclasses.replace(config, seed=config.seed * 1000 + i)
            res = fit(g, single, emulator, progress, warn=False, client=pool.client)
            results.append(res._replace(timing=timing))
            continue
        res = _result(emulator, g, config, p, ref, table, theta[i], tr, False, cert,
                      batch_index=i)  # fmt: skip
        results.append(res._replace(timing=timing))
    return results
