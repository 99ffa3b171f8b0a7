"""The survey benchmark's certified medians against the mocks' truths, and converged jampy's χ².

For each mock of ``benchmarks/survey/survey_throughput.py`` (same seed), reads ``survey.csv`` of a
run,
prints each parameter's (median − truth) / sd (sd of JAM's importance-reweighted posterior), and
the χ² of converged, padded jampy (:func:`jaxjam.inference.certify.jampy_vrms`, with the PSF) at
the truth and at the posterior medians.

    python -m benchmarks.survey.survey_truth_check [--run benchmarks/out/survey/w2_certify --seed
    300]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks._common import single_thread_blas

single_thread_blas()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.posterior.calibration import make_mock  # noqa: E402

PARAMS = ("q_int", "ratio", "log10_mbh", "log10_ml")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--run", default="benchmarks/out/survey/w2_certify")
    ap.add_argument("--seed", type=int, default=300)
    args = ap.parse_args()

    from jaxjam.inference.certify import jampy_vrms

    table = pd.read_csv(Path(args.run) / "survey.csv")
    for i, row in table.iterrows():
        galaxy, truth = make_mock(np.random.default_rng([args.seed, i]))
        truth = np.asarray(truth, float)
        median = np.array([row[f"{p}_median"] for p in PARAMS])
        z = [(row[f"{p}_median"] - truth[k]) / row[f"{p}_jam_sd"] for k, p in enumerate(PARAMS)]
        k = galaxy.kinematics

        def chi2(theta, g=galaxy, k=k):
            return float(np.sum(((jampy_vrms(g, theta) - k.vrms_kms) / k.vrms_err_kms) ** 2))

        print(f"{row['name']}: (median - truth)/sd {np.round(z, 2)}; jampy chi2 at truth "
              f"{chi2(truth):.1f}, at medians {chi2(median):.1f} "
              f"({k.vrms_kms.size} bins)")  # fmt: skip


if __name__ == "__main__":
    main()
