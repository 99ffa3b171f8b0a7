"""The ``jaxjam`` command line: one group, one module per command (:mod:`jaxjam.cli.fit`,
:mod:`jaxjam.cli.predict`, ...), their shared options in :mod:`jaxjam.cli.options`."""

from __future__ import annotations

import click

from jaxjam.cli.bench.command import bench
from jaxjam.cli.demo import demo
from jaxjam.cli.evaluate import attach_metrics, evaluate
from jaxjam.cli.fit import fit
from jaxjam.cli.generate import generate
from jaxjam.cli.options import CONTEXT
from jaxjam.cli.predict import predict
from jaxjam.cli.survey.command import survey
from jaxjam.cli.train import train

__all__ = ["main"]


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="jaxjam")
def main():
    """jaxjam: a differentiable JAX emulator of Jeans Anisotropic Models (jampy).

    Run `jaxjam COMMAND --help` for the options of each command.
    """


for _command in (generate, train, evaluate, attach_metrics, predict, fit, survey, demo, bench):
    main.add_command(_command)


if __name__ == "__main__":
    main()
