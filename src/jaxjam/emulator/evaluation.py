"""Accuracy of a trained emulator against jampy labels, with plots.

``evaluate(model, store, out)`` compares emulated and jampy Vrms on every physical sample of a
held-out store (generated with another seed), for M_BH = 0 and for black-hole-dominated
combinations, and on MGEs of real galaxies never seen in training (M32 and mgefit's NGC 4342
and NGC 5831), whose jampy labels it computes. It writes a JSON file and PNG plots beside the
model, never into it: evaluating a model never changes it.

``attach_test_metrics(model, evaluation)`` is the separate, explicit step that puts an
evaluation's metrics (``test_metrics``, with the error model every fit uses) into a model's
metadata. It refuses evaluations of other weights, of stores that overlap the training set
(same manifest hash or same seed), of fewer than :data:`MIN_ATTACH_MAPS` maps, and any model
inside the installed package.
"""

from __future__ import annotations

import itertools
import json
import warnings
from pathlib import Path

import numpy as np
from flax import nnx

from jaxjam.emulator import error_model
from jaxjam.emulator.checkpoint import is_packaged, load_model, update_metadata, weights_sha256

__all__ = [
    "BH_FRACTIONS",
    "MIN_ATTACH_MAPS",
    "attach_test_metrics",
    "evaluate",
    "summary",
    "vrms_errors",
]

#: The fewest held-out maps whose metrics :func:`attach_test_metrics` puts into a model. The
#: error model's amplitudes are RMS values over maps, whose relative standard error is about
#: 1/√(2n): 2.2% at 1,000 maps (and 25% at 8), and the fraction of maps with max ≤ 2% has a
#: binomial error ≤ 1.6 points; the shipped model's test set gives 1,943 maps.
MIN_ATTACH_MAPS = 1000

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


def summary(err) -> dict:
    """Median, p68, p95, p99 and max of finite |ΔVrms|/Vrms, shape (n_maps, ...), the
    median per-map maximum and the fraction of maps whose maximum is ≤ 2%."""
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


def _model_dir(model_dir) -> Path:
    """A model directory, or the ``model/`` directory of a run directory."""
    model_dir = Path(model_dir)
    if (model_dir / "model" / "metadata.json").exists():
        return model_dir / "model"
    return model_dir


def _outputs(out, model_dir: Path, keys) -> list[Path]:
    """The files an evaluation will write (the JSON, then its plots); refuses paths inside
    the model or that exist."""
    out = Path(out)
    if out.suffix != ".json":
        raise ValueError(f"the evaluation output {out} must be a .json file")
    if out.absolute().resolve().is_relative_to(model_dir.absolute().resolve()) or is_packaged(out):
        raise ValueError(f"{out} is inside the model directory {model_dir} or the installed "
                         "package's models: an evaluation is written beside a model, never into "
                         "it; choose another --out")  # fmt: skip
    paths = [out, *(out.with_name(f"{out.stem}_{k}.png") for k in keys)]
    for p in paths:
        if p.exists():
            raise ValueError(f"{p} exists; an evaluation never overwrites one: choose another "
                             "--out or delete it")  # fmt: skip
    return paths


def evaluate(model_dir, data, out, n_real_draws: int = 8, seed: int = 0, max_samples=None):
    """Evaluate a model on a held-out store and on real galaxies; write the results beside it.

    The model is only read: use :func:`attach_test_metrics` to put the results into it.

    Parameters
    ----------
    model_dir : str or Path
        A model directory, or a run directory containing ``model/``.
    data : str or Path
        Held-out store (generated with a different seed from the training set).
    out : str or Path
        JSON file to write (not inside the model directory, and not existing); the plots are
        written beside it as ``{stem}_{case}.png``.
    n_real_draws : int
        (q_int, ratio) draws per real galaxy, each labelled with jampy (0: none).
    seed : int
        Seed of those draws.
    max_samples : int, optional
        Evaluate at most this many store samples.

    Returns
    -------
    dict
        The contents of ``out``.

    Raises
    ------
    ValueError
        If the store is the training set or another grid's, or the outputs are refused; a
        :class:`~jaxjam.data_gen.integrity.StoreDamagedError` if the store is damaged.
    """
    import contextlib
    import io

    from jaxjam.core.geometry import Q_INT_MIN
    from jaxjam.core.photometry import render_photometry
    from jaxjam.data_gen.jam_labels import component_maps
    from jaxjam.data_gen.real_galaxies import real_galaxy_mges
    from jaxjam.data_gen.sampler import draw_jam_parameters
    from jaxjam.data_gen.store import StoreReader
    from jaxjam.emulator.emulator import Emulator

    model_dir = _model_dir(model_dir)
    emu = Emulator.load(model_dir)
    paths = _outputs(out, model_dir, [k for k, _, _ in _cases(emu.components)])
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    store = StoreReader(data)
    if store.manifest["grid"] != emu.metadata["grid"]:
        raise ValueError("the store's grid differs from the model's grid")
    train_hash = emu.metadata.get("data_manifest_hash")
    if train_hash == store.manifest["hash"]:
        raise ValueError("this store is the model's training set; evaluate on a held-out store")
    overlap = _overlap(emu.metadata, store.manifest["hash"], store.manifest["seed"])
    if overlap:
        warnings.warn(f"the store {data} overlaps the model's training set: {overlap}; its "
                      "metrics cannot be attached to the model", stacklevel=2)  # fmt: skip

    done = np.nonzero(store.completed_mask())[0]
    status_all = store.read(done, ["status"])["status"]
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
    res = {"model": str(model_dir),
           "model_weights_sha256": weights_sha256(nnx.to_pure_dict(emu.state)),
           "data": str(data), "data_manifest_hash": store.manifest["hash"],
           "data_seed": store.manifest["seed"], "data_n_samples": store.n_samples,
           "data_checksummed": store.checksummed, "training_manifest_hash": train_hash,
           "training_data_seed": emu.metadata.get("data_seed"),
           "overlaps_training_set": overlap, "store": {}, "real_galaxies": {}}  # fmt: skip

    for key, m, title in _cases(comps):
        err = vrms_errors(pred, true, m)
        per_map = np.nanmax(err.reshape(err.shape[0], -1), axis=1)
        res["store"][key] = {
            **summary(err),
            "vs_radius": {"r_re": grid_r.tolist(),
                          "median": np.nanmedian(err, axis=(0, 2)).tolist(),
                          "p99": np.nanpercentile(err, 99, axis=(0, 2)).tolist()},
            "vs_q_int_position": _binned(q_pos, per_map, np.linspace(0, 1, 6)),
            "vs_ratio": _binned(d["ratio"], per_map, np.linspace(0.5, 1.5, 6)),
        }  # fmt: skip
        _plot(paths[0].with_name(f"{paths[0].stem}_{key}.png"), grid_r, err, q_pos, d["ratio"],
              f"held-out store, {title}")  # fmt: skip

    # structure of the error (signed, on the grid): correlated modes for the fit's likelihood
    signed = vrms_errors(pred, true, signed=True)
    whole = np.all(np.isfinite(signed.reshape(len(idx), -1)), axis=1)
    res["error_model"] = error_model.measure(signed[whole], emu.grid)

    # physicality classifier on every finished sample (including the unphysical ones)
    all_d = store.read(done, ["image", "q_int", "ratio", "mge_qobs", "mge_mask"])
    all_qmin = np.where(all_d["mge_mask"], all_d["mge_qobs"], np.inf).min(axis=1)
    _, p_all = _emulate(emu, all_d["image"], all_d["q_int"], all_d["ratio"], all_qmin)
    truth = np.isin(status_all, (0, 2))
    pred = p_all >= 0.5
    res["physicality"] = {"n": int(truth.size), "n_unphysical": int((~truth).sum()),
                          "accuracy": float(np.mean(pred == truth)),
                          "false_physical": int(np.sum(pred & ~truth)),
                          "false_unphysical": int(np.sum(~pred & truth))}  # fmt: skip

    rng = np.random.default_rng(seed)
    for name, mge in (real_galaxy_mges() if n_real_draws else {}).items():  # MGE fits: ~10 s
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
        res["real_galaxies"][name] = rows
    tmp = paths[0].with_name(f".{paths[0].name}.tmp")
    tmp.write_text(json.dumps(res, indent=1))
    tmp.replace(paths[0])  # atomic: never a half-written evaluation
    return res


def _overlap(meta: dict, data_hash: str, data_seed) -> str | None:
    """Why a store overlaps a model's training set (its manifest hash or its seed), or None.

    Sample ``p`` of a store depends only on the seed and ``p``, so two stores of one seed share
    their first samples whatever their sizes. Models saved before ``data_seed`` was recorded
    are checked by the manifest hash alone.
    """
    if data_hash == meta.get("data_manifest_hash"):
        return "it is the model's training set (same manifest hash)"
    if meta.get("data_seed") is not None and data_seed == meta["data_seed"]:
        return (
            f"it was generated with the training set's seed {data_seed}, so its samples "
            "repeat the training set's"
        )
    return None


def _read_evaluation(path) -> dict:
    """An evaluation JSON file; one that is not JSON (truncated, say) is named in the error."""
    path = Path(path)
    try:
        ev = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"the evaluation file {path} is not valid JSON ({exc}): it is "
                         "truncated or damaged. Run `jaxjam evaluate` again into a new "
                         "--out") from exc  # fmt: skip
    if not isinstance(ev, dict):
        raise ValueError(f"the evaluation file {path} holds no evaluation (a JSON "
                         f"{type(ev).__name__}, not an object): pass the JSON that `jaxjam "
                         "evaluate` wrote")  # fmt: skip
    return ev


def attach_test_metrics(model_dir, evaluation, min_maps: int = MIN_ATTACH_MAPS) -> dict:
    """Put an evaluation's held-out metrics into a model's metadata (``test_metrics``).

    ``test_metrics`` holds the model's error model, which every fit's likelihood uses, and its
    p68 error: they must come from enough maps that the model has never seen.

    Parameters
    ----------
    model_dir : str or Path
        A model directory, or a run directory containing ``model/``; not one shipped inside
        the installed package.
    evaluation : str, Path or dict
        The JSON file written by :func:`evaluate` (or its contents), for this model.
    min_maps : int
        The fewest held-out maps accepted (:data:`MIN_ATTACH_MAPS`).

    Returns
    -------
    dict
        The model's new metadata.

    Raises
    ------
    ValueError
        If the model is inside the installed package, the evaluation file is not JSON (named),
        the evaluation is of other weights, its store overlaps the training set, or it has
        fewer than ``min_maps`` maps.
    """
    model_dir = _model_dir(model_dir)
    if is_packaged(model_dir):
        raise ValueError(
            f"{model_dir} is inside the installed jaxjam package: metrics are never written "
            "there. Copy the model directory elsewhere, attach the metrics to the copy, and "
            "ship it as docs/training.md (Reproducing the pretrained model) describes"
        )
    ev = evaluation if isinstance(evaluation, dict) else _read_evaluation(evaluation)
    model, _, meta = load_model(model_dir)
    if "model_weights_sha256" not in ev:
        raise ValueError("the evaluation does not record the weights it measured (an older "
                         "jaxjam wrote it): run `jaxjam evaluate` on this model again")  # fmt: skip
    if ev["model_weights_sha256"] != weights_sha256(nnx.to_pure_dict(nnx.split(model)[1])):
        raise ValueError(f"this evaluation ({ev.get('model')}) was made for other weights than "
                         f"those in {model_dir}: run `jaxjam evaluate` on this model")  # fmt: skip
    overlap = _overlap(meta, ev["data_manifest_hash"], ev.get("data_seed"))
    if overlap:
        raise ValueError(f"the evaluation's store {ev.get('data')} overlaps the training set: "
                         f"{overlap}. Generate a held-out store with another --seed")  # fmt: skip
    n_maps = min(ev["store"]["no_bh"]["n_maps"], ev["error_model"]["n_maps"])
    if n_maps < min_maps:
        spread = 1 / np.sqrt(2 * max(n_maps, 1))
        raise ValueError(
            f"the evaluation has {n_maps} held-out maps, fewer than the {min_maps} needed for "
            f"test metrics (the error model's amplitudes would be uncertain by {spread:.0%}): "
            f"evaluate on a larger held-out store (`jaxjam generate --n {2 * min_maps} --seed S`"
            " with a seed other than the training set's)"
        )
    metrics = {
        "data_manifest_hash": ev["data_manifest_hash"],
        "data_seed": ev.get("data_seed"),
        **{k: {m: v[m] for m in ("n_maps", "median", "p68", "p95", "p99", "max",
                                 "fraction_maps_max_le_2pct")} for k, v in ev["store"].items()},
        "physicality_accuracy": ev["physicality"]["accuracy"],
        "error_model": ev["error_model"],
    }  # fmt: skip
    return update_metadata(model_dir, {"test_metrics": metrics})
