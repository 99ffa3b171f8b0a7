"""Compile and run the NUTS pipeline of a fit: one galaxy, or a batch of galaxies in one
program. Compiled programs are kept per emulator (its weights are compile-time constants)."""

from __future__ import annotations

import time
import warnings
import weakref

import jax
import jax.numpy as jnp
import numpy as np

from jaxjam.emulator.emulator import Emulator
from jaxjam.emulator.table import pad_rank
from jaxjam.inference.likelihood import (
    Problem,
    bin_integrals,
    log_likelihood,
    log_likelihood_of_model,
    log_posterior,
    vrms2_of,
)
from jaxjam.inference.nuts import NUTSConfig, initial_positions, laplace_start, sample_chains
from jaxjam.inference.priors import to_constrained
from jaxjam.inference.problem import pad_problem, say, tabulate_problem

__all__ = ["execute", "loglik_fn", "plane_loglik_fn", "programs", "sample_batch"]

_PROGRAMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def programs(emulator: Emulator) -> dict:
    """The compiled programs of this module and :mod:`jaxjam.inference.results` for
    ``emulator``: they live as long as it does (a :meth:`~jaxjam.Emulator.with_state` copy
    has its own)."""
    return _PROGRAMS.setdefault(emulator, {})


def _pipeline(bins_fn, nuts: NUTSConfig):
    """The whole fit of one problem as a pure function (key, problem) → (θ draws, trace)."""

    def run(key, problem: Problem, state):
        def logdensity(u):
            return log_posterior(bins_fn, state, problem, u)

        k_init, k_lap, k_run = jax.random.split(key, 3)
        init, _ = initial_positions(logdensity, k_init, nuts.n_starts(), problem.bounds.shape[0],
                                    nuts.n_init_candidates)  # fmt: skip
        imm = None
        if nuts.n_map_steps > 0:
            init, imm = laplace_start(logdensity, k_lap, init, nuts)
        trace = sample_chains(logdensity, k_run, init, nuts, imm)
        theta = jax.vmap(jax.vmap(lambda u: to_constrained(u, problem.bounds)[0]))(trace.position)
        return theta, trace

    return run


def _batched(run, galaxies_per_step: int | None):
    """``run`` over a leading galaxy axis: all galaxies vmapped in lockstep (``None``), or
    ``galaxies_per_step`` at a time with :func:`jax.lax.map`."""
    if galaxies_per_step is None:
        return jax.vmap(run, in_axes=(0, 0, None))

    def mapped(keys, problems, state):
        return jax.lax.map(lambda kp: run(kp[0], kp[1], state), (keys, problems),
                           batch_size=galaxies_per_step)  # fmt: skip

    return mapped


def compile_pipeline(emulator: Emulator, nuts: NUTSConfig, batched, progress: bool, key, problem):
    """AOT-compile the pipeline once per (emulator, sampler settings, array shapes).

    The emulator's weights enter the program as constants, not arguments: XLA then lays out
    each weight matrix for its small matmuls once, at compile time, where an argument is
    re-packed at every step (measured: a 3-row 512² matmul in a while loop, 11.0 µs against
    17.5 µs). The compiled programs are kept in :func:`programs`, so they live as long as the
    emulator.

    ``batched`` is False for one galaxy, or ``(True, galaxies_per_step)`` (see
    :func:`_batched`). With ``progress``, BlackJAX's progress bar is traced into the program
    (its top-level scans: the optimiser, the warm-up and the sampling each show a bar).
    """
    cache = programs(emulator).setdefault("fits", {})
    shapes = jax.tree.map(lambda a: (jnp.shape(a), jnp.result_type(a)), (key, problem))
    sig = (nuts, batched, progress, str(shapes))
    if sig not in cache:
        run = _pipeline(emulator.bins_fn, nuts)
        run = _batched(run, batched[1]) if batched else run
        state = emulator.state

        with warnings.catch_warnings():
            # tracing runs no scan step, which the progress bar reports on exit
            warnings.filterwarnings("ignore", message="blackjax.progress_bar: no scan step")
            with _progress(progress):
                cache[sig] = jax.jit(lambda k, p: run(k, p, state)).lower(key, problem).compile()
    return cache[sig]


def execute(emulator: Emulator, nuts: NUTSConfig, batched, progress: bool, key, problem):
    """Compile (cached) and run the pipeline; return its outputs and both timings (s)."""
    t0 = time.perf_counter()
    compiled = compile_pipeline(emulator, nuts, batched, progress, key, problem)
    t_compile = time.perf_counter() - t0
    say(progress, f"sampling: {nuts.n_chains} chains × ({nuts.n_warmup} warm-up + "
                   f"{nuts.n_samples} draws){' per galaxy' if batched else ''} ...")  # fmt: skip
    t0 = time.perf_counter()
    with _progress(progress):
        out = jax.block_until_ready(compiled(key, problem))
    return out, t_compile, time.perf_counter() - t0


def _progress(on: bool):
    import contextlib

    import blackjax

    return blackjax.progress_bar(label="NUTS") if on else contextlib.nullcontext()


def sample_batch(emulator, config, probs, progress, galaxies_per_step, fold: int = 0,
                 min_rank: int = 0, headroom: int = 0):  # fmt: skip
    """Pad, tabulate and sample a batch of problems in one program; returns the padded
    problems, their tables' info, the draws θ (n_galaxies, n_chains, n_samples, 4), the
    trace and the timings. Galaxy ``i``'s key is ``fold_in(key(seed), fold + i)``; the
    tables are padded to at least ``min_rank`` (to reuse a compiled program), and to
    ``headroom`` more than the batch's largest rank (so that a later batch whose tables need
    a little more can reuse this one's program)."""
    t0 = time.perf_counter()
    n_bins = max(p.operator.n_bins for p in probs)
    n_in = max(p.operator.g_inner.shape[1] for p in probs)
    padded, tables = [], []
    for p in probs:  # tabulated after padding: the padded bins' rows are zero in the table too
        p, info = tabulate_problem(emulator, pad_problem(p, n_bins, n_in), config, progress)
        padded.append(p)
        tables.append(info)
    if config.table_nodes is not None:  # one rank for all: the tables are stacked
        rank = max([min_rank] + [p.table.coef.shape[2] + headroom for p in padded])
        padded = [p._replace(table=pad_rank(p.table, rank)) for p in padded]
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *padded)
    t_setup = time.perf_counter() - t0
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(config.seed), i))(
        fold + jnp.arange(len(probs))
    )
    say(progress, f"compiling the batched NUTS pipeline for {len(probs)} galaxies ...")
    if galaxies_per_step is not None and galaxies_per_step < 1:
        raise ValueError(f"galaxies_per_step must be None or ≥ 1, got {galaxies_per_step}")
    batching = (True, galaxies_per_step)
    (theta, trace), t_compile, t_sample = execute(emulator, config.nuts, batching, progress,
                                                   keys, stacked)  # fmt: skip
    timing = {"setup_s": t_setup, "compile_s": t_compile, "sample_s": t_sample}
    return padded, tables, theta, trace, timing


def loglik_fn(emulator: Emulator, problem: Problem):
    """``θ (n, 4) → log-likelihood (n,)`` of the problem as NUTS sampled it (table or network)."""
    cache = programs(emulator)
    fn = cache.get("loglik_batch")
    if fn is None:
        bins_fn = emulator.bins_fn
        fn = jax.jit(jax.vmap(lambda st, p, t: log_likelihood(bins_fn, st, p, t), (None, None, 0)))
        cache["loglik_batch"] = fn
    return lambda theta: np.asarray(fn(emulator.state, problem, jnp.asarray(theta, jnp.float32)))


def plane_loglik_fn(emulator: Emulator, problem: Problem):
    """``θ (n, 4) → log-likelihood (n,)`` as :func:`loglik_fn`, for points that share one
    (q_int, ratio) (a plane of :mod:`jaxjam.inference.planes`): the bin integrals are
    evaluated once, at the first point."""
    cache = programs(emulator)
    fn = cache.get("loglik_plane")
    if fn is None:
        bins_fn = emulator.bins_fn

        def plane(st, p, theta):
            c, logit = bin_integrals(bins_fn, st, p, theta[0, 0], theta[0, 1])
            return jax.vmap(lambda t: log_likelihood_of_model(p, vrms2_of(p, c, t), logit))(theta)

        fn = jax.jit(plane)
        cache["loglik_plane"] = fn
    return lambda theta: np.asarray(fn(emulator.state, problem, jnp.asarray(theta, jnp.float32)))
