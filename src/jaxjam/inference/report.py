"""Write a fit to disk: the DESIGN.md contract of ``jaxjam fit``.

``OUT/posterior.nc`` (ArviZ DataTree), ``summary.csv`` (one row per parameter: mean, sd, 94%
HDI, R-hat, bulk/tail ESS), ``corner.png``, ``trace.png`` and ``maps.png`` (data | model |
residual), plus ``timing.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from jaxjam.inference.diagnostics import parameter_names

__all__ = ["plot_maps", "save_fit"]


def save_fit(result, out_dir, plots: bool = True) -> Path:
    """Write a :class:`~jaxjam.inference.FitResult` to ``out_dir`` (created if needed); the
    PNG plots only with ``plots``."""
    import arviz as az
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result.datatree.to_netcdf(out / "posterior.nc")
    result.summary.to_csv(out / "summary.csv", index_label="parameter")
    (out / "timing.json").write_text(json.dumps(result.timing, indent=1))
    if not plots:
        return out
    names = parameter_names(result.datatree)
    pm = az.plot_pair(result.datatree, var_names=names, backend="matplotlib")
    pm.savefig(out / "corner.png", dpi=100)
    pc = az.plot_trace_dist(result.datatree, var_names=names, backend="matplotlib")
    pc.savefig(out / "trace.png", dpi=100)
    plt.close("all")
    plot_maps(result.datatree, out / "maps.png")
    return out


def plot_maps(dt, path) -> None:
    """Data | posterior-median model | residual (in σ) at the bins, as coloured points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = dt["constant_data"]
    x, y, err = (c[k].values for k in ("x_arcsec", "y_arcsec", "vrms_err_kms"))
    data = dt["observed_data"]["vrms_kms"].values
    pred = dt["posterior_predictive"]["vrms_kms"].values
    model = np.median(pred.reshape(-1, pred.shape[-1]), axis=0)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.4), sharex=True, sharey=True)
    lo, hi = np.percentile(np.concatenate([data, model]), [1, 99])
    size = 3e4 / max(x.size, 1) ** 1.0
    vel = {"cmap": "inferno", "vmin": lo, "vmax": hi}
    panels = (
        (axes[0], data, "data Vrms (km/s)", vel),
        (axes[1], model, "model Vrms, posterior median (km/s)", vel),
        (axes[2], (data - model) / err, "residual (data − model)/error",
         {"cmap": "RdBu_r", "vmin": -3, "vmax": 3}),
    )  # fmt: skip
    for ax, val, title, kw in panels:
        sc = ax.scatter(x, y, c=val, s=min(size, 60), marker="s", **kw)
        fig.colorbar(sc, ax=ax)
        ax.set(title=title, xlabel="x (arcsec)", aspect="equal")
    axes[0].set_ylabel("y (arcsec)")
    chi2 = np.sum(((data - model) / err) ** 2)
    fig.suptitle(f"χ² = {chi2:.1f} for {x.size} bins")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
