"""Projected wall time on a real network: link model, profiles, trace replay, compute calibration."""
