"""Normed Wasserstein distance: Evidently's default for numeric columns with a large reference.

The first Wasserstein distance divided by the reference's standard deviation (at least 0.001),
drift at or above 0.1. Computed from counts and offset sums per bin (see
:meth:`~monitors.comparison.ColumnComparison.wasserstein`).

>>> from monitors.baseline import build_baseline
>>> from monitors.summary import summarize
>>> baseline = build_baseline([{"x": float(i)} for i in range(1000)], {"x": "number"})
>>> window = summarize([{"x": float(i) + 100} for i in range(1000)], baseline, seed=0)
>>> comparison = ColumnComparison(baseline.features["x"], window.features["x"])
>>> round(NormedWasserstein().score(comparison), 4)  # exact: 100 / std(0..999) = 0.3464
0.3464
"""

from __future__ import annotations

from ..comparison import NUMERIC, ColumnComparison
from .base import DriftMethod


class NormedWasserstein(DriftMethod):
    name = "wasserstein"
    title = "Wasserstein distance (normed)"
    default_threshold = 0.1
    higher_is_drift = True
    families = frozenset({NUMERIC})

    def score(self, comparison: ColumnComparison) -> float:
        norm = max(comparison.reference.stats.std, 0.001)
        return comparison.wasserstein() / norm
