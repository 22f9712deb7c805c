"""Population Stability Index: a second opinion, for numeric and categorical columns.

``Σ (r - c) ln(r / c)`` over Evidently's bins, after its zero filling (empty bins get 0.0001, or
a millionth of the smallest share when that is below 0.0001); drift at or above 0.1.

>>> from monitors.baseline import build_baseline
>>> from monitors.summary import summarize
>>> baseline = build_baseline([{"c": v} for v in "aaab"], {"c": "string"})
>>> window = summarize([{"c": v} for v in "abbb"], baseline, seed=0)
>>> comparison = ColumnComparison(baseline.features["c"], window.features["c"])
>>> round(PopulationStabilityIndex().score(comparison), 4)  # 2 * 0.5 * ln(3)
1.0986
"""

from __future__ import annotations

import numpy as np

from ..comparison import ColumnComparison
from .base import DriftMethod


class PopulationStabilityIndex(DriftMethod):
    name = "psi"
    title = "PSI"
    default_threshold = 0.1
    higher_is_drift = True

    def score(self, comparison: ColumnComparison) -> float:
        reference, current = (fill_zeros(shares) for shares in comparison.binned_shares())
        return float(np.sum((reference - current) * np.log(reference / current)))


def fill_zeros(shares: np.ndarray) -> np.ndarray:
    """Evidently's ``feel_zeroes``: empty bins get a small share so that the logarithm is finite."""
    shares = np.array(shares, dtype=float)
    if not shares.any():  # nothing on this side (no value of the union): every bin equally empty
        return np.full_like(shares, 0.0001)
    smallest = shares[shares != 0].min()
    shares[shares == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return shares
