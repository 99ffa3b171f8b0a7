"""Accuracy of a trained emulator against jampy labels, with plots.

``evaluate(model, store)`` compares emulated and jampy Vrms on every physical sample of a
held-out store (generated with another seed), for M_BH = 0 and for black-hole-dominated
combinations, and on MGEs of real galaxies never seen in training (M32 and mgefit's NGC 4342
and NGC 5831), whose jampy labels it computes. It writes ``evaluation.json`` and PNG plots
into the model directory.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np

from jaxjam import error_model
from jaxjam.checkpoint import update_metadata

__all__ = ["BH_FRACTIONS", "evaluate", "vrms_errors"]

#: M_BH / (Υ L_tot) of the black-hole-dominated evaluation (and the scalings over the stars'
#: at which any further component is evaluated).
BH_FRACTIONS = (1e-3, 3e-3, 1e-2)


def vrms_errors(pred, true, relative_scalings=None, signed=False):
    """|ΔVrms|/Vrms per node (ΔVrms/Vrms if ``signed``); NaN where the true V² ≤ 0.

    Parameters
    ----------
    pred, true : ndarray, shape (..., n_components, n_r, n_theta)
        Component maps, emulated and jampy's.
    relative_scalings : array_like, shape (n_components,), optional
        V² = Σ_k m_k C_k with these m_k (the stars' 1 first); default the stars alone.
    signed : bool
    """
    pred, true = np.asarray(pred), np.asarray(true)
    m = np.zeros(pred.shape[-3])
    m[0] = 1.0
    if relative_scalings is not None:
        m = np.asarray(relative_scalings, float)
    v2_true = np.einsum("k,...kij->...ij", m, true)
    v2_pred = np.einsum("k,...kij->...ij", m, pred)
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.sqrt(np.clip(v2_pred, 0, None) / v2_true) - 1
    return np.where(v2_true > 0, err if signed else np.abs(err), np.nan)


def _summary(err):
    e = err[np.isfinite(err)]
    per_map = np.nanmax(err.reshape(err.shape[0], -1), axis=1)
    return {
        "n_maps": int(err.shape[0]),
        "median": float(np.median(e)),
        "p68": float(np.percentile(e, 68.27)),
        "p95": float(np.percentile(e, 95)),
        "p99": float(np.percentile(e, 99)),
        "max": float(e.max()),
        "per_map_max_median": float(np.median(per_map)),
        "fraction_maps_max_le_2pct": float(np.mean(per_map <= 0.02)),
    }


def _binned(x, err_per_map, edges):
    rows = []
    for lo, hi in itertools.pairwise(edges):
        sel = (x >= lo) & (x < hi)
        e = err_per_map[sel]
        e = e[np.isfinite(e)]
        rows.append({"lo": float(lo), "hi": float(hi), "n": int(sel.sum()),
                     "median": float(np.median(e)) if e.size else None,
                     "p99": float(np.percentile(e, 99)) if e.size else None})  # fmt: skip
    return rows


def _emulate(emu, images, q_int, ratio, qmin, batch=512):
    """Emulated maps (n, n_components, n_r, n_theta) and P(physical) (n,)."""
    import jax

    feats_fn = jax.jit(jax.vmap(emu.features_fn, in_axes=(None, 0)))
    maps_fn = jax.jit(jax.vmap(emu.maps_fn, in_axes=(None, 0, 0, 0, 0)))
    out_m, out_p = [], []
    for s in range(0, len(q_int), batch):
        sl = slice(s, s + batch)
        f = feats_fn(emu.state, images[sl])
        m, p = maps_fn(emu.state, f, q_int[sl], ratio[sl], qmin[sl])
        out_m.append(np.asarray(m))
        out_p.append(np.asarray(p))
    return np.concatenate(out_m), np.concatenate(out_p)


def _cases(components):
    """``(key, relative scalings, title)`` of the evaluation: the stars alone, then each
    further component at the :data:`BH_FRACTIONS` scalings."""
    n = len(components)
    out = [("no_bh", np.eye(n)[0], "M_BH = 0")]
    for k, c in enumerate(components[1:], start=1):
        for f in BH_FRACTIONS:
            m = np.eye(n)[0] + f * np.eye(n)[k]
            if c.name == "black_hole":
                out.append((f"bh_{f:g}", m, f"M_BH/M* = {f:g}"))
            else:
                out.append((f"{c.name}_{f:g}", m, f"{c.name} at {f:g} of the stars' scaling"))
    return out


def _plot(path, grid_r, err, q_pos, ratio, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    per_r = np.nanpercentile(err.transpose(1, 0, 2).reshape(err.shape[1], -1), [50, 99], axis=1)
    axes[0].loglog(grid_r, per_r[0], label="median")
    axes[0].loglog(grid_r, per_r[1], label="99th percentile")
    axes[0].set(xlabel="r / R_e", ylabel="|ΔVrms| / Vrms")
    axes[0].legend()
    per_map = np.nanmax(err.reshape(err.shape[0], -1), axis=1)
    axes[1].scatter(q_pos, per_map, s=3)
    axes[1].set(xlabel="(q_int − 0.051)/(q'min − 0.051)", ylabel="per-map max error",
                yscale="log")  # fmt: skip
    axes[2].scatter(ratio, per_map, s=3)
    axes[2].set(xlabel="ratio", ylabel="per-map max error", yscale="log")
    for ax in axes[1:]:
        ax.axhline(0.02, color="0.5", ls="--", lw=1)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def evaluate(model_dir, data, n_real_draws: int = 8, seed: int = 0, max_samples=None) -> dict:
    """Evaluate a model on a held-out store and on real galaxies.

    Parameters
    ----------
    model_dir : str or Path
        A model directory, or a run directory containing ``model/``.
    data : str or Path
        Held-out store (generated with a different seed from the training set).
    n_real_draws : int
        (q_int, ratio) draws per real galaxy, each labelled with jampy.
    seed : int
        Seed of those draws.
    max_samples : int, optional
        Evaluate at most this many store samples.

    Returns
    -------
    dict
        The contents of ``evaluation.json``.
    """
    import contextlib
    import io

    from jaxjam.data_gen.jam_labels import component_maps
    from jaxjam.data_gen.real_galaxies import real_galaxy_mges
    from jaxjam.data_gen.sampler import draw_jam_parameters
    from jaxjam.data_gen.store import StoreReader
    from jaxjam.emulator import Emulator
    from jaxjam.geometry import Q_INT_MIN
    from jaxjam.photometry import render_photometry

    model_dir = Path(model_dir)
    if (model_dir / "model" / "metadata.json").exists():
        model_dir = model_dir / "model"
    emu = Emulator.load(model_dir)
    store = StoreReader(data)
    if store.manifest["grid"] != emu.metadata["grid"]:
        raise ValueError("the store's grid differs from the model's grid")
    train_hash = emu.metadata.get("data_manifest_hash")
    if train_hash == store.manifest["hash"]:
        raise ValueError("this store is the model's training set; evaluate on a held-out store")

    done = np.nonzero(store.completed_mask())[0]
    status_all = store["status"].get_orthogonal_selection((done,))
    idx = store.usable_indices()
    if max_samples:
        idx = idx[:max_samples]
    comps = emu.components
    d = store.read(idx, ["image", "q_int", "ratio", "mge_qobs", "mge_mask",
                         *(c.symbol for c in comps)])  # fmt: skip
    qmin = np.where(d["mge_mask"], d["mge_qobs"], np.inf).min(axis=1)
    pred, _p_phys = _emulate(emu, d["image"], d["q_int"], d["ratio"], qmin)
    true = np.stack([d[c.symbol] for c in comps], axis=1)
    q_pos = (d["q_int"] - Q_INT_MIN) / (qmin - Q_INT_MIN)
    grid_r = emu.grid.r_re
    out = {"model": str(model_dir), "data": str(data), "data_manifest_hash": store.manifest["hash"],
           "training_manifest_hash": train_hash, "store": {}, "real_galaxies": {}}  # fmt: skip

    for key, m, title in _cases(comps):
        err = vrms_errors(pred, true, m)
        per_map = np.nanmax(err.reshape(err.shape[0], -1), axis=1)
        out["store"][key] = {
            **_summary(err),
            "vs_radius": {"r_re": grid_r.tolist(),
                          "median": np.nanmedian(err, axis=(0, 2)).tolist(),
                          "p99": np.nanpercentile(err, 99, axis=(0, 2)).tolist()},
            "vs_q_int_position": _binned(q_pos, per_map, np.linspace(0, 1, 6)),
            "vs_ratio": _binned(d["ratio"], per_map, np.linspace(0.5, 1.5, 6)),
        }  # fmt: skip
        _plot(model_dir / f"eval_{key}.png", grid_r, err, q_pos, d["ratio"],
              f"held-out store, {title}")  # fmt: skip

    # structure of the error (signed, on the grid): correlated modes for the fit's likelihood
    signed = vrms_errors(pred, true, signed=True)
    whole = np.all(np.isfinite(signed.reshape(len(idx), -1)), axis=1)
    out["error_model"] = error_model.measure(signed[whole], emu.grid)

    # physicality classifier on every finished sample (including the unphysical ones)
    all_d = store.read(done, ["image", "q_int", "ratio", "mge_qobs", "mge_mask"])
    all_qmin = np.where(all_d["mge_mask"], all_d["mge_qobs"], np.inf).min(axis=1)
    _, p_all = _emulate(emu, all_d["image"], all_d["q_int"], all_d["ratio"], all_qmin)
    truth = np.isin(status_all, (0, 2))
    pred = p_all >= 0.5
    out["physicality"] = {"n": int(truth.size), "n_unphysical": int((~truth).sum()),
                          "accuracy": float(np.mean(pred == truth)),
                          "false_physical": int(np.sum(pred & ~truth)),
                          "false_unphysical": int(np.sum(~pred & truth))}  # fmt: skip

    rng = np.random.default_rng(seed)
    for name, mge in real_galaxy_mges().items():
        norm = mge.normalized()[0]
        image = render_photometry(norm, emu.image_spec, normalize=False)
        rows = []
        for _ in range(n_real_draws):
            q, r = draw_jam_parameters(rng, norm.qobs_min)
            with contextlib.redirect_stdout(io.StringIO()):
                truth_maps = component_maps(norm, q, r, emu.grid, components=comps)
            if not truth_maps.physical:
                continue
            p, _ = emu.maps_fn(emu.state, emu.features_from_image(image), q, r, norm.qobs_min)
            errs = {key: vrms_errors(np.asarray(p), truth_maps.maps, m)
                    for key, m, _ in _cases(comps)}  # fmt: skip
            rows.append({"q_int": q, "ratio": r,
                         **{key: {"median": float(np.nanmedian(e)), "max": float(np.nanmax(e))}
                            for key, e in errs.items()}})  # fmt: skip
        out["real_galaxies"][name] = rows
    (model_dir / "evaluation.json").write_text(json.dumps(out, indent=1))
    update_metadata(model_dir, {"test_metrics": {
        "data_manifest_hash": out["data_manifest_hash"],
        **{k: {m: v[m] for m in ("n_maps", "median", "p68", "p95", "p99", "max",
                                 "fraction_maps_max_le_2pct")} for k, v in out["store"].items()},
        "physicality_accuracy": out["physicality"]["accuracy"],
        "error_model": out["error_model"]}})  # fmt: skip
    return out
