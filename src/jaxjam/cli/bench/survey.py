"""Survey scale: fit N mock galaxies in one batched (vmapped) call and time it.

The mocks are seeing-limited IFU galaxies (:mod:`jaxjam.testing.mocks`) with kinematics
from the emulator itself, so that making a thousand of them costs no jampy time; the fit is the same
whatever made the data. Survey time is extrapolated from the largest batch N measured::

    T(N_survey) = compile_s(N) + ceil(N_survey / N) × sample_s(N) + N_survey × setup_s(N) / N

where ``setup_s`` is the CNN features and forward operators of the batch, ``compile_s`` the
XLA compilation and ``sample_s`` the batched NUTS run. Compilation is paid once when every
batch is padded to the same bin count (``fit_many`` pads to the largest in its batch), and the
persistent compilation cache keeps it between runs.
"""

from __future__ import annotations

import math
import time

import numpy as np

from jaxjam.testing.mocks import SURVEY_PRIOR

__all__ = ["SURVEY_PRIOR", "extrapolate", "survey_timing"]


def survey_timing(sizes, n_warmup: int, n_samples: int, seed: int, emulator,
                  progress: bool = False, galaxies_per_step=None) -> dict:  # fmt: skip
    """Fit ``N`` emulator mocks in one :func:`~jaxjam.inference.fit_many` call, for each N.

    Returns
    -------
    dict
        ``{N: {"mock_s", "setup_s", "compile_s", "sample_s", "total_s", "seconds_per_galaxy",
        "max_r_hat", "n_with_warnings"}}``.
    """
    from jaxjam.inference import FitConfig, NUTSConfig, fit_many
    from jaxjam.inference.certify import CertifyConfig
    from jaxjam.testing.mocks import emulator_mock

    # NUTS fits alone: the per-galaxy jampy refinement (about 1 s per map, parallel across
    # processes or nodes) is timed by the demo's setup_s instead
    cfg = FitConfig(nuts=NUTSConfig(n_warmup=n_warmup, n_samples=n_samples), bounds=SURVEY_PRIOR,
                    seed=seed, refine_maps=0,
                    certify=CertifyConfig(enabled=False))  # fmt: skip
    out = {}
    for n in sizes:
        t0 = time.perf_counter()
        mocks = [emulator_mock(np.random.default_rng([seed, n, i]), SURVEY_PRIOR, emulator)
                 for i in range(n)]  # fmt: skip
        t_mock = time.perf_counter() - t0
        t0 = time.perf_counter()
        results = fit_many([g for g, _ in mocks], cfg, emulator, progress=progress,
                           galaxies_per_step=galaxies_per_step)  # fmt: skip
        total = time.perf_counter() - t0
        timing = results[0].timing
        out[n] = {
            "mock_s": t_mock,
            "setup_s": timing["setup_s"],
            "compile_s": timing["compile_s"],
            "sample_s": timing["sample_s"],
            "total_s": total,
            "seconds_per_galaxy": total / n,
            "n_bins": int(max(g.kinematics.vrms_kms.size for g, _ in mocks)),
            "max_r_hat": float(max(r.summary["r_hat"].max() for r in results)),
            "n_with_warnings": int(sum(bool(r.problems) for r in results)),
        }
    return out


def extrapolate(rows: dict, n_survey: int = 10_000) -> dict:
    """Time to fit ``n_survey`` galaxies from the largest measured batch (module docstring)."""
    n = max(rows, key=int)
    r = rows[n]
    n = int(n)
    batches = math.ceil(n_survey / n)
    seconds = r["compile_s"] + batches * r["sample_s"] + n_survey * r["setup_s"] / n
    return {
        "n_survey": n_survey,
        "from_batch": n,
        "seconds": seconds,
        "hours": seconds / 3600,
        "formula": "compile_s(N) + ceil(N_survey/N) * sample_s(N) + N_survey * setup_s(N) / N",
    }
