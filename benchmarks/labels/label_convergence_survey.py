"""How many v2 training samples have jampy labels that are not converged at a given nang.

Draws ``--n`` samples exactly as ``jaxjam generate`` does with ``configs/generate_v2.json``
(photometry, then q_int and ratio from the v2 sampler; seed ``--seed``, sample ``p`` from
``SeedSequence(seed, spawn_key=(p,))``), labels each (stars and black hole) at two nang
(``--nang``, nlos ``--nlos``) on the ``--grid``, and reports the difference between the two,
|ΔVrms|/Vrms over all nodes, for the stars alone and with M_BH/M* = 5e-3. jampy's error falls
~2.5–3× per 6 in nang here (``label_nang_by_flattening.py``), so the difference between nang
30 and 36 is a lower bound on nang 30's own error (about 0.6–0.7 of it).

    python -m benchmarks.labels.label_convergence_survey [--n 24] [--part 0/2]
    python -m benchmarks.labels.label_convergence_survey --merge

Each part writes ``benchmarks/out/label_convergence_survey_K.json``; ``--merge`` prints the
fraction of samples over 0.1/0.2/0.5/1% at p99 and the worst samples with their descriptors.

``--ladder NANG,NLOS ...`` measures instead what a per-sample convergence check would cost:
each sample is labelled at the ladder's settings in turn until two successive ones agree to
``--rtol`` at p99 (stars alone and with the black hole); it records the settings it stopped at
(or that it never did) and the seconds spent. Parts write ``label_ladder_K.json``;
``--merge --ladder ...`` summarises them::

    python -m benchmarks.labels.label_convergence_survey --n 24 --part 0/2 \
        --ladder 24,120 30,200 36,300 42,300 48,300 --rtol 1e-3
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
from pathlib import Path

from benchmarks._common import machine_info, parse_grid, parse_part, single_thread_blas, write_json

single_thread_blas()

import numpy as np  # noqa: E402

BH_FRACTION = 5e-3
THRESHOLDS = (1e-3, 2e-3, 5e-3, 1e-2)


def _vrms(maps, f):
    """Vrms (G L_tot / R_e units) of the stars plus a black hole of f L_tot; NaN where V² < 0."""
    with np.errstate(invalid="ignore"):
        return np.sqrt(maps["A"] + f * maps["B"])


def _sample(p: int, seed: int, sampler):
    """Sample ``p`` of a store of this seed: its photometry, q_int and ratio (one draw per
    photometry, as ``configs/generate_v2.json``)."""
    from jaxjam.data_gen.sampler import descriptor_names, draw_jam_parameters, draw_photometry

    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(p,)))
    with contextlib.redirect_stdout(io.StringIO()):
        phot = draw_photometry(rng, sampler)
    q_int, ratio = draw_jam_parameters(rng, phot.mge.qobs_min, sampler)
    descriptors = dict(zip(descriptor_names(sampler), map(float, phot.descriptors), strict=True))
    return phot.mge, q_int, ratio, descriptors


def measure(args) -> None:
    from jaxjam.data_gen.config import GeneratorConfig
    from jaxjam.data_gen.jam_labels import LabelConfig, component_maps

    config = GeneratorConfig.from_dict(json.loads(Path(args.config).read_text()))
    grid = parse_grid(args.grid)
    lo, hi = args.nang
    k, n = parse_part(args.part)
    rows = []
    for p in range(k, args.n, n):
        mge, q_int, ratio, desc = _sample(p, args.seed, config.sampler)
        maps = {a: component_maps(mge, q_int, ratio, grid, LabelConfig(nang=a, nlos=args.nlos))
                for a in (lo, hi)}  # fmt: skip
        row = {"sample": p, "q_int": float(q_int), "ratio": float(ratio), "n_gauss": mge.n_gauss,
               "qobs_min": float(mge.qobs_min), "descriptors": desc}  # fmt: skip
        if not (maps[lo].physical and maps[hi].physical):
            row["physical"] = False
            rows.append(row)
            print(f"sample {p}: unphysical, skipped")
            continue
        for case, f in (("nobh", 0.0), ("bh", BH_FRACTION)):
            d = np.abs(_vrms(maps[lo], f) / _vrms(maps[hi], f) - 1)
            row[case] = {"p99": float(np.percentile(d, 99)), "max": float(d.max())}
        row["physical"] = True
        rows.append(row)
        print(f"sample {p:3d} q_int={q_int:.3f} q'min={mge.qobs_min:.2f} ratio={ratio:.2f}: "
              f"p99 {row['nobh']['p99']:.1e} / BH {row['bh']['p99']:.1e}")  # fmt: skip
    write_json(Path(args.out) / f"label_convergence_survey_{k}.json",
               {"machine": machine_info(), "grid": grid.to_dict(), "nang": [lo, hi],
                "nlos": args.nlos, "seed": args.seed, "bh_fraction": BH_FRACTION,
                "rows": rows})  # fmt: skip


def measure_ladder(args) -> None:
    from jaxjam.data_gen.config import GeneratorConfig
    from jaxjam.data_gen.jam_labels import LabelConfig, component_maps

    config = GeneratorConfig.from_dict(json.loads(Path(args.config).read_text()))
    grid = parse_grid(args.grid)
    ladder = [tuple(int(v) for v in step.split(",")) for step in args.ladder]
    k, n = parse_part(args.part)
    rows = []
    for p in range(k, args.n, n):
        mge, q_int, ratio, desc = _sample(p, args.seed, config.sampler)
        row = {"sample": p, "q_int": float(q_int), "ratio": float(ratio),
               "qobs_min": float(mge.qobs_min), "descriptors": desc, "steps": [],
               "stopped_at": None}  # fmt: skip
        t0, previous = time.perf_counter(), None
        for nang, nlos in ladder:
            maps = component_maps(mge, q_int, ratio, grid, LabelConfig(nang=nang, nlos=nlos))
            step = {"nang": nang, "nlos": nlos, "seconds": time.perf_counter() - t0}
            if previous is not None:
                step["diff_p99"] = max(
                    float(np.nanpercentile(np.abs(_vrms(maps, f) / _vrms(previous, f) - 1), 99))
                    for f in (0.0, BH_FRACTION))  # fmt: skip
            row["steps"].append(step)
            if step.get("diff_p99", np.inf) <= args.rtol:
                row["stopped_at"] = [nang, nlos]
                break
            previous = maps
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        print(f"sample {p:3d} q_int={q_int:.3f} q'min={mge.qobs_min:.2f}: stopped at "
              f"{row['stopped_at']} after {row['seconds']:.1f} s; differences "
              + " ".join(f"{s.get('diff_p99', np.nan):.1e}" for s in row["steps"][1:]))  # fmt: skip
    write_json(Path(args.out) / f"label_ladder_{k}.json",
               {"machine": machine_info(), "grid": grid.to_dict(), "ladder": ladder,
                "rtol": args.rtol, "seed": args.seed, "bh_fraction": BH_FRACTION,
                "rows": rows})  # fmt: skip


def merge_ladder(args) -> None:
    data = [json.loads(p.read_text())
            for p in sorted(Path(args.out).glob("label_ladder_[0-9]*.json"))]  # fmt: skip
    rows = sorted((r for d in data for r in d["rows"]), key=lambda r: r["sample"])
    ladder = [tuple(s) for s in data[0]["ladder"]]
    stops = [tuple(r["stopped_at"]) if r["stopped_at"] else None for r in rows]
    seconds = np.array([r["seconds"] for r in rows])
    # what one label at the second rung alone costs, for the ratio
    single = np.median([r["steps"][1]["seconds"] - r["steps"][0]["seconds"] for r in rows])
    print(f"{len(rows)} samples, ladder {ladder}, rtol {data[0]['rtol']:g} at p99")
    counts = {f"{a},{b}": sum(s == (a, b) for s in stops) for a, b in ladder[1:]}
    counts["never"] = sum(s is None for s in stops)
    for key, c in counts.items():
        print(f"  stopped at {key:>8}: {c:3d} ({c / len(rows):.0%})")
    print(f"  seconds per sample: median {np.median(seconds):.1f}, mean {seconds.mean():.1f}; "
          f"one label at {ladder[1]} alone: {single:.1f} s (mean ratio "
          f"{seconds.mean() / single:.1f}×)")  # fmt: skip
    write_json(Path(args.out) / "label_ladder.json",
               {"machine": data[0]["machine"], "grid": data[0]["grid"], "ladder": ladder,
                "rtol": data[0]["rtol"], "seed": data[0]["seed"], "stopped_at": counts,
                "seconds_mean": float(seconds.mean()), "seconds_median": float(np.median(seconds)),
                "seconds_single_second_rung": float(single), "rows": rows})  # fmt: skip


def merge(args) -> None:
    parts = sorted(Path(args.out).glob("label_convergence_survey_[0-9]*.json"))
    data = [json.loads(p.read_text()) for p in parts]
    rows = sorted((r for d in data for r in d["rows"] if r["physical"]), key=lambda r: r["sample"])
    lo, hi = data[0]["nang"]
    print(f"{len(rows)} physical samples; |Vrms(nang {lo}) / Vrms(nang {hi}) − 1|, p99 per sample")
    summary = {}
    for case in ("nobh", "bh"):
        p99 = np.array([r[case]["p99"] for r in rows])
        summary[case] = {f"over_{t:g}": float(np.mean(p99 > t)) for t in THRESHOLDS}
        summary[case]["median_p99"] = float(np.median(p99))
        print(
            f"  {case:5s}: median p99 {100 * np.median(p99):.3f}%; fraction over "
            + ", ".join(f"{100 * t:g}%: {np.mean(p99 > t):.2f}" for t in THRESHOLDS)
        )
    print("worst samples (BH p99):")
    for r in sorted(rows, key=lambda r: -r["bh"]["p99"])[:6]:
        d = r["descriptors"]
        print(
            f"  sample {r['sample']}: {100 * r['bh']['p99']:.2f}% q_int {r['q_int']:.3f} q'min "
            f"{r['qobs_min']:.2f} " + " ".join(f"{k} {v:.2g}" for k, v in d.items())
        )
    write_json(Path(args.out) / "label_convergence_survey.json",
               {"machine": data[0]["machine"], "grid": data[0]["grid"], "nang": [lo, hi],
                "nlos": data[0]["nlos"], "seed": data[0]["seed"], "summary": summary,
                "rows": rows})  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--seed", type=int, default=15, help="the v2 training set's seed")
    ap.add_argument("--nang", type=int, nargs=2, default=[30, 36])
    ap.add_argument("--nlos", type=int, default=120)
    ap.add_argument("--config", default=str(Path(__file__).parents[2] / "configs/generate_v2.json"))
    ap.add_argument("--grid", default="80,24,1e-4,3", metavar="N_R,N_THETA,R_MIN_RE,R_MAX_RE")
    ap.add_argument("--part", default="0/1", metavar="K/N")
    ap.add_argument("--out", default="benchmarks/out")
    ap.add_argument("--merge", action="store_true")
    ap.add_argument(
        "--ladder",
        nargs="+",
        default=None,
        metavar="NANG,NLOS",
        help="measure a per-sample convergence check over these settings instead",
    )
    ap.add_argument("--rtol", type=float, default=1e-3, help="the check's p99 tolerance")
    args = ap.parse_args()
    if args.ladder:
        merge_ladder(args) if args.merge else measure_ladder(args)
    else:
        merge(args) if args.merge else measure(args)


if __name__ == "__main__":
    main()
