"""The benchmarks, by what they measure; run each from the repository root as
``python -m benchmarks.FOLDER.SCRIPT`` (``--help`` for its options). Their JSON goes to
``benchmarks/out/``; committed references are in ``benchmarks/reference/``."""
