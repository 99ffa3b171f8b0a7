"""Which jampy nang a v2 label needs, as a function of the intrinsic flattening q_int.

``label_accuracy.py`` chose nang 30 on the real MGEs at two random (q_int, ratio) each. The v2
sampler puts half its q_int draws on a log scale down to 0.051, where jampy's angular
resolution matters most. This script labels the real MGEs (M32, NGC 4342, NGC 5831, padded)
and ``--n-sampled`` v2 sampler photometries (``configs/generate_v2.json``'s sampler) at a
ladder of q_int (those below each MGE's q'min), each with a random eq.-37 ratio, on the
``--grid`` (80 × 24 from 1e-4 R_e by default), at each of ``--settings``, and compares them with
``--reference`` (nang 45 / nlos 800). The error is |ΔVrms|/Vrms over all nodes, for the stars
alone and with a black hole of M_BH/M* = 5e-3 (the B label's own error enters there).

    python -m benchmarks.labels.label_nang_by_flattening [--n-sampled 3] [--part 0/2]

``--part K/N`` measures every N-th case from the K-th (to run N processes side by side); each
part writes ``benchmarks/out/NAME_K.json`` (``--name``, default ``label_nang_by_flattening``).
``--merge`` reads the parts and prints the worst p99 and max by q_int band and setting.
``--only`` and ``--q-int`` pick cases (e.g. to check the reference itself on the worst ones).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks._common import (
    machine_info,
    parse_grid,
    parse_part,
    parse_settings,
    single_thread_blas,
    write_json,
)

single_thread_blas()

import numpy as np  # noqa: E402

Q_INT_LADDER = (0.055, 0.07, 0.09, 0.12, 0.16, 0.22, 0.3, 0.45)
BANDS = ((0.05, 0.08), (0.08, 0.13), (0.13, 0.2), (0.2, 1.0))
BH_FRACTION = 5e-3


def _cases(n_sampled: int, seed: int, config_path: str, ladder=Q_INT_LADDER, only=None):
    from jaxjam.data_gen.config import GeneratorConfig
    from jaxjam.data_gen.real_galaxies import real_galaxy_mges
    from jaxjam.data_gen.sampler import draw_photometry

    sampler = GeneratorConfig.from_dict(json.loads(Path(config_path).read_text())).sampler
    rng = np.random.default_rng(seed)
    mges = [(k, m.normalized()[0]) for k, m in real_galaxy_mges().items()]
    mges += [(f"sampled{i}", draw_photometry(rng, sampler).mge) for i in range(n_sampled)]
    cases = [(name, mge, q, float(rng.uniform(0.5, 1.5)))
             for name, mge in mges for q in Q_INT_LADDER if q < mge.qobs_min]  # fmt: skip
    return [c for c in cases if c[2] in ladder and (not only or c[0] in only)]


def _errors(maps, ref):
    v, v_ref = np.sqrt(np.clip(maps["A"], 0, None)), np.sqrt(ref["A"])
    vb = np.sqrt(np.clip(maps["A"] + BH_FRACTION * maps["B"], 0, None))
    vb_ref = np.sqrt(ref["A"] + BH_FRACTION * ref["B"])
    e, eb = np.abs(v / v_ref - 1), np.abs(vb / vb_ref - 1)
    return {"p99": float(np.percentile(e, 99)), "max": float(e.max()),
            "bh_p99": float(np.percentile(eb, 99)), "bh_max": float(eb.max())}  # fmt: skip


def measure(args) -> None:
    from jaxjam.data_gen.jam_labels import LabelConfig, component_maps

    grid = parse_grid(args.grid)
    settings = {k: parse_settings(v) for k, v in (s.split("=") for s in args.settings)}
    reference = parse_settings(args.reference)
    k, n = parse_part(args.part)
    rows = []
    cases = _cases(args.n_sampled, args.seed, args.config, args.q_int, args.only)
    for name, mge, q, ratio in cases[k::n]:
        ref = component_maps(mge, q, ratio, grid, LabelConfig(**reference))
        if not ref.physical:
            print(f"{name} q_int={q}: unphysical, skipped")
            continue
        row = {"name": name, "q_int": q, "ratio": ratio, "seconds": {}}
        for key, kw in settings.items():
            t = time.perf_counter()
            row[key] = _errors(component_maps(mge, q, ratio, grid, LabelConfig(**kw)), ref)
            row["seconds"][key] = time.perf_counter() - t
        print(
            f"{name:9s} q_int={q:.3f} ratio={ratio:.2f}  "
            + "  ".join(
                f"{key}: {row[key]['p99']:.1e}/{row[key]['bh_p99']:.1e}" for key in settings
            )
        )
        rows.append(row)
    write_json(Path(args.out) / f"{args.name}_{k}.json",
               {"machine": machine_info(), "grid": grid.to_dict(), "reference": reference,
                "settings": settings, "bh_fraction": BH_FRACTION, "rows": rows})  # fmt: skip


def merge(args) -> None:
    parts = sorted(Path(args.out).glob(f"{args.name}_*.json"))
    data = [json.loads(p.read_text()) for p in parts]
    rows = [r for d in data for r in d["rows"]]
    settings = list(data[0]["settings"])
    print(
        f"{len(rows)} cases; |ΔVrms|/Vrms against nang {data[0]['reference']['nang']} / "
        f"nlos {data[0]['reference']['nlos']}; p99 over each case's nodes, worst case per band"
    )
    print(f"{'q_int band':>12} {'n':>3} " + " ".join(f"{s:>24}" for s in settings))
    summary = {}
    for lo, hi in BANDS:
        sel = [r for r in rows if lo <= r["q_int"] < hi]
        if not sel:
            continue
        cells, band = [], {}
        for s in settings:
            worst = {m: max(r[s][m] for r in sel) for m in ("p99", "bh_p99", "max", "bh_max")}
            band[s] = worst
            cells.append(f"{100 * worst['p99']:.3f}/{100 * worst['bh_p99']:.3f}% "
                         f"({100 * worst['bh_max']:.2f}%)")  # fmt: skip
        summary[f"{lo}-{hi}"] = {"n": len(sel), **band}
        print(f"{lo:5.2f}-{hi:<5.2f} {len(sel):>3} " + " ".join(f"{c:>24}" for c in cells))
    seconds = {s: float(np.median([r["seconds"][s] for r in rows])) for s in settings}
    print("median seconds (A + B labels, this grid):", seconds)
    write_json(Path(args.out) / f"{args.name}.json",
               {"machine": data[0]["machine"], "grid": data[0]["grid"],
                "reference": data[0]["reference"], "settings": data[0]["settings"],
                "bands": summary, "seconds_median": seconds, "rows": rows})  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n-sampled", type=int, default=3)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--config", default=str(Path(__file__).parents[2] / "configs/generate_v2.json"))
    ap.add_argument("--grid", default="80,24,1e-4,3", metavar="N_R,N_THETA,R_MIN_RE,R_MAX_RE")
    ap.add_argument(
        "--settings",
        nargs="+",
        metavar="NAME=NANG,NLOS",
        default=["nang24=24,120", "nang30=30,120", "nang36=36,120", "nang42=42,120"],
    )
    ap.add_argument("--reference", default="45,800", metavar="NANG,NLOS")
    ap.add_argument("--part", default="0/1", metavar="K/N")
    ap.add_argument("--q-int", type=float, nargs="+", default=Q_INT_LADDER,
                    help="measure only these rungs of the q_int ladder (the ratios stay those "
                         "of the full ladder)")  # fmt: skip
    ap.add_argument(
        "--only",
        nargs="+",
        default=None,
        metavar="NAME",
        help="measure only these galaxies (M32, NGC4342, NGC5831, sampled0, ...)",
    )
    ap.add_argument("--name", default="label_nang_by_flattening", help="output file stem")
    ap.add_argument("--out", default="benchmarks/out")
    ap.add_argument("--merge", action="store_true", help="summarise the parts' JSON files")
    args = ap.parse_args()
    merge(args) if args.merge else measure(args)


if __name__ == "__main__":
    main()
