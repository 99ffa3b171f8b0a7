"""How noisy PSIS's k̂ is at a certificate's sample size, for weights with no heavy tail.

Log importance ratios drawn from a normal with sd σ (log-normal weights: every moment finite,
relative ESS ≈ e^(−σ²)) at S = 48, 64 and 96 draws, 400 trials each: the fraction of trials
whose k̂ (arviz-stats) exceeds PSIS's sample-size threshold min(1 − 1/log10 S, 0.7) and 0.7,
the median span of the log ratios (max − min) and the fraction within the certificate's
bounded-weight span (:func:`jaxjam.inference.certify.tail_verdict`). This is the measurement
behind the certificate's tail rule.

    python -m benchmarks.posterior.khat_small_samples [--trials 400 --seed 0]

Writes benchmarks/out/khat_small_samples.json (about 20 s).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from arviz_stats.base import array_stats

from benchmarks._common import machine_info, write_json
from jaxjam.inference.certify import CertifyConfig, k_hat_threshold


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--trials", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    span_max = CertifyConfig().bounded_log_span
    rng = np.random.default_rng(args.seed)
    rows = []
    for s in (48, 64, 96):
        thr = k_hat_threshold(s)
        for sigma in (0.1, 0.2, 0.3, 0.5, 0.8, 1.2, 2.0):
            lr = rng.normal(0.0, sigma, (args.trials, s))
            # psislw takes a log-likelihood: the log ratios go in negated
            k = np.array([array_stats.psislw(x.max() - x)[1] for x in lr])
            span = np.ptp(lr, axis=1)
            w = np.exp(lr - lr.max(axis=1, keepdims=True))
            w /= w.sum(axis=1, keepdims=True)
            row = {"S": s, "sigma": sigma, "k_hat_threshold": thr,
                   "p_k_over_threshold": float(np.mean(k > thr)),
                   "p_k_over_0.7": float(np.mean(k > 0.7)),
                   "median_span": float(np.median(span)),
                   "p_bounded": float(np.mean(span <= span_max)),
                   "median_rel_ess": float(np.median(1 / np.sum(w**2, axis=1) / s))}  # fmt: skip
            rows.append(row)
            print(f"S {s:3d} σ {sigma:.1f}: P(k̂ > {thr:.2f}) {row['p_k_over_threshold']:.3f}, "
                  f"P(k̂ > 0.7) {row['p_k_over_0.7']:.3f}, span {row['median_span']:.2f}, "
                  f"P(span ≤ {span_max:g}) {row['p_bounded']:.2f}, "
                  f"rel. ESS {row['median_rel_ess']:.2f}")  # fmt: skip
    write_json(Path(__file__).parents[1] / "out" / "khat_small_samples.json",
               {"machine": machine_info(), "trials": args.trials, "seed": args.seed,
                "bounded_log_span": span_max, "rows": rows})  # fmt: skip


if __name__ == "__main__":
    main()
