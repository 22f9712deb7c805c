"""Exceptions of the ``monitors`` package, under one root error.

Invalid constructor arguments raise plain :class:`ValueError`, as River does; the errors below
are raised while working on data. Those that are also about a bad value subclass ``ValueError``
too, so that callers can catch either.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Root of every error the monitoring library raises on purpose."""


class UnknownNameError(MonitorError, ValueError):
    """A drift method or detector name that is not registered; the message lists the valid names."""

    def __init__(self, what: str, name: object, valid: list[str]):
        super().__init__(f"unknown {what} {name!r}; valid names: {', '.join(sorted(valid))}")
        self.name = name
        self.valid = sorted(valid)


class DataError(MonitorError, ValueError):
    """Input data that cannot be summarised (a column of the wrong type, an unknown column)."""


class IncompatibleError(MonitorError):
    """Things that cannot be combined: summaries built against different baselines, or a drift
    method applied to a column kind it does not support."""
