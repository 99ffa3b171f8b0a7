"""jampy as truth: convergence, cost, padding and additivity of the labels."""
