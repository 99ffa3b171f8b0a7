"""Accuracy of a network (v1 or v2 layout) on store samples, per component, against jampy.

:func:`jaxjam.emulator.evaluation.evaluate` goes through
:class:`~jaxjam.emulator.emulator.Emulator` (v1 layout
only, with real-galaxy labels and plots). This module works on the network itself, so it also
takes v2-layout models (a factorised head, components with an input such as the halo's width,
physicality per radius). It compares the network's maps with the store's jampy labels on the
same grid (no interpolation) and reports, for each case, the relative Vrms error
``|sqrt(V²_net / V²_jampy) − 1|`` at every node where the label's V² > 0:

- ``no_bh``: the stars alone, V² = A;
- ``bh_<f>``: stars and black hole, V² = A + f B at M_BH/(Υ L_tot) = f;
- ``<name>``: stars plus a component with an input (the halo), at the label's own reference
  mass per L_tot (:attr:`~jaxjam.core.components.Component.input_scale`): V² = A + m_ref H.

For ``physicality="radius"`` networks it also reports how often the predicted physical
radius disagrees with the label's about whether a node is physical.

    >>> from jaxjam.emulator.store_accuracy import store_accuracy
    >>> res = store_accuracy("runs/v2/model", "stores/heldout.zarr", indices)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from jaxjam.emulator.batches import fields, qobs_min, store_inputs
from jaxjam.emulator.evaluation import BH_FRACTIONS, summary
from jaxjam.emulator.transforms import jam_scalars, per_component_inputs

__all__ = ["component_errors", "predict_store", "store_accuracy"]


def predict_store(model, norm, batch: dict, batch_size: int = 256):
    """The network's component maps and physicality output for store samples.

    Parameters
    ----------
    model : EmulatorNet
    norm : Normalization
    batch : dict
        Store arrays of n samples (:func:`jaxjam.emulator.batches.fields`).
    batch_size : int

    Returns
    -------
    maps : ndarray, shape (n, n_components, n_r, n_theta)
        Dimensionless maps per unit scaling (G L_tot / R_e), as the store's labels.
    physical : ndarray, shape (n,) or (n, n_theta)
        The logit of P(physical), or log10 of the physical radius in R_e per grid angle.
    """
    import jax
    from flax import nnx

    comps = norm.components
    inputs = store_inputs(batch, comps)
    scalars = norm.standardize_scalars(jam_scalars(batch["q_int"], batch["ratio"],
                                                   qobs_min(batch)))  # fmt: skip
    images = norm.standardize_image(batch["image"])
    graphdef, state = nnx.split(model)

    @jax.jit
    def run(state, image, scalar, inp):
        return nnx.merge(graphdef, state)(image, scalar, inp)

    out_m, out_p = [], []
    for s in range(0, len(scalars), batch_size):
        sl = slice(s, s + batch_size)
        inp = None if inputs is None else inputs[sl].astype(np.float32)
        z, phys = run(state, images[sl].astype(np.float32), scalars[sl].astype(np.float32), inp)
        out_m.append(norm.decode_targets(np.asarray(z, np.float64),
                                         None if inputs is None else inputs[sl]))  # fmt: skip
        out_p.append(np.asarray(phys, np.float64))
    return np.concatenate(out_m), np.concatenate(out_p)


def component_errors(pred, true, components, inputs=None, bh_fractions=BH_FRACTIONS) -> dict:
    """Relative Vrms errors per case (module docstring).

    Parameters
    ----------
    pred, true : ndarray, shape (n, n_components, n_r, n_theta)
        Emulated and jampy maps per unit scaling.
    components : tuple of Component
    inputs : ndarray, shape (n, n_inputs), optional
        The input components' values (the halo's log10 width / R_e).
    bh_fractions : sequence of float
        M_BH / (Υ L_tot) of the black-hole cases.

    Returns
    -------
    dict
        case → |ΔVrms|/Vrms, shape (n, n_r, n_theta), NaN where the label's V² ≤ 0.
    """
    pred, true = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    values = per_component_inputs(components, inputs)

    def err(weights):  # component → scaling, broadcastable to (n, n_r, n_theta)
        v2t = true[:, 0] + sum(w * true[:, k] for k, w in weights.items())
        v2p = pred[:, 0] + sum(w * pred[:, k] for k, w in weights.items())
        with np.errstate(invalid="ignore", divide="ignore"):
            e = np.abs(np.sqrt(np.clip(v2p, 0, None) / v2t) - 1)
        return np.where(v2t > 0, e, np.nan)

    out = {"no_bh": err({})}
    for k, c in enumerate(components[1:], start=1):
        if c.input_scale is None:
            for f in bh_fractions:
                out[f"bh_{f:g}"] = err({k: f})
        else:
            out[c.name] = err({k: np.asarray(c.input_scale(values[k]), np.float64)})
    return out


def _radius_disagreement(log_rphys, label_re, r_re) -> dict:
    """Nodes the predicted physical radius puts on the other side of the label's."""
    pred = 10.0 ** np.asarray(log_rphys)[:, None, :]  # (n, 1, n_theta)
    label = np.asarray(label_re)[:, None, :]
    r = np.asarray(r_re)[None, :, None]
    false_refusal = (r <= label) & (r > pred)  # physical, but refused
    false_accept = (r > label) & (r <= pred)
    return {
        "fraction_nodes_false_refusal": float(false_refusal.mean()),
        "fraction_nodes_false_accept": float(false_accept.mean()),
        "fraction_maps_any_false_refusal": float(false_refusal.any(axis=(1, 2)).mean()),
    }


def store_accuracy(model_dir, data, indices=None, batch_size: int = 256) -> dict:
    """Accuracy of a saved model on a store's physical samples (module docstring).

    Parameters
    ----------
    model_dir : str or Path
        A model directory (:func:`jaxjam.emulator.checkpoint.save_model`).
    data : str or Path
        A store of the model's grid and components (held out: another seed, or samples the
        training never read).
    indices : array of int, optional
        Store samples to use (default every finished one); unphysical ones count only for
        the physicality.
    batch_size : int

    Returns
    -------
    dict
        ``{"n_samples", "n_physical", "cases": {case: summary}, "physicality": {...}}``; the
        summaries as :func:`jaxjam.emulator.evaluation.summary` (median, p99, fraction of maps with
        max ≤ 2%, ...).
    """
    from jaxjam.data_gen.store import StoreReader
    from jaxjam.emulator.checkpoint import load_model

    model, norm, _ = load_model(model_dir)
    store = StoreReader(data)
    comps = norm.components
    if np.asarray(store.manifest["grid"]["n_r"]) != norm.r_re.size:
        raise ValueError(f"the store {data} has another grid than the model {model_dir}")
    if indices is None:
        indices = np.nonzero(store.completed_mask())[0]
    radius = model.config.physicality == "radius"
    batch = store.read(np.asarray(indices), fields(comps, physical_radius=radius))
    maps, phys = predict_store(model, norm, batch, batch_size)
    ok = np.isin(batch["status"], (0, 2))
    true = np.stack([batch[c.symbol] for c in comps], axis=1)[ok]
    inputs = store_inputs(batch, comps)
    errs = component_errors(maps[ok], true, comps, None if inputs is None else inputs[ok])
    out = {"n_samples": len(ok), "n_physical": int(ok.sum()),
           "cases": {k: summary(e) for k, e in errs.items()}}  # fmt: skip
    if radius:
        out["physicality"] = _radius_disagreement(phys, batch["physical_radius_re"], norm.r_re)
    else:
        pred_ok = phys > 0
        out["physicality"] = {"accuracy": float(np.mean(pred_ok == ok))}
    return out
