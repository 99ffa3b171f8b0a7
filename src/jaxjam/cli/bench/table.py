"""The README's results table, generated from one or more ``results.json`` files."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["headline", "markdown_table"]


def headline(results: dict) -> dict:
    """The figures the issues set targets for, from one ``results.json``."""
    fwd, grad = results["forward"], results["gradient"]
    psf = {int(n): r for n, r in fwd["emulator"]["vrms_psf"].items() if "per_galaxy_s" in r}
    big = max(psf)
    net = {int(n): r for n, r in fwd["emulator"]["network"].items() if r.get("flops_per_s")}
    # sections absent from a partial results.json (a run cut short) read as missing figures
    peak = results.get("throughput", {}).get("matmul_peak", {}).get("flops_per_s")
    samp = results.get("sampling", {})
    survey = results.get("survey")
    jampy_psf = fwd["jampy"]["psf"]["median_s"]
    nan = float("nan")

    # seconds per gradient; keys absent from results.json files of older versions read as NaN
    gradient_s = {"call": grad["per_call"]["median_s"]}
    for name, key in (("in_loop", "in_loop"), ("refined", "in_loop_refined_head"),
                      ("4_chains", "in_loop_4_chains"), ("table", "table_in_loop"),
                      ("table_4_chains", "table_in_loop_4_chains")):  # fmt: skip
        gradient_s[name] = grad.get(key, {}).get("per_gradient_s", nan)
    demo = samp.get("demo", {})
    survey_row = survey["batches"][str(max(int(k) for k in survey["batches"]))] if survey else {}
    return {
        "jampy_call_psf_ms": 1e3 * jampy_psf,
        "batched_vrms_psf_speedup": jampy_psf / psf[big]["per_galaxy_s"],
        "batched_vrms_psf_batch": big,
        "vrms_psf_batch1_speedup": jampy_psf / psf[min(psf)]["per_galaxy_s"],
        **{f"gradient_us_{k}": 1e6 * t for k, t in gradient_s.items()},
        **{f"gradient_speedup_{k}": jampy_psf / t for k, t in gradient_s.items()},
        "demo_total_s": demo.get("total_s"),
        "demo_sampling_s": demo.get("sample_s"),
        "demo_ess_per_s": demo.get("min_ess_bulk_per_s_total"),
        "demo_ess_per_s_sampling": demo.get("min_ess_bulk_per_s_sampling"),
        "ess_ratio_lower_bound": samp.get("ess_ratio_lower_bound"),
        "ess_ratio_estimate": samp.get("ess_ratio_estimate"),
        "ess_ratio_estimate_sampling": samp.get("ess_ratio_estimate_sampling"),
        "network_fraction_of_peak": (net[max(net)]["flops_per_s"] / peak if net and peak else None),
        "survey_seconds_per_galaxy": survey_row.get("seconds_per_galaxy"),
        "survey_10k_hours": survey["extrapolation"]["hours"] if survey else None,
    }


ROWS = [
    ("jampy `jam.axi.proj`, M32 175 bins + AO PSF (ms)", "jampy_call_psf_ms", "{:.1f}"),
    ("batched emulator Vrms with PSF vs jampy, per galaxy model (largest batch)",
     "batched_vrms_psf_speedup", "{:,.0f}×"),
    ("  — same at batch 1", "vrms_psf_batch1_speedup", "{:,.0f}×"),
    ("one log-posterior gradient, jitted call (µs)", "gradient_us_call", "{:.0f}"),
    ("  — inside the sampler's compiled loop, one chain (µs)", "gradient_us_in_loop", "{:.0f}"),
    ("  — the same with a refined (per-galaxy) head (µs)", "gradient_us_refined", "{:.0f}"),
    ("  — per chain, 4 chains vmapped (µs)", "gradient_us_4_chains", "{:.0f}"),
    ("gradient vs one jampy call (in the loop)", "gradient_speedup_in_loop", "{:,.0f}×"),
    ("  — with a refined head", "gradient_speedup_refined", "{:,.0f}×"),
    ("  — per chain, 4 chains vmapped", "gradient_speedup_4_chains", "{:,.0f}×"),
    ("one gradient on the per-fit table, in the loop, one chain (µs)", "gradient_us_table",
     "{:.0f}"),
    ("  — per chain, 4 chains vmapped (µs)", "gradient_us_table_4_chains", "{:.0f}"),
    ("table gradient vs one jampy call (in the loop)", "gradient_speedup_table", "{:,.0f}×"),
    ("  — per chain, 4 chains vmapped", "gradient_speedup_table_4_chains", "{:,.0f}×"),
    ("demo M32 fit, 4 chains, everything included (s)", "demo_total_s", "{:.1f}"),
    ("  — sampling only: warm-up and draws (s)", "demo_sampling_s", "{:.1f}"),
    ("demo min bulk ESS/s, everything included", "demo_ess_per_s", "{:.0f}"),
    ("  — sampling only", "demo_ess_per_s_sampling", "{:.0f}"),
    ("ESS/s vs emcee over jampy, lower bound (τ = 1), everything included",
     "ess_ratio_lower_bound", "{:,.1f}×"),
    ("ESS/s vs emcee over jampy, τ from the reference run, everything included",
     "ess_ratio_estimate", "{:,.0f}×"),
    ("  — sampler against sampler (NUTS warm-up + draws vs emcee steps)",
     "ess_ratio_estimate_sampling", "{:,.0f}×"),
    ("network FLOP/s at the largest batch / matmul peak", "network_fraction_of_peak", "{:.0%}"),
    ("survey fit, seconds per galaxy (largest batch)", "survey_seconds_per_galaxy", "{:.1f}"),
    ("10,000-galaxy survey, extrapolated (hours)", "survey_10k_hours", "{:.1f}"),
]  # fmt: skip


def _column_name(results: dict) -> str:
    m = results["machine"]
    if m.get("jax_backend") == "cpu":
        return f"CPU: {m['cpu_model']}, {m['cpu_count']} cores"
    return f"{str(m.get('jax_backend')).upper()}: {m.get('device_kind')}"


def _present(v) -> bool:
    return v is not None and v == v  # NaN: a figure the run did not measure


def markdown_table(paths) -> str:
    """A Markdown table with one column per ``results.json`` (e.g. this CPU, a GPU)."""
    runs = [json.loads(Path(p).read_text()) for p in paths]
    heads = [headline(r) for r in runs]
    lines = [
        "| figure | " + " | ".join(_column_name(r) for r in runs) + " |",
        "|---|" + "---:|" * len(runs),
    ]
    for label, key, fmt in ROWS:
        cells = [fmt.format(h[key]) if _present(h.get(key)) else "—" for h in heads]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    quick = [r["config"]["quick"] for r in runs]
    if any(quick):
        lines.append("")
        lines.append("(--quick run: small sizes; not a speed measurement)")
    return "\n".join(lines)
