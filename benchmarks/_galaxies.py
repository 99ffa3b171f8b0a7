"""A fixed, reproducible set of test galaxies for the label benchmarks."""

from __future__ import annotations

import contextlib
import io

import numpy as np


def benchmark_galaxies(n_sampled: int, seed: int):
    """Real MGEs (normalised) plus ``n_sampled`` sampler draws, each with a physical JAM draw.

    Returns
    -------
    list of (name, normalised MGE, q_int, ratio)
    """
    from jaxjam.data_gen.real_galaxies import real_galaxy_mges
    from jaxjam.data_gen.sampler import draw_jam_parameters, draw_photometry

    rng = np.random.default_rng(seed)
    out = [(k, m.normalized()[0]) for k, m in real_galaxy_mges().items()]
    with contextlib.redirect_stdout(io.StringIO()):
        out += [(f"sampled{i}", draw_photometry(rng).mge) for i in range(n_sampled)]
    return [(name, m, *draw_jam_parameters(rng, m.qobs_min)) for name, m in out]
