"""The default certified fit of the NGC 4342 and NGC 5831 mocks (converged, padded jampy Vrms,
701 bins, 2% noise: :func:`jaxjam.testing.mocks.real_mock`): z-scores of the four
parameters against the truth, the certificate (k̂, importance ESS, rounds, jampy settings) and
the fit's timings.

    python -m benchmarks.posterior.certified_fits [--galaxies NGC4342,NGC5831 --warmup 1000 --draws
    1000]

Writes benchmarks/out/certified_fits.json. The M32 demo's figures come from `jaxjam demo`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks._common import machine_info, single_thread_blas, write_json

single_thread_blas()

from jaxjam.inference import PARAM_NAMES, FitConfig, NUTSConfig, fit  # noqa: E402
from jaxjam.testing.mocks import real_mock  # noqa: E402


def one(name: str, args) -> dict:
    t0 = time.perf_counter()
    mock = real_mock(name, seed=args.seed)
    t_mock = time.perf_counter() - t0
    cfg = FitConfig(nuts=NUTSConfig(n_warmup=args.warmup, n_samples=args.draws), seed=args.seed)
    res = fit(mock.galaxy, cfg, progress=True, warn=False)
    s, c, names = res.summary, res.certificate, list(PARAM_NAMES)
    row = {"galaxy": name, "n_bins": int(mock.galaxy.kinematics.vrms_kms.size),
           "truth": dict(zip(names, mock.truth.tolist(), strict=True)), "mock_s": t_mock,
           "z": ((s.loc[names, "mean"] - mock.truth) / s.loc[names, "sd"]).to_dict(),
           "z_reweighted": ((s.loc[names, "jam_mean"] - mock.truth)
                            / s.loc[names, "jam_sd"]).to_dict(),
           "certified": res.certified, "k_hat": c["k_hat"], "ess": c["ess"],
           "rounds": c["rounds"], "settings": c["settings"], "screen": c["screen"],
           "timing": res.timing, "fit_config": cfg.to_dict()}  # fmt: skip
    z = ", ".join(f"{row['z'][k]:+.2f}" for k in names)
    print(f"{name}: z {z}; k̂ {c['k_hat']:.2f}, ESS {c['ess']:.0f}/{c['n_draws']}, "
          f"{c['rounds']} round(s), nang {c['settings']['nang']}, "
          f"{res.timing['total_s']:.0f} s", flush=True)  # fmt: skip
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--galaxies", default="NGC4342,NGC5831")
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rows = [one(name, args) for name in args.galaxies.split(",")]
    write_json(Path(__file__).parents[1] / "out" / "certified_fits.json",
               {"machine": machine_info(), "rows": rows})  # fmt: skip


if __name__ == "__main__":
    main()
