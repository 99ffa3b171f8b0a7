"""Shared fixtures of the tests, benchmarks and the demo: jampy's M32 example
(:mod:`~jaxjam.testing.m32`), converged jampy mocks of real and sampled photometry
(:mod:`~jaxjam.testing.mocks`) and the posterior of jampy itself for reference samplers
(:mod:`~jaxjam.testing.jampy_posterior`). The layer above inference, below the command line."""
