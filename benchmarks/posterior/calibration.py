"""Calibration of the posteriors on mock galaxies whose kinematics were made by jampy itself.

Two kinds of mock, all with Vrms from converged, padded jampy
(:func:`jaxjam.reference.jam.vrms_at_bins` at :data:`jaxjam.reference.jam.CONVERGED`):

- ``ifu``: a photometry drawn by the training-set sampler (a seed the training set never
  used), placed at 20 Mpc with R_e = 10″; true (q_int, ratio, log10 M_BH, log10 M/L) drawn from
  the very priors used in the fit, kept where JAM is physical at the bins; a seeing-limited IFU
  (FWHM 1.5″, 1″ spaxels, field to 1 R_e); 3% Gaussian noise;
- ``real``: the NGC 4342 and NGC 5831 mocks of :func:`jaxjam.testing.mocks.real_mock`
  (mgefit's photometry, 701 bins, 2% noise, AO-like or seeing PSF), alternately, each with its
  own noise seed.

Each mock is fitted with the default certified fit (:func:`jaxjam.inference.fit`) and its
result appended to ``OUT/mocks.jsonl`` at once: a killed run resumes where it stopped (the
mocks already there are not refitted; a different configuration in the same OUT is refused).
Reported: per parameter, the fraction of mocks whose truth lies inside the central 68% and 95%
credible intervals, with the binomial error, for all mocks and for the certified ones.

    python -m benchmarks.posterior.calibration [--n 30 --n-real 6 --seed 100 --warmup 500 --draws
    500]
                                     [--out benchmarks/out/calibration] [--refit ifu:10,ifu:11]

``--refit`` fits the named mocks again with the current code (after a fix), replacing their
rows; the log keeps the replaced rows in ``OUT/replaced.jsonl``.

Writes OUT/mocks.jsonl and OUT/calibration.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from benchmarks._common import machine_info, write_json
from jaxjam.inference import PARAM_NAMES, FitConfig, NUTSConfig, PriorBounds, fit
from jaxjam.reference.jam import CONVERGED, vrms_at_bins
from jaxjam.testing.mocks import DIST_MPC, draw_setup, real_mock, with_noise
from jaxjam.testing.mocks import SURVEY_PRIOR as PRIOR


def make_mock(rng):
    """A mock IFU galaxy (:mod:`jaxjam.testing.mocks`) whose Vrms is jampy's, + 3% noise."""
    while True:
        s = draw_setup(rng, PRIOR)
        q, ratio, lg_mbh, lg_ml = s.truth
        # converged, padded jampy (jaxjam.reference.jam); the truth must be physical where the data
        # are (NaN where V² ≤ 0 at a bin), as the fit's likelihood judges it
        v = vrms_at_bins(s.mge, DIST_MPC, s.x_arcsec, s.y_arcsec, q, ratio, 10**lg_ml,
                         10**lg_mbh, s.psf, settings=CONVERGED)  # fmt: skip
        if np.all(np.isfinite(v)) and np.all(v > 0):
            return with_noise(s, v, rng), s.truth


def _mocks(args):
    """The (kind, index) of every mock of the run, in fitting order."""
    return [("ifu", i) for i in range(args.n)] + [("real", i) for i in range(args.n_real)]


def _build(kind: str, i: int, seed: int):
    if kind == "ifu":
        galaxy, truth = make_mock(np.random.default_rng([seed, i]))
        return galaxy, np.asarray(truth, float), "ifu"
    name = ("NGC4342", "NGC5831")[i % 2]
    mock = real_mock(name, seed=seed + i)
    return mock.galaxy, np.asarray(mock.truth, float), name


def _fit_one(kind, i, args, cfg) -> dict:
    t0 = time.perf_counter()
    galaxy, truth, label = _build(kind, i, args.seed)
    if kind == "real":  # the real mocks' truths (e.g. M_BH 8e8) need the default priors
        cfg = dataclasses.replace(cfg, bounds=PriorBounds())
    res = fit(galaxy, cfg, progress=False, warn=False)
    post = res.datatree["posterior"]
    row = {"kind": kind, "index": i, "galaxy": label, "truth": truth.tolist(),
           "n_bins": int(galaxy.kinematics.vrms_kms.size), "certified": res.certified,
           "k_hat": res.certificate["k_hat"] if res.certificate else None,
           "rounds": res.certificate["rounds"] if res.certificate else None,
           "timing": res.timing, "seconds": time.perf_counter() - t0}  # fmt: skip
    over = (res.certificate or {}).get("overdispersed") or {}
    row["overdispersed"] = {k: over.get(k) for k in ("n_in_bulk", "n_missed", "max_log_excess")}
    for level in (0.68, 0.95):
        row[f"inside_{level:.2f}"] = [
            bool(lo <= t <= hi) for t, (lo, hi) in zip(truth, [
                np.quantile(post[k].values.ravel(), [(1 - level) / 2, (1 + level) / 2])
                for k in PARAM_NAMES], strict=True)
        ]  # fmt: skip
    s = res.summary
    row["z"] = (
        (s.loc[list(PARAM_NAMES), "mean"] - truth) / s.loc[list(PARAM_NAMES), "sd"]
    ).tolist()
    return row


def _coverage(rows: list[dict]) -> dict:
    out = {}
    for j, name in enumerate(PARAM_NAMES):
        out[name] = {}
        for level in ("0.68", "0.95"):
            inside = [r[f"inside_{level}"][j] for r in rows]
            p = float(level)
            out[name][level] = {"coverage": float(np.mean(inside)) if inside else None,
                                "binomial_sigma": float(np.sqrt(p * (1 - p) / max(len(rows), 1))),
                                "n": len(rows)}  # fmt: skip
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=30, help="seeing-limited IFU mocks")
    ap.add_argument("--n-real", type=int, default=6, help="NGC 4342 / NGC 5831 mocks")
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--out", default=str(Path(__file__).parents[1] / "out" / "calibration"))
    ap.add_argument("--refit", default="", help="KIND:INDEX,... mocks to fit again")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = FitConfig(nuts=NUTSConfig(n_warmup=args.warmup, n_samples=args.draws), bounds=PRIOR,
                    seed=args.seed)  # fmt: skip
    run = {"seed": args.seed, "fit_config": cfg.to_dict(), "prior": PRIOR.to_dict()}
    run_file = out / "run.json"
    if run_file.exists():
        if json.loads(run_file.read_text()) != json.loads(json.dumps(run, default=float)):
            raise SystemExit(f"{out} holds a calibration with another seed or configuration: "
                             "pass another --out")  # fmt: skip
    else:
        run_file.write_text(json.dumps(run, indent=1, default=float))
    log = out / "mocks.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    refit = {(k, int(i)) for k, i in (m.split(":") for m in args.refit.split(",") if m)}
    if refit - set(_mocks(args)):
        raise SystemExit(
            f"--refit names mocks this run does not have: {sorted(refit - set(_mocks(args)))}"
        )
    if refit:  # keep the old rows aside, then rewrite the log without them (atomically)
        with (out / "replaced.jsonl").open("a") as f:
            for r in rows:
                if (r["kind"], r["index"]) in refit:
                    f.write(json.dumps(r, default=float) + "\n")
        rows = [r for r in rows if (r["kind"], r["index"]) not in refit]
        tmp = log.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r, default=float) + "\n" for r in rows))
        tmp.replace(log)
    done = {(r["kind"], r["index"]) for r in rows}
    todo = [m for m in _mocks(args) if m not in done]
    print(f"{len(done)} mocks already fitted in {log}; {len(todo)} to go", flush=True)
    for kind, i in tqdm(todo, desc="calibration mocks", unit="mock"):
        row = _fit_one(kind, i, args, cfg)
        with log.open("a") as f:  # one line a mock, flushed: a kill loses only the current one
            f.write(json.dumps(row, default=float) + "\n")
        rows.append(row)
    wanted = set(_mocks(args))
    rows = [r for r in rows if (r["kind"], r["index"]) in wanted]
    summary = {"machine": machine_info(), **run, "n_mocks": len(rows),
               "n_certified": sum(r["certified"] for r in rows),
               "coverage": _coverage(rows),
               "coverage_certified": _coverage([r for r in rows if r["certified"]]),
               "coverage_by_kind": {k: _coverage([r for r in rows if r["kind"] == k])
                                    for k in ("ifu", "real")},
               "seconds_per_mock": np.mean([r["seconds"] for r in rows] or [np.nan])}  # fmt: skip
    write_json(out / "calibration.json", summary)
    print(f"{'parameter':<10} {'68% coverage':>14} {'95% coverage':>14}   ({len(rows)} mocks)")
    for name, row in summary["coverage"].items():
        a, b = row["0.68"], row["0.95"]
        print(f"{name:<10} {a['coverage']:>8.2f} ± {a['binomial_sigma']:.2f}"
              f" {b['coverage']:>8.2f} ± {b['binomial_sigma']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
