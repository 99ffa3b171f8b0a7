"""Forward-model, gradient and peak-throughput timings, side by side with jampy.

All emulator timings are on jampy's M32 black-hole example (175 bins, adaptive-optics PSF):
a batch of ``n`` parameter sets (q_int, ratio, log10 M_BH, log10 M/L) of that galaxy goes
through

- ``network``: the MLP decoder on the galaxy's cached CNN features → A, B and P(physical);
- ``vrms_no_psf``: the network plus the exact physics layer without a PSF (Vrms at the bins);
- ``vrms_psf``: the network plus the physics layer with the PSF (the fixed operator W).

jampy's ``jam.axi.proj`` is timed on the same bins, with and without the same PSF. FLOPs come
from XLA's own cost analysis of the compiled functions.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxjam.cli.bench.timing import time_call
from jaxjam.reference.jam import CONVERGED

__all__ = [
    "BATCH_SIZES",
    "compiled_flops",
    "emulator_batches",
    "gradient_timing",
    "jampy_timing",
    "m32_problems",
    "matmul_peak",
    "parameter_batch",
    "speedups",
]

BATCH_SIZES = (1, 16, 256, 4096, 65536)
THETA_M32 = (0.4, 0.85, 6.3, 0.15)  # q_int, ratio, log10 M_BH, log10 M/L near the M32 fit


def compiled_flops(fn, *args) -> float | None:
    """FLOPs of one call of ``jax.jit(fn)(*args)`` by XLA's cost analysis (None if unknown)."""
    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    if isinstance(cost, list | tuple):
        cost = cost[0] if cost else None
    flops = (cost or {}).get("flops")
    return float(flops) if flops is not None and flops > 0 else None


def m32_problems(emulator):
    """The M32 galaxy, its fit :class:`~jaxjam.inference.likelihood.Problem` (with the AO
    PSF) and its PSF-free operator."""
    from jaxjam.core.forward import bin_operator
    from jaxjam.inference import FitConfig, build_problem
    from jaxjam.testing.m32 import m32_galaxy

    galaxy = m32_galaxy()
    problem = build_problem(emulator, galaxy, FitConfig())
    k = galaxy.kinematics
    op = bin_operator(emulator.grid, galaxy.mge, galaxy.distance_mpc, k.x_arcsec, k.y_arcsec,
                      components=emulator.components)  # fmt: skip
    op_no_psf = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), op)
    return galaxy, problem, op_no_psf


def parameter_batch(key, n: int, qobs_min: float) -> jax.Array:
    """``n`` parameter sets, shape (n, 4): q_int ∈ (0.051, q'min), ratio ∈ (0.6, 1),
    log10 M_BH ∈ (5, 7), log10 M/L ∈ (0, 0.3)."""
    lo = jnp.array([0.051, 0.6, 5.0, 0.0])
    hi = jnp.array([qobs_min - 1e-3, 1.0, 7.0, 0.3])
    return lo + (hi - lo) * jax.random.uniform(key, (n, 4))


def _network(maps_fn, state, features, qobs_min, theta):
    return jax.vmap(lambda t: maps_fn(state, features, t[0], t[1], qobs_min))(theta)


def _vrms(maps_fn, state, features, qobs_min, op, theta):
    from jaxjam.core.components import DEFAULT, scalings
    from jaxjam.core.forward import apply_operator

    def one(t):
        maps, _ = maps_fn(state, features, t[0], t[1], qobs_min)
        v2 = apply_operator(op, maps, scalings(DEFAULT, t, op.lum_lsun))
        return jnp.sqrt(jnp.clip(v2, 0.0))

    return jax.vmap(one)(theta)


def emulator_batches(emulator, problem, op_no_psf, batch_sizes, seed: int, min_total_s: float):
    """Per-batch timings of the three emulator variants (see the module docstring).

    Returns
    -------
    dict
        ``{variant: {batch: timing}}``; each timing is :func:`time_call`'s dict plus
        ``per_galaxy_s``, ``flops`` (per call) and ``flops_per_s``, or ``{"skipped": reason}``
        where the batch does not fit in memory.
    """
    state, feats, qmin = emulator.state, problem.features, problem.qobs_min
    variants = {
        "network": (functools.partial(_network, emulator.maps_fn), ()),
        "vrms_no_psf": (functools.partial(_vrms, emulator.maps_fn), (op_no_psf,)),
        "vrms_psf": (functools.partial(_vrms, emulator.maps_fn), (problem.operator,)),
    }
    out = {name: {} for name in variants}
    for i, n in enumerate(batch_sizes):
        theta = parameter_batch(jax.random.key(seed + i), n, float(qmin))
        for name, (fn, extra) in variants.items():
            args = (state, feats, qmin, *extra, theta)
            jitted = jax.jit(fn)
            try:
                t = time_call(
                    lambda jitted=jitted, args=args: jax.block_until_ready(jitted(*args)),
                    min_repeats=3,
                    max_repeats=100,
                    min_total_s=min_total_s,
                )
                flops = compiled_flops(fn, *args)
            except (MemoryError, RuntimeError) as exc:  # XlaRuntimeError: RESOURCE_EXHAUSTED
                out[name][n] = {"skipped": f"{type(exc).__name__}: {str(exc)[:200]}"}
                continue
            t["per_galaxy_s"] = t["median_s"] / n
            t["flops"] = flops
            t["flops_per_s"] = flops / t["median_s"] if flops else None
            out[name][n] = t
    return out


def jampy_timing(galaxy, min_total_s: float, theta=THETA_M32, settings=CONVERGED) -> dict:
    """One padded ``jam.axi.proj`` call at the galaxy's bins at ``settings``
    (:class:`jaxjam.reference.jam.JampySettings`), with its PSF and without (seconds)."""
    from jaxjam.testing.jampy_posterior import jampy_vrms

    def call(psf):
        return lambda: jampy_vrms(galaxy, theta, psf=psf, settings=settings)

    return {
        "settings": settings.to_dict(),
        "psf": time_call(call(True), 3, 30, min_total_s),
        "no_psf": time_call(call(False), 3, 30, min_total_s),
        "n_bins": int(galaxy.kinematics.x_arcsec.size),
        "theta": list(theta),
    }


def gradient_timing(emulator, problem, n_loop: int, min_total_s: float, theta=THETA_M32,
                    tabled=None) -> dict:  # fmt: skip
    """One value-and-gradient of the log-posterior: as a jitted call from Python; as it runs
    inside the sampler (``n_loop`` evaluations in one compiled ``fori_loop``: one chain, as
    the demo's chains run on a CPU); the same with a per-galaxy head, as after the jampy
    refinement (the head is then an argument of the program, not a constant); and per chain
    when 4 chains are vmapped, as they run on an accelerator (the chains share each read of
    the weights). As in a fit, the emulator's weights are constants of the compiled program
    (:func:`jaxjam.inference.running.compile_pipeline`).

    ``tabled``, the problem with its table (:func:`jaxjam.inference.problem.tabulate_problem`),
    adds the same in-loop timings for the table, which a fit samples by default (``table_``
    keys)."""
    from jaxjam.emulator.fused import split_head
    from jaxjam.emulator.network import head_of
    from jaxjam.inference.likelihood import log_posterior
    from jaxjam.inference.priors import to_unconstrained

    state = emulator.state
    u0 = to_unconstrained(jnp.asarray(theta, jnp.float32), problem.bounds)

    def vg(u, prob):
        return jax.value_and_grad(lambda v: log_posterior(emulator.bins_fn, state, prob, v))(u)

    call = jax.jit(vg)
    per_call = time_call(lambda: jax.block_until_ready(call(u0, problem)), 10, 2000, min_total_s)

    @jax.jit
    def loop(u, prob):
        def body(_, carry):
            u, acc = carry
            value, grad = vg(u, prob)
            return u + 1e-6 * grad, acc + value  # data-dependent: nothing is hoisted

        return jax.lax.fori_loop(0, n_loop, body, (u, jnp.float32(0.0)))

    @jax.jit
    def chains(u, prob):  # 4 vmapped chains share one read of the weights
        def body(_, u):
            return u + 1e-6 * jax.vmap(lambda v: vg(v, prob)[1])(u)

        return jax.lax.fori_loop(0, n_loop, body, u)

    u4 = jnp.stack([u0 + 0.01 * i for i in range(4)])

    def in_loop(fn, u, prob):
        """Timing of ``n_loop`` steps of ``fn`` and the cost of one gradient of one chain."""
        t = time_call(lambda: jax.block_until_ready(fn(u, prob)), 3, 50, min_total_s)
        n_chains = u.size // u0.size
        return {**t, "n_loop": n_loop, "per_gradient_s": t["median_s"] / (n_loop * n_chains)}

    kernel, bias = head_of(state)  # timing depends on the head's shape, not its values
    out = {
        "per_call": per_call,
        "in_loop": in_loop(loop, u0, problem),
        "in_loop_refined_head": in_loop(
            loop, u0, problem._replace(head=split_head(emulator.normalization, kernel, bias))
        ),
        "in_loop_4_chains": in_loop(chains, u4, problem),
        "flops": compiled_flops(vg, u0, problem),
    }
    if tabled is not None:
        out["table_in_loop"] = in_loop(loop, u0, tabled)
        out["table_in_loop_4_chains"] = in_loop(chains, u4, tabled)
        out["table_flops"] = compiled_flops(vg, u0, tabled)
    return out


def matmul_peak(n: int, min_total_s: float) -> dict:
    """Measured float32 matmul throughput of the default device (FLOP/s), one n×n @ n×n."""
    ka, kb = jax.random.split(jax.random.key(0))
    a = jax.random.normal(ka, (n, n), jnp.float32)
    b = jax.random.normal(kb, (n, n), jnp.float32)
    mm = jax.jit(jnp.matmul)
    t = time_call(lambda: mm(a, b).block_until_ready(), 3, 50, min_total_s)
    return {**t, "n": n, "flops": 2.0 * n**3, "flops_per_s": 2.0 * n**3 / t["median_s"]}


def speedups(jampy: dict, batches: dict) -> dict:
    """jampy seconds per call / emulator seconds per galaxy, per variant and batch."""
    ref = {"network": "no_psf", "vrms_no_psf": "no_psf", "vrms_psf": "psf"}
    out = {}
    for name, rows in batches.items():
        j = jampy[ref[name]]["median_s"]
        out[name] = {n: j / r["per_galaxy_s"] for n, r in rows.items() if "per_galaxy_s" in r}
    return out
