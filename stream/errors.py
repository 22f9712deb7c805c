"""Exceptions of the ``stream`` package, under one root error."""

from __future__ import annotations


class DriftlineError(Exception):
    """Root of every error Driftline raises on purpose."""


class ConfigError(DriftlineError):
    """A setting is missing or malformed; the message says what to change."""


class ArtifactError(DriftlineError):
    """An artifact cannot be read, or its signature does not verify."""


class RegistryError(DriftlineError):
    """The model registry cannot do what was asked (unknown model, version or alias)."""


class DatasetError(DriftlineError):
    """A data set cannot be found or read."""


class StackError(DriftlineError):
    """The embedded broker or Redis cannot be started, reached or stopped."""


class BatchError(DriftlineError):
    """A batch prediction cannot run: the input cannot be read or the output cannot be written."""


class MonitoringError(DriftlineError):
    """Drift monitoring cannot do what was asked (no such window, its baseline cannot be found)."""
