"""The emulator network, its transforms and checkpoints (no real training)."""

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxjam.core.geometry import inc_from_q_int
from jaxjam.emulator.checkpoint import SCHEMA_VERSION, CheckpointError, load_model, save_model
from jaxjam.emulator.network import EmulatorNet, NetworkConfig, decode_fn, encode_fn
from jaxjam.emulator.transforms import N_SCALARS, Normalization, jam_scalars

SMALL = NetworkConfig(conv_channels=(8, 8, 8, 8, 8), n_features=16, mlp_width=32, mlp_depth=2,
                      grid_shape=(8, 4))  # fmt: skip


@pytest.fixture(scope="module")
def model():
    return EmulatorNet(SMALL, nnx.Rngs(0))


@pytest.fixture(scope="module")
def norm():
    rng = np.random.default_rng(0)
    r = np.geomspace(1e-3, 3, 8)
    return Normalization.fit(rng.normal(size=(20, 64, 64)), rng.normal(size=(20, N_SCALARS)),
                             np.stack([np.exp(rng.normal(size=(20, 8, 4))),
                                       rng.normal(size=(20, 8, 4))], 1), r)  # fmt: skip


def test_output_shapes(model):
    graphdef, state = nnx.split(model)
    feats = encode_fn(graphdef, state, jnp.zeros((3, 64, 64)))
    assert feats.shape == (3, 16)
    z, logit = decode_fn(graphdef, state, feats, jnp.zeros((3, N_SCALARS)))
    assert z.shape == (3, 2, 8, 4) and logit.shape == (3,)  # (batch, components, n_r, n_theta)
    z1, logit1 = model(jnp.zeros((64, 64)), jnp.zeros(N_SCALARS))  # unbatched
    assert z1.shape == (2, 8, 4) and logit1.shape == ()
    np.testing.assert_allclose(z1, z[0], rtol=1e-5, atol=1e-6)


def test_forward_traces_once_per_shape(model):
    graphdef, state = nnx.split(model)
    traces = []

    @jax.jit
    def forward(state, image, scalars):
        traces.append(image.shape)
        return decode_fn(graphdef, state, encode_fn(graphdef, state, image), scalars)

    for _ in range(3):
        forward(state, jnp.ones((4, 64, 64)), jnp.ones((4, N_SCALARS)))[0].block_until_ready()
    assert len(traces) == 1
    forward(state, jnp.ones((2, 64, 64)), jnp.ones((2, N_SCALARS)))
    forward(state, jnp.ones((2, 64, 64)), jnp.ones((2, N_SCALARS)))
    assert len(traces) == 2


def test_gradients_in_q_int_and_ratio_match_finite_differences(model, norm):
    graphdef, state = nnx.split(model)
    feats = encode_fn(graphdef, state, norm.standardize_image(jnp.zeros((64, 64))))
    qmin = 0.6

    def total_a(p):
        scal = norm.standardize_scalars(jam_scalars(p[0], p[1], qmin))
        z, _ = decode_fn(graphdef, state, feats, scal)
        A, B = norm.decode_targets(z)
        return jnp.sum(jnp.sqrt(A + 1e-3 * jnp.abs(B)))

    p = jnp.array([0.3, 0.8])
    grad = jax.grad(total_a)(p)
    assert np.all(np.isfinite(grad))
    for i in range(2):
        h = np.zeros(2, np.float32)
        h[i] = 1e-2
        fd = (total_a(p + h) - total_a(p - h)) / 2e-2
        assert float(grad[i]) == pytest.approx(float(fd), rel=2e-2, abs=1e-4)
    # vmap over parameter sets
    batch = jax.vmap(jax.grad(total_a))(jnp.array([[0.3, 0.8], [0.2, 1.2]]))
    np.testing.assert_allclose(batch[0], grad, rtol=1e-5)


def test_last_hidden_jvp_is_jax_jvp(model):
    """The stacked forward-mode pass equals JAX's own JVP of :meth:`last_hidden`, direction by
    direction, and its value is the plain forward pass."""
    rng = np.random.default_rng(2)
    feats = jnp.asarray(rng.normal(size=16), jnp.float32)
    scal = jnp.asarray(rng.normal(size=N_SCALARS), jnp.float32)
    dirs = jnp.asarray(rng.normal(size=(3, N_SCALARS)), jnp.float32)
    h, dh = model.last_hidden_jvp(feats, scal, dirs)
    np.testing.assert_allclose(h, model.last_hidden(feats, scal), rtol=1e-5, atol=1e-6)
    assert dh.shape == (3, h.shape[0])
    for d, got in zip(dirs, dh, strict=True):
        _, ref = jax.jvp(lambda s: model.last_hidden(feats, s), (scal,), (d,))
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5 * float(jnp.abs(ref).max()))


def test_jam_scalars():
    s = jam_scalars(np.array([0.2, 0.5]), np.array([0.7, 1.3]), np.array([0.6, 0.6]))
    assert s.shape == (2, N_SCALARS)
    np.testing.assert_allclose(s[:, 5], np.cos(np.radians(inc_from_q_int([0.2, 0.5], 0.6))),
                               rtol=1e-10)  # fmt: skip
    np.testing.assert_allclose(s[:, 4], (np.array([0.2, 0.5]) - 0.051) / (0.6 - 0.051))
    assert jam_scalars(jnp.array(0.2), jnp.array(0.7), jnp.array(0.6)).shape == (N_SCALARS,)


def test_target_transform_round_trip(norm):
    rng = np.random.default_rng(1)
    A = np.exp(rng.normal(size=(5, 8, 4)))
    B = rng.normal(size=(5, 8, 4))
    A2, B2 = np.moveaxis(norm.decode_targets(norm.encode_targets(np.stack([A, B], 1))), 1, 0)
    np.testing.assert_allclose(A2, A, rtol=1e-5)
    np.testing.assert_allclose(B2, B, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="physical"):
        Normalization.fit(np.zeros((2, 64, 64)), np.zeros((2, N_SCALARS)),
                          np.stack([-np.ones((2, 8, 4)), np.zeros((2, 8, 4))], 1),
                          np.ones(8))  # fmt: skip
    saved = json.loads(json.dumps(norm.to_dict()))
    # the names checkpoints have always used (the shipped model's metadata)
    assert {"log_a_mean", "log_a_std", "b_r_mean", "b_r_std"} <= set(saved)
    back = Normalization.from_dict(saved)
    for k in range(2):
        np.testing.assert_array_equal(back.target_std[k], norm.target_std[k])
        np.testing.assert_array_equal(back.target_mean[k], norm.target_mean[k])


def test_save_load_round_trip_is_bit_exact(tmp_path, model, norm):
    save_model(tmp_path / "m", model, norm, {"grid": {"n_r": 8}})
    loaded, norm2, meta = load_model(tmp_path / "m")
    a = jax.tree_util.tree_leaves(nnx.to_pure_dict(nnx.split(model)[1]))
    b = jax.tree_util.tree_leaves(nnx.to_pure_dict(nnx.split(loaded)[1]))
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert meta["schema_version"] == SCHEMA_VERSION and meta["grid"] == {"n_r": 8}
    np.testing.assert_array_equal(norm2.image_mean, norm.image_mean)
    image, scalars = jnp.ones((64, 64)), jnp.ones(N_SCALARS)
    np.testing.assert_array_equal(loaded(image, scalars)[0], model(image, scalars)[0])


# Orbax leaves un-awaited read coroutines behind when a restore fails; that is expected here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_checkpoint_errors(tmp_path, model, norm):
    with pytest.raises(CheckpointError, match="no model directory"):
        load_model(tmp_path / "missing")
    path = save_model(tmp_path / "m", model, norm, {})
    meta_file = path / "metadata.json"
    meta = json.loads(meta_file.read_text())

    meta_file.write_text(json.dumps({**meta, "schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(CheckpointError, match="schema version"):
        load_model(path)
    meta_file.write_text(json.dumps({**meta, "parameter_order": ["ratio", "q_int"]}))
    with pytest.raises(CheckpointError, match="parameters"):
        load_model(path)
    meta_file.write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(path)
    meta_file.write_text(json.dumps({**meta, "network": {**meta["network"], "mlp_width": 64}}))
    with pytest.raises(CheckpointError):
        load_model(path)
    meta_file.write_text(json.dumps(meta))
    load_model(path)  # restored metadata loads again
    shutil.rmtree(path / "state")
    with pytest.raises(CheckpointError, match="state"):
        load_model(path)
    meta_file.unlink()
    with pytest.raises(CheckpointError, match=r"metadata\.json"):
        load_model(path)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_corrupt_weights_are_detected(tmp_path, model, norm):
    path = save_model(tmp_path / "m", model, norm, {})
    data_files = [p for p in (path / "state").rglob("*") if p.is_file() and p.stat().st_size > 0
                  and "ocdbt.process" in str(p)]  # fmt: skip
    assert data_files
    for p in data_files:
        p.write_bytes(b"\0" * 16)
    with pytest.raises(CheckpointError):
        load_model(path)


_SAVE_ON_TWO_DEVICES = """
import json, os, sys
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import jax, numpy as np
from flax import nnx
from jaxjam.emulator.checkpoint import save_model
from jaxjam.emulator.network import EmulatorNet, NetworkConfig
from jaxjam.emulator.transforms import Normalization
model = EmulatorNet(NetworkConfig(**{config}), nnx.Rngs(0))
mesh = jax.sharding.Mesh(np.array(jax.devices()), ("d",))
replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
nnx.update(model, jax.tree.map(lambda a: jax.device_put(a, replicated), nnx.state(model)))
norm = Normalization.from_dict(json.loads(open(sys.argv[2]).read()))
save_model(sys.argv[1], model, norm, {{}})
"""


def test_checkpoint_loads_on_another_topology(tmp_path, model, norm):
    """Weights saved on another device layout (here two host devices; in practice a CPU
    checkpoint opened on a GPU) load onto this process's device."""
    import subprocess
    import sys

    (tmp_path / "norm.json").write_text(json.dumps(norm.to_dict()))
    script = _SAVE_ON_TWO_DEVICES.format(config=repr(SMALL.to_dict()))
    subprocess.run(
        [sys.executable, "-c", script, tmp_path / "m", tmp_path / "norm.json"], check=True
    )
    loaded, _, _ = load_model(tmp_path / "m")
    a = jax.tree_util.tree_leaves(nnx.to_pure_dict(nnx.split(model)[1]))
    b = jax.tree_util.tree_leaves(nnx.to_pure_dict(nnx.split(loaded)[1]))
    for x, y in zip(a, b, strict=True):  # same seed, same weights
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert b[0].sharding.device_set == {jax.devices()[0]}
