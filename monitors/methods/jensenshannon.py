"""Jensen-Shannon distance: Evidently's default for categorical columns with a large reference.

SciPy's ``jensenshannon`` (natural logarithm) of Evidently's binned shares, without zero
filling; drift at or above 0.1. Pooling values that the reference never saw into one bucket
leaves it unchanged, so it stays exact when a window brings many new values.

>>> from monitors.baseline import build_baseline
>>> from monitors.summary import summarize
>>> baseline = build_baseline([{"c": v} for v in "aaab"], {"c": "string"})
>>> window = summarize([{"c": v} for v in "abbb"], baseline, seed=0)
>>> comparison = ColumnComparison(baseline.features["c"], window.features["c"])
>>> round(JensenShannon().score(comparison), 6)  # distance.jensenshannon([.75, .25], [.25, .75])
0.361679
"""

from __future__ import annotations

from scipy.spatial import distance

from ..comparison import ColumnComparison
from .base import DriftMethod


class JensenShannon(DriftMethod):
    name = "jensenshannon"
    title = "Jensen-Shannon distance"
    default_threshold = 0.1
    higher_is_drift = True

    def score(self, comparison: ColumnComparison) -> float:
        reference, current = comparison.binned_shares()
        return float(distance.jensenshannon(reference, current))
