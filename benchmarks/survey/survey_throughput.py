"""Galaxies per hour of `jaxjam survey` on this machine, against jampy + emcee per galaxy.

Makes ``--n`` IFU mocks of :mod:`benchmarks.calibration` (sampled photometry at 20 Mpc,
R_e = 10″, seeing FWHM 1.5″, 1″ spaxels within 1 R_e, Vrms from converged, padded jampy, 3%
noise), writes them as files and a catalogue, then runs the survey with the default fit
settings for 1 and 2 workers, certified and with ``--no-certify`` (each in its own folder,
the XLA cache shared, so only the first run of a bin count compiles from scratch).

The jampy + emcee figure is what the committed converged reference costs per galaxy:
``steps × walkers`` of ``benchmarks/reference/posterior/jampy_mcmc_m32.json`` (32,000 calls)
times one converged, padded jampy call at each mock's bins on this machine, on 2 cores.

    python -m benchmarks.survey.survey_throughput [--n 4 --seed 300 --out benchmarks/out/survey]

Writes OUT/survey_throughput.json (a rerun resumes each survey; the JSON is rewritten).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks._common import machine_info, single_thread_blas, write_json

single_thread_blas()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.posterior.calibration import make_mock  # noqa: E402
from jaxjam.core.mge import write_mge  # noqa: E402

REFERENCE = Path(__file__).parents[1] / "reference" / "posterior" / "jampy_mcmc_m32.json"


def _write_mocks(folder: Path, n: int, seed: int) -> tuple[Path, list]:
    """``n`` mocks as MGE and kinematics files plus ``catalog.csv``; returns it and the mocks."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["name,mge,kinematics,distance_mpc,sigmapsf,normpsf,pixsize,seed"]
    mocks = []
    for i in range(n):
        galaxy, truth = make_mock(np.random.default_rng([seed, i]))
        m, k = galaxy.mge, galaxy.kinematics
        write_mge(folder / f"mge{i}.txt", m)
        np.savetxt(folder / f"kin{i}.txt", np.column_stack([k.x_arcsec, k.y_arcsec, k.vrms_kms,
                                                            k.vrms_err_kms]),
                   header="x_arcsec y_arcsec vrms_kms vrms_err_kms")  # fmt: skip
        p = galaxy.psf
        lines.append(f'mock{i},mge{i}.txt,kin{i}.txt,{galaxy.distance_mpc},'
                     f'"{p.sigma_arcsec[0]}","1",{p.pixsize_arcsec},{seed + i}')  # fmt: skip
        mocks.append((galaxy, truth))
    (folder / "catalog.csv").write_text("\n".join(lines) + "\n")
    return folder / "catalog.csv", mocks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=4, help="mock galaxies per survey")
    ap.add_argument("--seed", type=int, default=300)
    ap.add_argument("--out", default="benchmarks/out/survey")
    ap.add_argument("--runs", default="1:no-certify,2:no-certify,1:certify,2:certify",
                    help="WORKERS:MODE survey runs, in order")  # fmt: skip
    args = ap.parse_args()

    from jaxjam.cli.bench.timing import time_call
    from jaxjam.cli.survey import read_catalog, run_survey
    from jaxjam.inference import FitConfig
    from jaxjam.inference.certify import CertifyConfig
    from jaxjam.testing.jampy_posterior import jampy_vrms

    out = Path(args.out)
    catalog, mocks = _write_mocks(out / "mocks", args.n, args.seed)
    entries, bad = read_catalog(catalog)
    assert not bad, bad
    ref = json.loads(REFERENCE.read_text())
    calls = int(ref["steps"] * ref["walkers"])
    jampy_s = [
        time_call(lambda g=g, t=t: jampy_vrms(g, t), 3, 30, 2.0)["median_s"] for g, t in mocks
    ]  # converged, padded, with the PSF, at each mock's truth
    emcee_s = calls * float(np.mean(jampy_s)) / 2  # 2 cores run 2 walkers' calls at once
    result = {"machine": machine_info(), "n_galaxies": args.n, "seed": args.seed,
              "n_bins": [int(e.galaxy.kinematics.vrms_kms.size) for e in entries],
              "jampy_converged_call_s": jampy_s, "emcee_calls_per_galaxy": calls,
              "jampy_emcee_galaxy_s_2cores": emcee_s,
              "jampy_emcee_galaxies_per_hour_2cores": 3600 / emcee_s, "runs": {}}  # fmt: skip
    cache = str(out / "xla_cache")
    for spec in args.runs.split(","):
        w, mode = spec.split(":")
        cfg = FitConfig(certify=CertifyConfig(enabled=mode == "certify"))
        t0 = time.perf_counter()
        res = run_survey(catalog, out / f"w{w}_{mode}", cfg, workers=int(w), plots=False,
                         cache_dir=cache)  # fmt: skip
        wall = time.perf_counter() - t0
        table = pd.read_csv(res["table"])
        fresh = res["n_fitted"] == args.n  # a resumed survey's wall time is not its cost
        rate = 3600 * args.n / wall if fresh else None
        result["runs"][spec] = {
            **{k: v for k, v in res.items() if k != "table"}, "wall_s": wall,
            "galaxies_per_hour": rate, "statuses": table.status.tolist(),
            "galaxy_wall_s": table.wall_s.tolist(),
            "hours_10000_galaxies": 10_000 / rate if rate else None,
            "hours_10000_galaxies_per_worker_extrapolated_to_100": (
                10_000 / (rate / int(w) * 100) if rate else None),
            "speedup_vs_jampy_emcee": rate / result["jampy_emcee_galaxies_per_hour_2cores"]
            if rate else None,
        }  # fmt: skip
        print(spec, json.dumps(result["runs"][spec], default=str)[:400], flush=True)
        write_json(out / "survey_throughput.json", result)


if __name__ == "__main__":
    main()
