"""Emulator forward time per galaxy against one jampy call on the same grid.

Usage::

    python benchmarks/emulator_speed.py [--model MODEL_DIR] [--out benchmarks/out]

Times, in one run and with ``block_until_ready``: the MLP decoder on cached CNN features at
batch 1 and at large batches, the CNN encoder, and one jampy ``component_maps`` call (A and B,
2 jampy calls) on the default 64×16 grid for M32. Without ``--model`` a randomly initialised
network of the default architecture is timed (the weights do not change the cost). The first
(compiling) call is timed separately; steady state is the median of repeats. Runs unchanged on
a CUDA machine (``pip install "jax[cuda12]"``). Writes ``emulator_speed.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine_info, write_json


def _time(fn, repeats):
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    import numpy as np

    return (
        first,
        float(np.median(times)),
        float(np.percentile(times, 16)),
        float(np.percentile(times, 84)),
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--batches", default="1,16,256,4096")
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--out", default="benchmarks/out")
    args = ap.parse_args()

    import jax
    import jax.numpy as jnp
    from flax import nnx

    from jaxjam.data_gen.jam_labels import component_maps
    from jaxjam.data_gen.real_galaxies import m32_mge
    from jaxjam.network import EmulatorNet, NetworkConfig, count_params, decode_fn, encode_fn

    if args.model:
        from jaxjam.checkpoint import load_model

        model = load_model(args.model)[0]
    else:
        model = EmulatorNet(NetworkConfig(), nnx.Rngs(0))
    graphdef, state = nnx.split(model)
    dec = jax.jit(decode_fn, static_argnums=0)
    enc = jax.jit(encode_fn, static_argnums=0)
    n_feat = model.config.n_features
    res = {"machine": machine_info(), "n_params": count_params(state), "decode": {}, "encode": {}}
    for b in [int(v) for v in args.batches.split(",")]:
        f = jnp.zeros((b, n_feat))
        s = jnp.zeros((b, 6))

        def call(f=f, s=s):
            return dec(graphdef, state, f, s)[0].block_until_ready()

        first, med, lo, hi = _time(call, args.repeats)
        res["decode"][b] = {
            "first_s": first,
            "median_s": med,
            "p16_s": lo,
            "p84_s": hi,
            "per_galaxy_s": med / b,
        }
        print(
            f"MLP decode  batch {b:6d}: {med / b * 1e6:9.2f} us/galaxy (median of "
            f"{args.repeats}; first call {first * 1e3:.0f} ms)"
        )
    img = jnp.zeros((1, 64, 64))
    first, med, lo, hi = _time(lambda: enc(graphdef, state, img).block_until_ready(), args.repeats)
    res["encode"][1] = {"first_s": first, "median_s": med}
    print(f"CNN encode  batch      1: {med * 1e6:9.2f} us (once per galaxy)")
    norm = m32_mge().normalized()[0]
    t = time.perf_counter()
    reps = 5
    for _ in range(reps):
        component_maps(norm, 0.4, 0.9)
    jampy_s = (time.perf_counter() - t) / reps
    res["jampy_component_maps_s"] = jampy_s
    print(f"jampy A+B maps on the 64x16 grid (M32): {jampy_s * 1e3:.0f} ms")
    for b, v in res["decode"].items():
        v["speedup_vs_jampy"] = jampy_s / v["per_galaxy_s"]
        print(f"  speed-up at batch {b}: {v['speedup_vs_jampy']:.3g}x")
    write_json(Path(args.out) / "emulator_speed.json", res)


if __name__ == "__main__":
    main()
