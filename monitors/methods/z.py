"""Z-test for two proportions: Evidently's default for binary columns with a small reference.

The share of values other than the smallest one, compared between reference and window with a
pooled two-sided Z-test; p-value, drift below 0.05. A column with the same single value on both
sides scores 1.

>>> from monitors.baseline import build_baseline
>>> from monitors.summary import summarize
>>> baseline = build_baseline([{"b": i % 2 == 0} for i in range(200)], {"b": "bool"})
>>> window = summarize([{"b": i % 4 == 0} for i in range(200)], baseline, seed=0)
>>> comparison = ColumnComparison(baseline.features["b"], window.features["b"])
>>> ZTest().score(comparison)  # Evidently's _z_stat_test on the raw values gives the same
2.4175638801970933e-07
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from ..comparison import CATEGORICAL, Bucket, ColumnComparison
from ..stats import sort_key
from .base import DriftMethod


class ZTest(DriftMethod):
    name = "z"
    title = "Z-test p_value"
    default_threshold = 0.05
    higher_is_drift = False
    families = frozenset({CATEGORICAL})

    def score(self, comparison: ColumnComparison) -> float:
        keys, reference, current = comparison.value_counts()
        if len(keys) == 1:
            return 1.0
        # Evidently codes the smallest value as 0 and every other value as 1.
        first = min(range(len(keys)), key=lambda i: _order(keys[i]))
        n1, n2 = comparison.n_reference, comparison.n_current
        p1, p2 = (n1 - reference[first]) / n1, (n2 - current[first]) / n2
        pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
        return float(2 * (1 - norm.cdf(np.abs(z))))


def _order(key) -> tuple:
    # Pooled buckets never come first: a real value is always the smallest key.
    return (1, ()) if isinstance(key, Bucket) else (0, sort_key(key))
