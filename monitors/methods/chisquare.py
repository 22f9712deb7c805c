"""Chi-square test: Evidently's default for categorical columns with a small reference.

Evidently's version is a goodness-of-fit test of the window's counts against the reference
shares scaled to the window size (``scipy.stats.chisquare``), p-value, drift below 0.05. A value
the reference never saw has an expected count of zero, which makes the p-value 0.

>>> from monitors.baseline import build_baseline
>>> from monitors.summary import summarize
>>> baseline = build_baseline([{"c": v} for v in "aaabbc" * 10], {"c": "string"})
>>> window = summarize([{"c": v} for v in "abbbcc" * 10], baseline, seed=0)
>>> comparison = ColumnComparison(baseline.features["c"], window.features["c"])
>>> ChiSquare().score(comparison)  # scipy.stats.chisquare([10, 30, 20], [30, 20, 10])
7.038738644428705e-07
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chisquare

from ..comparison import CATEGORICAL, ColumnComparison
from .base import DriftMethod


class ChiSquare(DriftMethod):
    name = "chisquare"
    title = "chi-square p_value"
    default_threshold = 0.05
    higher_is_drift = False
    families = frozenset({CATEGORICAL})

    def score(self, comparison: ColumnComparison) -> float:
        _, reference, current = comparison.value_counts()
        expected = reference * (comparison.n_current / comparison.n_reference)
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(chisquare(current, expected).pvalue)
