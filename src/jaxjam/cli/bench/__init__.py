"""``jaxjam bench``: speed against jampy on CPU and GPU, survey-scale throughput, and the
network's FLOP/s against the device's measured peak. See
:func:`jaxjam.cli.bench.run.run_bench`."""

from jaxjam.cli.bench.run import BenchConfig, run_bench

__all__ = ["BenchConfig", "run_bench"]
