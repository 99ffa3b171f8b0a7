"""The command layer: the ``jaxjam`` command line (:mod:`~jaxjam.cli.main`), the M32 demo
(:mod:`~jaxjam.cli.demo`) and the benchmarks (:mod:`~jaxjam.cli.bench`). Nothing in
the library imports from here."""
