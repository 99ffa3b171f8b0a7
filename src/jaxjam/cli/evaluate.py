"""``jaxjam evaluate`` and ``jaxjam attach-metrics``: a model's accuracy against jampy, and
its test metrics."""

from __future__ import annotations

import click
import numpy as np

from jaxjam.cli.options import CONTEXT, user_errors


@click.command(context_settings=CONTEXT)
@click.option(
    "--model",
    "model_dir",
    type=click.Path(exists=True, file_okay=False),
    required=True,
    help="Run directory (or its model/ directory).",
)
@click.option(
    "--data",
    type=click.Path(exists=True, file_okay=False),
    required=True,
    help="Held-out store, generated with a seed other than the training set's.",
)
@click.option(
    "--n-real",
    type=click.IntRange(min=0),
    default=8,
    show_default=True,
    help="(q_int, ratio) draws per real galaxy (M32, NGC 4342, NGC 5831).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of those draws.")
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    required=True,
    help="Evaluation JSON to write, outside the model directory; an existing file is refused. "
    "The PNG plots go beside it.",
)
def evaluate(model_dir, data, n_real, seed, out_path):
    """Accuracy against jampy on a held-out store and on real galaxies (JSON + PNG plots).

    The model is only read. To make the results the model's test metrics (the error model that
    fits use), run `jaxjam attach-metrics` on the JSON.
    """
    from jaxjam.emulator.evaluation import evaluate as run

    with user_errors():
        res = run(model_dir, data, out_path, n_real_draws=n_real, seed=seed)
    s = res["store"]["no_bh"]
    click.echo(
        f"held-out store, M_BH = 0: median {s['median']:.2%}, p95 {s['p95']:.2%}, "
        f"p99 {s['p99']:.2%}, max {s['max']:.2%}; per-map max <= 2% for "
        f"{s['fraction_maps_max_le_2pct']:.1%} of {s['n_maps']} maps"
    )
    for key, v in res["store"].items():
        if key != "no_bh":
            click.echo(f"  {key}: median {v['median']:.2%}, p99 {v['p99']:.2%}")
    for name, rows in res["real_galaxies"].items():
        if rows:
            worst = max(r["no_bh"]["max"] for r in rows)
            med = np.median([r["no_bh"]["median"] for r in rows])
            click.echo(f"  {name}: median {med:.2%}, worst map max {worst:.2%}")
    click.echo(f"wrote {out_path}; the model is unchanged")
    if res["overlaps_training_set"]:
        click.echo(f"warning: the store overlaps the training set: {res['overlaps_training_set']}")


@click.command("attach-metrics", context_settings=CONTEXT)
@click.option(
    "--model",
    "model_dir",
    type=click.Path(exists=True, file_okay=False),
    required=True,
    help="Run directory (or its model/ directory); not the model shipped in the package.",
)
@click.option(
    "--evaluation",
    "evaluation_path",
    type=click.Path(exists=True, dir_okay=False),
    required=True,
    help="JSON written by `jaxjam evaluate` for this model.",
)
def attach_metrics(model_dir, evaluation_path):
    """Make an evaluation the model's test metrics (held-out errors and the fits' error model).

    Refused for an evaluation of other weights, of a store that overlaps the training set
    (same manifest hash or seed), of fewer than 1,000 held-out maps, and for a model inside the
    installed package.
    """
    from jaxjam.emulator.evaluation import attach_test_metrics

    with user_errors():
        meta = attach_test_metrics(model_dir, evaluation_path)
    tm = meta["test_metrics"]
    click.echo(f"attached test metrics of {tm['no_bh']['n_maps']} held-out maps (store "
               f"{tm['data_manifest_hash'][:12]}) to {model_dir}")  # fmt: skip
