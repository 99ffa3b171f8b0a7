"""The per-fit refinement and table: accuracy against jampy near the posterior."""
