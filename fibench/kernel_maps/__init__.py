"""Kernel-name maps (TOML data), one per suite."""
