"""Driftline's monitoring library: drift statistics, baselines and detectors.

Works on numpy arrays, dicts and DataFrames, offline; it never imports ``stream`` or Kafka code.
"""
