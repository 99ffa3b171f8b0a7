"""Wall-clock timing: the first (compiling) call apart from steady state, median and spread."""

from __future__ import annotations

import time

import numpy as np

__all__ = ["time_call"]


def time_call(fn, min_repeats: int = 5, max_repeats: int = 200, min_total_s: float = 1.0) -> dict:
    """Time ``fn()`` (which must block until its result is ready).

    The first call (compilation included for a jitted function) is timed on its own. Then
    ``fn`` is repeated at least ``min_repeats`` times and until ``min_total_s`` has passed or
    ``max_repeats`` is reached.

    Returns
    -------
    dict
        ``first_s``; ``median_s``, ``p16_s`` and ``p84_s`` of the repeats (seconds); ``n``.
    """
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times = []
    start = time.perf_counter()
    while len(times) < min_repeats or (
        len(times) < max_repeats and time.perf_counter() - start < min_total_s
    ):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    t = np.asarray(times)
    return {
        "first_s": first,
        "median_s": float(np.median(t)),
        "p16_s": float(np.percentile(t, 16)),
        "p84_s": float(np.percentile(t, 84)),
        "n": int(t.size),
    }
