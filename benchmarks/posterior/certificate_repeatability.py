"""How often the certificate fails a good fit, over seeds: round-1 certification rate, each
round's verdict, the statistics that decided it and the jampy seconds per fit.

Good fits: the M32 demo (jampy's black-hole example, the demo's own data and settings), and
converged, padded jampy mocks of the NGC 4342 and NGC 5831 photometries
(:func:`jaxjam.testing.mocks.real_mock`, 701 bins, AO-like PSF) at 2% noise and at
0.5% (4× the S/N: posteriors far narrower than any fixed quadrature grid). Each seed changes
the fit's PRNG stream (and a mock's noise). Results are appended seed by seed to
``benchmarks/out/certificate_repeatability.json`` (a killed run resumes where it was).

    python -m benchmarks.posterior.certificate_repeatability --case m32 --seeds 0-19
    python -m benchmarks.posterior.certificate_repeatability --case ngc4342_s4 --seeds 0-19

Cases: ``m32``, ``ngc4342``, ``ngc4342_s4``, ``ngc5831``, ``ngc5831_s4``.
The bad fits (a degraded head, a posterior walled into ±0.1σ, a fit missing black-hole
mass) are the tests ``tests/test_certify.py`` and ``tests/test_planes.py``; their seeds
are in ``tests/test_certificate_repeatability.py``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks._common import machine_info, single_thread_blas, write_json

single_thread_blas()

import numpy as np  # noqa: E402

from jaxjam.inference import FitConfig, fit  # noqa: E402

OUT = Path(__file__).parents[1] / "out" / "certificate_repeatability.json"
CASES = {"m32": None, "ngc4342": ("NGC4342", 0.02), "ngc4342_s4": ("NGC4342", 0.005),
         "ngc5831": ("NGC5831", 0.02), "ngc5831_s4": ("NGC5831", 0.005)}  # fmt: skip


def galaxy_of(case: str, seed: int):
    if CASES[case] is None:
        from jaxjam.testing.m32 import m32_galaxy

        return m32_galaxy(), None
    from jaxjam.testing.mocks import real_mock

    name, noise = CASES[case]
    mock = real_mock(name, seed=seed, noise_frac=noise)
    return mock.galaxy, mock.truth


def one(case: str, seed: int) -> dict:
    from jaxjam.inference.verdict import verdict

    galaxy, truth = galaxy_of(case, seed)
    t0 = time.perf_counter()
    res = fit(galaxy, FitConfig(seed=seed), progress=False, warn=False)
    c = res.certificate
    s = res.summary
    names = list(s.index)
    row = {
        "case": case,
        "seed": seed,
        "certified": bool(res.certified),
        "rounds": c["rounds"],
        "round1_certified": bool(c["history"][0]["certified"]),
        "history": c["history"],
        "verdict": verdict(c),
        "k_hat": c["k_hat"],
        "tail": c.get("tail"),
        "ess": c["ess"],
        "plane_agreement": c.get("plane_agreement"),
        "marginal_agreement": c.get("marginal_agreement"),
        "overdispersed": {
            k: v
            for k, v in (c.get("overdispersed") or {}).items()
            if k not in ("points", "ll_jampy", "ll_fit")
        },
        "settings": c["settings"],
        "timing": res.timing,
        "certify_jampy_s": [h.get("seconds_jampy") for h in c["history"]],
        "jampy_s": res.timing["refine_s"] + res.timing["certify_s"],
        "wall_s": time.perf_counter() - t0,
        "summary": {k: s[k].to_dict() for k in ("mean", "sd", "jam_mean", "jam_sd")},
    }
    if truth is not None:
        row["z"] = dict(zip(names, ((s["mean"].to_numpy() - truth)
                                    / s["sd"].to_numpy()).tolist(), strict=True))  # fmt: skip
    return row


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        a, b = (int(x) for x in text.split("-"))
        return list(range(a, b + 1))
    return [int(x) for x in text.split(",")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--case", choices=sorted(CASES), default="m32")
    ap.add_argument("--seeds", default="0-19")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    data = json.loads(args.out.read_text()) if args.out.exists() else {"runs": []}
    done = {(r["case"], r["seed"]) for r in data["runs"]}
    for seed in parse_seeds(args.seeds):
        if (args.case, seed) in done:
            continue
        row = one(args.case, seed)
        data["runs"].append(row)
        data["machine"] = machine_info()
        summary = {}
        for case in sorted({r["case"] for r in data["runs"]}):
            rows = [r for r in data["runs"] if r["case"] == case]
            summary[case] = {"n": len(rows),
                             "round1_certified": sum(r["round1_certified"] for r in rows),
                             "certified": sum(r["certified"] for r in rows),
                             "median_jampy_s": float(np.median([r["jampy_s"] for r in rows])),
                             "median_total_s": float(np.median([r["timing"]["total_s"]
                                                                for r in rows]))}  # fmt: skip
        data["summary"] = summary
        write_json(args.out, data)
        print(f"{args.case} seed {seed}: {row['verdict']} ({row['timing']['total_s']:.0f} s, "
              f"jampy {row['jampy_s']:.0f} s)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
