"""Reproducible experiments built on the reference implementations (offline, CPU-sized)."""
