"""Training batches and the training loss of the emulator (used by :mod:`jaxjam.emulator.training`).

The loss, per physical sample and node, is the squared relative error of Vrms:

- for the stars, ``(Δ log A / 2)²``;
- for a response without an input (the black hole), at the scaling M_BH/(Υ L) =
  ``bh_loss_fraction``: ``(f ΔB / 2V²)²``;
- for a response with an input (the halo), at the label's own reference mass, which its target
  already carries (:mod:`jaxjam.emulator.transforms`): ``(Δ(m_ref H) / 2V²)²``;

with ``V² = A + f B + m_ref H`` (responses clipped at 0). Unphysical samples train only the
physicality output: a binary cross-entropy for the global logit (``physicality="global"``) or,
for ``physicality="radius"``, the squared error of log10 of the physical radius at each angle,
one-sided where the label is censored (physical out to the grid's edge, or not even at its
first radius).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxjam.emulator.transforms import (
    Normalization,
    input_components,
    jam_scalars,
    per_component_inputs,
)

__all__ = ["FIELDS", "fields", "loss_fn", "pca_basis", "prepare_batch", "qobs_min"]

FIELDS = ["image", "q_int", "ratio", "mge_qobs", "mge_mask", "status"]


def qobs_min(batch) -> np.ndarray:
    """q'min of each sample's MGE, shape (n,)."""
    q = np.where(batch["mge_mask"], batch["mge_qobs"], np.inf)
    return q.min(axis=-1)


def fields(components, physical_radius: bool = False) -> list[str]:
    """The store arrays training reads: :data:`FIELDS`, each component's map and input, and
    ``physical_radius_re`` for a radius physicality head."""
    out = FIELDS + [c.symbol for c in components]
    out += [c.input_key for c in components if c.input_key]
    return out + (["physical_radius_re"] if physical_radius else [])


def store_inputs(batch, components) -> np.ndarray | None:
    """The input components' values, shape (n, n_inputs), or None if there are none."""
    cols = input_components(components)
    if not cols:
        return None
    return np.stack([np.asarray(batch[components[k].input_key], np.float64) for k in cols], -1)


def prepare_batch(batch: dict, norm: Normalization, bh_fraction: float = 1e-2,
                  radius_edges_re: tuple[float, float] | None = None) -> dict:  # fmt: skip
    """Store batch → standardised float32 network inputs, targets and masks.

    ``radius_edges_re`` (the grid's first and last radius) adds the physical-radius targets
    ``log_rphys`` (n, n_theta) and their censoring flags ``rphys_below`` / ``rphys_above``.
    """
    status = np.asarray(batch["status"])
    physical = np.isin(status, (0, 2))
    # unphysical samples only train the physicality output; their maps may be NaN (a jampy
    # failure, status 3), and a masked NaN would still poison the loss (0 × NaN = NaN)
    comps = norm.components
    maps = np.stack([np.where(physical[:, None, None], batch[c.symbol],
                              1.0 if c.target == "log" else 0.0)
                     for c in comps], axis=1).astype(np.float64)  # fmt: skip
    inputs = store_inputs(batch, comps)
    scalars = jam_scalars(batch["q_int"], batch["ratio"], qobs_min(batch))
    # 1 / V² with every "linear_r" response at its loss scaling (the black hole's at
    # bh_fraction M/L, an input component's at its reference mass): the Vrms weight of errors
    v2 = maps[:, 0].copy()
    values = per_component_inputs(comps, inputs)
    for k, c in enumerate(comps):
        if c.target == "linear_r":
            f = bh_fraction if c.input_scale is None else c.input_scale(values[k])
            v2 += f * np.clip(maps[:, k], 0, None)
    out = {
        "image": norm.standardize_image(batch["image"]).astype(np.float32),
        "scalars": norm.standardize_scalars(scalars).astype(np.float32),
        "z": norm.encode_targets(maps, inputs).astype(np.float32),
        "inv_v2": (1.0 / v2).astype(np.float32),
        "physical": physical.astype(np.float32),
    }
    if inputs is not None:
        out["inputs"] = inputs.astype(np.float32)
    if radius_edges_re is not None:
        r = np.asarray(batch["physical_radius_re"], np.float64)
        lo, hi = radius_edges_re
        out["log_rphys"] = np.log10(np.clip(r, lo, hi)).astype(np.float32)
        out["rphys_below"] = (r < lo).astype(np.float32)  # not physical at the first radius
        out["rphys_above"] = (r >= hi).astype(np.float32)  # physical out to the last
    return out


def loss_fn(graphdef, params, rest, batch, norm_arrays, cfg):
    """The training loss (module docstring) and its parts, for ``jax.value_and_grad``.

    ``norm_arrays`` is ``(target_std, r_re, linear, has_scale)``: per component its target
    standard deviation (n_r, n_theta), the grid radii (n_r,), whether its target is
    ``"linear_r"``, and whether its input's scale is in the target; ``cfg`` a
    :class:`~jaxjam.emulator.training.TrainConfig`.
    """
    model = nnx.merge(graphdef, params, rest)
    z, phys = model(batch["image"], batch["scalars"], batch.get("inputs"))
    stds, r, linear, has_scale = norm_arrays
    w = batch["physical"][:, None, None]
    n_phys = jnp.maximum(batch["physical"].sum(), 1.0) * z.shape[-1] * z.shape[-2]
    errs = []
    for k, is_linear in enumerate(linear):
        e = 0.5 * (z[:, k] - batch["z"][:, k]) * stds[k]
        if is_linear:  # error of the response at its loss scaling, relative to V²
            f = 1.0 if has_scale[k] else cfg.bh_loss_fraction
            e = f * e / r[:, None] * batch["inv_v2"]
        errs.append(e)
    map_loss = jnp.sum(w * sum(e**2 for e in errs)) / n_phys
    if "log_rphys" in batch:
        d = phys - batch["log_rphys"]
        # censored labels: only a prediction on the wrong side of the edge is an error
        d = jnp.where(batch["rphys_above"] > 0, jnp.minimum(d, 0.0), d)
        d = jnp.where(batch["rphys_below"] > 0, jnp.maximum(d, 0.0), d)
        phys_loss = jnp.mean(d**2)
    else:
        phys_loss = optax.sigmoid_binary_cross_entropy(phys, batch["physical"]).mean()
    loss = map_loss + cfg.physical_loss_weight * phys_loss
    parts = {"loss": loss, "map_loss": map_loss, "bce": phys_loss,
             "rms_rel_vrms_a": jnp.sqrt(jnp.sum(w * errs[0] ** 2) / n_phys)}  # fmt: skip
    for k in range(1, len(errs)):
        parts[f"rms_rel_vrms_{k}"] = jnp.sqrt(jnp.sum(w * errs[k] ** 2) / n_phys)
    return loss, parts


def pca_basis(z, rank: int) -> np.ndarray:
    """The leading principal maps of standardised targets, scaled for O(1) coefficients.

    Parameters
    ----------
    z : array, shape (n, n_nodes)
        One component's standardised targets (mean ≈ 0 per node).
    rank : int

    Returns
    -------
    array, shape (rank, n_nodes), float32
        The right singular vectors times singular value / sqrt(n); rows beyond the data's
        rank are zero.
    """
    z = np.asarray(z, np.float64)
    _, s, vt = np.linalg.svd(z - z.mean(0), full_matrices=False)
    out = np.zeros((rank, z.shape[1]))
    k = min(rank, s.size)
    out[:k] = vt[:k] * (s[:k] / np.sqrt(len(z)))[:, None]
    return out.astype(np.float32)
