"""Figures of ``jaxjam bench``: forward time against batch size, survey cost, throughput."""

from __future__ import annotations

from pathlib import Path

__all__ = ["plot_all"]

LABELS = {
    "network": "network (MLP on cached features)",
    "vrms_no_psf": "network + physics layer, no PSF",
    "vrms_psf": "network + physics layer, PSF",
}


def _device(results) -> str:
    m = results["machine"]
    return (
        f"{m.get('device_kind', m.get('jax_backend'))} ({m['cpu_model']}, {m['cpu_count']} cores)"
    )


def plot_forward(results, path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for name, rows in results["forward"]["emulator"].items():
        ok = {int(n): r for n, r in rows.items() if "per_galaxy_s" in r}
        if ok:
            n = sorted(ok)
            ax.plot(n, [ok[k]["per_galaxy_s"] for k in n], "o-", label=LABELS[name])
    for key, style in (("psf", "--"), ("no_psf", ":")):
        t = results["forward"]["jampy"][key]["median_s"]
        ax.axhline(t, color="k", ls=style, label=f"jampy jam.axi.proj, {key.replace('_', ' ')}")
    ax.set(xscale="log", yscale="log", xlabel="batch size (parameter sets of one galaxy)",
           ylabel="seconds per galaxy model")  # fmt: skip
    ax.set_title(f"Vrms at M32's 175 bins\n{_device(results)}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_survey(results, path) -> None:
    import matplotlib.pyplot as plt

    rows = results["survey"]["batches"]
    n = sorted(int(k) for k in rows)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for key, label in (("seconds_per_galaxy", "total"), ("sample_s", "NUTS only")):
        y = [rows[str(k)][key] / (1 if key == "seconds_per_galaxy" else k) for k in n]
        ax.plot(n, y, "o-", label=label)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="galaxies in one batched fit",
        ylabel="seconds per galaxy",
        title=f"Survey fits\n{_device(results)}",
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_throughput(results, path) -> None:
    import matplotlib.pyplot as plt

    peak = results["throughput"]["matmul_peak"]["flops_per_s"]
    rows = results["forward"]["emulator"]["network"]
    ok = {int(n): r for n, r in rows.items() if r.get("flops_per_s")}
    fig, ax = plt.subplots(figsize=(5.5, 4))
    n = sorted(ok)
    ax.plot(n, [ok[k]["flops_per_s"] / 1e9 for k in n], "o-", label="network forward")
    ax.axhline(peak / 1e9, color="k", ls="--", label="float32 matmul peak (measured)")
    ax.axhline(0.3 * peak / 1e9, color="grey", ls=":", label="30% of peak")
    ax.set(xscale="log", yscale="log", xlabel="batch size", ylabel="GFLOP/s",
           title=f"Network throughput\n{_device(results)}")  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_all(results, out_dir) -> list[str]:
    """Write ``forward.png``, ``survey.png`` and ``throughput.png``; return their paths."""
    out_dir = Path(out_dir)
    paths = []
    for fn, name in ((plot_forward, "forward.png"), (plot_survey, "survey.png"),
                     (plot_throughput, "throughput.png")):  # fmt: skip
        fn(results, out_dir / name)
        paths.append(str(out_dir / name))
    return paths
