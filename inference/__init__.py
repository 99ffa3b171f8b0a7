"""Priors, likelihood, NUTS sampling and diagnostics (installed as ``jaxjam.inference``).

The fitting layer arrives with the fitting issue; this package reserves the namespace.
"""
