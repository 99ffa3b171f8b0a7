"""The command layer: the ``jaxjam`` command line (:mod:`~jaxjam.commands.cli`), the M32 demo
(:mod:`~jaxjam.commands.demo`) and the benchmarks (:mod:`~jaxjam.commands.bench`). Nothing in
the library imports from here."""
