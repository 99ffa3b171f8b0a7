"""Fit galaxies: a pilot to find the posterior, then rounds of refinement near it, sampling
and a certificate against converged jampy; returns ArviZ DataTrees.

>>> from jaxjam.inference import Galaxy, FitConfig, fit         # doctest: +SKIP
>>> result = fit(Galaxy(mge, kin, distance_mpc=0.7, psf=psf), FitConfig(seed=1))  # doctest: +SKIP
>>> result.summary                                             # doctest: +SKIP

:func:`fit_many` fits many galaxies in one batched program (bins padded and masked to a common
count), the survey use case. The jobs are in :mod:`~jaxjam.inference.problem` (building and
refining the problem), :mod:`~jaxjam.inference.running` (compiling and sampling) and
:mod:`~jaxjam.inference.results` (checking the draws and assembling the DataTree).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time

import jax
import numpy as np

from jaxjam.core.forward import reached_nodes
from jaxjam.core.kinematics import MAX_BINS, check_n_bins
from jaxjam.emulator.emulator import Emulator
from jaxjam.emulator.table import RANK_BLOCK
from jaxjam.inference.certify import certify, verdict
from jaxjam.inference.config import FitConfig, Galaxy
from jaxjam.inference.pool import jampy_pool
from jaxjam.inference.problem import (
    build_problem,
    galaxy_operator,
    pilot_problem,
    posterior_problem,
    refine_problem,
    say,
    tabulate_problem,
    without_model_error,
)
from jaxjam.inference.refine import TooFewPhysicalMapsError
from jaxjam.inference.results import TABLE_DLOGL_MAX, FitResult, fit_result
from jaxjam.inference.running import execute, loglik_fn, plane_loglik_fn, sample_batch

__all__ = [
    "TABLE_DLOGL_MAX",
    "FitConfig",
    "FitResult",
    "Galaxy",
    "build_problem",
    "fit",
    "fit_many",
    "refine_problem",
    "tabulate_problem",
]


def fit(
    galaxy: Galaxy,
    config: FitConfig = FitConfig(),
    emulator: Emulator | None = None,
    progress: bool = True,
    warn: bool = True,
    client=None,
    max_bins: int | None = MAX_BINS,
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
    max_bins : int or None
        The most kinematic bins accepted (default :data:`jaxjam.core.kinematics.MAX_BINS`, where a
        fit's setup takes minutes and GBs; ``None``: no limit). Checked first.

    Returns
    -------
    FitResult

    Raises
    ------
    ValueError
        For more bins than ``max_bins`` (:func:`jaxjam.core.kinematics.check_n_bins`), and for
        bins, photometry or prior bounds outside the emulator's domain.
    """
    check_n_bins(galaxy.kinematics.vrms_kms.size, max_bins)
    emulator = emulator or Emulator.load()
    _check_certifiable(emulator, config)
    t_start = t0 = time.perf_counter()
    operator = galaxy_operator(emulator, galaxy, config)
    base = build_problem(emulator, galaxy, config, operator)
    nodes = reached_nodes(operator, emulator.grid)
    cc = config.certify
    timing = {"setup_s": time.perf_counter() - t0, "refine_s": 0.0, "compile_s": 0.0,
              "sample_s": 0.0, "certify_s": 0.0, "post_s": 0.0}  # fmt: skip
    workers = cc.workers if (cc.enabled or config.refine_maps) else 0
    with jampy_pool(workers, client) as pool:
        problem, refinement, theta, trace, maps = base, None, None, None, []
        n_rounds = cc.max_rounds if cc.enabled else 1
        stages = (["pilot"] if config.refine_maps else []) + list(range(n_rounds))
        history, cert, min_rank, kept = [], None, 0, []
        for rnd in stages:
            t0 = time.perf_counter()
            if rnd == "pilot":  # cheap maps over the prior box: where is the posterior?
                problem, refinement = pilot_problem(pool, emulator, galaxy, base, operator, nodes,
                                                    config, progress)  # fmt: skip
            elif config.refine_maps:  # converged maps spread over the last posterior
                try:
                    problem, refinement, maps = posterior_problem(
                        pool, emulator, galaxy, base, operator, nodes, config, theta, maps,
                        config.seed * 1000 + rnd, progress)  # fmt: skip
                except TooFewPhysicalMapsError as exc:
                    # near JAM's physical edge the maps may be unphysical at some node the bins
                    # reach: keep the last refinement, and let the certificate judge
                    kept.append(f"round {rnd + 1} kept the previous refinement: {exc}")
                    say(progress, kept[-1])
            timing["refine_s"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            problem, table = tabulate_problem(emulator, problem, config, progress, min_rank)
            if table:  # later rounds pad to this rank (a few spare vectors cost ~nothing)
                min_rank = max(min_rank, table["padded_rank"])
            timing["setup_s"] += time.perf_counter() - t0
            name = "pilot" if rnd == "pilot" else f"round {rnd + 1}"
            key = jax.random.fold_in(jax.random.key(config.seed), 1000 if rnd == "pilot" else rnd)
            say(progress, f"{name}: compiling the NUTS pipeline ...")
            (theta, trace), t_compile, t_sample = execute(emulator, config.nuts, False, progress,
                                                          key, problem)  # fmt: skip
            timing["compile_s"] += t_compile
            timing["sample_s"] += t_sample
            if rnd == "pilot" or not cc.enabled:
                continue
            t0 = time.perf_counter()
            cert = certify(galaxy, np.asarray(theta), plane_loglik_fn(emulator, problem),
                           loglik_fn(emulator, without_model_error(problem)), pool, cc,
                           seed=config.seed * 1000 + rnd, bounds=np.asarray(problem.bounds),
                           progress=progress)  # fmt: skip
            timing["certify_s"] += time.perf_counter() - t0
            kept_keys = ("certified", "k_hat", "ess", "max_abs_dlogl", "n_unphysical", "seconds",
                         "seconds_jampy")  # fmt: skip
            history.append({k: cert[k] for k in kept_keys})
            history[-1]["n_missed"] = (cert.get("overdispersed") or {}).get("n_missed")
            cert["rounds"] = rnd + 1
            say(progress, f"{name}: " + verdict(cert))
            if cert["certified"] or not config.refine_maps:  # nothing to refine: stop
                break
    if cert is not None:
        cert["history"] = history
    t0 = time.perf_counter()
    result = fit_result(emulator, galaxy, config, problem, refinement, table, theta, trace, warn,
                        cert)  # fmt: skip
    result.problems.extend(kept)
    timing["post_s"] = time.perf_counter() - t0
    # the wall clock, so it includes what no stage counts (starting the jampy processes)
    timing["total_s"] = time.perf_counter() - t_start
    say(progress, f"done in {timing['total_s']:.1f} s ({timing['sample_s']:.1f} s sampling, "
                  f"{timing['refine_s'] + timing['certify_s']:.1f} s jampy)")  # fmt: skip
    return result._replace(timing=timing)


def fit_many(
    galaxies: list[Galaxy],
    config: FitConfig = FitConfig(),
    emulator: Emulator | None = None,
    progress: bool = True,
    galaxies_per_step: int | None = None,
    client=None,
    max_bins: int | None = MAX_BINS,
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
    max_bins : int or None
        The most kinematic bins of any galaxy (as for :func:`fit`).

    Returns
    -------
    list of FitResult
        In input order; ``timing`` holds the batch's totals.

    Notes
    -----
    Every galaxy is certified (:mod:`jaxjam.inference.certify`); one that is not is refitted
    alone with :func:`fit`'s rounds (its seed ``seed · 1000 + i``).
    """
    for i, g in enumerate(galaxies):
        try:
            check_n_bins(g.kinematics.vrms_kms.size, max_bins)
        except ValueError as exc:
            raise ValueError(f"galaxy {i}: {exc}") from exc
    emulator = emulator or Emulator.load()
    _check_certifiable(emulator, config)
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
        min_rank = 0
        if config.refine_maps:  # the pilot: maps over the box, one batched sampling
            probs = [pilot_problem(pool, emulator, g, p, op, nodes, config, progress)[0]
                     for g, (p, op, nodes) in zip(galaxies, setups, strict=True)]  # fmt: skip
            # one more block of table rank than the pilot needs: the refined tables of the
            # next batch often need 32 more (measured on M32's halves: 64 → 96), and a batch
            # recompiles for ~25 s where a wider table costs a fraction of its sampling
            padded, _, theta, _, _ = sample_batch(emulator, config, probs, progress,
                                                  galaxies_per_step, 1000,
                                                  headroom=RANK_BLOCK)  # fmt: skip
            min_rank = padded[0].table.coef.shape[2] if config.table_nodes else 0
            for i, (g, (p, op, nodes)) in enumerate(zip(galaxies, setups, strict=True)):
                try:
                    probs[i], refinements[i], _ = posterior_problem(
                        pool, emulator, g, p, op, nodes, config, np.asarray(theta[i]), [],
                        config.seed * 1000, progress)  # fmt: skip
                except TooFewPhysicalMapsError as exc:  # keep the pilot's refinement
                    say(progress, f"galaxy {i}: kept the pilot's refinement: {exc}")
        return _fit_batch(emulator, galaxies, config, probs, refinements, pool, progress,
                          galaxies_per_step, t0, min_rank, max_bins)  # fmt: skip


def _check_certifiable(emulator: Emulator, config: FitConfig) -> None:
    """The certificate runs jampy at the bins, which knows the stars and a black hole only."""
    extra = [c.name for c in emulator.components if c.name not in ("stars", "black_hole")]
    if config.certify.enabled and extra:
        raise ValueError(f"the certificate cannot run jampy with the component(s) {extra} yet; "
                         "fit with certify=CertifyConfig(enabled=False) (giving up the "
                         "guarantee)")  # fmt: skip


def _fit_batch(emulator, galaxies, config, probs, refinements, pool, progress,
               galaxies_per_step, t0, min_rank: int = 0,
               max_bins: int | None = MAX_BINS) -> list[FitResult]:  # fmt: skip
    """:func:`fit_many` once its problems are refined: pad, tabulate, sample, certify."""
    cc = config.certify
    padded, tables, theta, trace, timing = sample_batch(emulator, config, probs, progress,
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
            cert = certify(g, np.asarray(theta[i]), plane_loglik_fn(emulator, p),
                           loglik_fn(emulator, without_model_error(p)), pool, cc,
                           seed=config.seed * 1000 + i, bounds=np.asarray(p.bounds),
                           progress=progress)  # fmt: skip
            cert["rounds"] = 1
            say(progress, f"galaxy {i}: " + verdict(cert))
        if cert is not None and not cert["certified"] and cc.max_rounds > 1:
            # refine near this galaxy's posterior and refit it alone (fit's own rounds)
            single = dataclasses.replace(config, seed=config.seed * 1000 + i)
            res = fit(
                g, single, emulator, progress, warn=False, client=pool.client, max_bins=max_bins
            )
            results.append(res._replace(timing=timing))
            continue
        res = fit_result(emulator, g, config, p, ref, table, theta[i], tr, False, cert,
                      batch_index=i)  # fmt: skip
        results.append(res._replace(timing=timing))
    return results
