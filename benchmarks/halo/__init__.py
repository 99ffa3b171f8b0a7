"""The dark-halo basis: Gaussian widths, linearity, label settings."""
