"""Is the posterior JAM's: certificates, calibration, jampy's own posteriors."""
