"""Two-sample Kolmogorov-Smirnov test: Evidently's default for numeric columns with a small reference.

The p-value of the two-sided test, drift at or below 0.05 (Evidently compares with ``<=`` here,
``<`` for its other p-values). The statistic comes from the counts below each bin edge (exact for
discrete columns, a lower bound for continuous ones); the p-value is then SciPy's, which depends
on the statistic and the two sample sizes only: it is computed by ``ks_2samp`` on two synthetic
samples of the true sizes that have exactly that statistic.

>>> from monitors.baseline import build_baseline
>>> from monitors.summary import summarize
>>> baseline = build_baseline([{"x": float(i % 10)} for i in range(500)], {"x": "number"})
>>> window = summarize([{"x": float(i % 10 + 1)} for i in range(500)], baseline, seed=0)
>>> comparison = ColumnComparison(baseline.features["x"], window.features["x"])
>>> statistic, ref_below, cur_below = ks_statistic(comparison)
>>> round(statistic, 12), ref_below, cur_below
(0.1, 400, 350)
>>> KolmogorovSmirnov().score(comparison)  # scipy.stats.ks_2samp on the raw values gives the same
0.01343088815558133
"""

from __future__ import annotations

import numpy as np
from scipy.stats import ks_2samp

from ..comparison import NUMERIC, ColumnComparison
from .base import DriftMethod


class KolmogorovSmirnov(DriftMethod):
    name = "ks"
    title = "K-S p_value"
    default_threshold = 0.05
    higher_is_drift = False
    families = frozenset({NUMERIC})

    def score(self, comparison: ColumnComparison) -> float:
        _, below_ref, below_cur = ks_statistic(comparison)
        n, m = comparison.n_reference, comparison.n_current
        return ks_pvalue(below_ref, n, below_cur, m)

    def is_drift(self, score: float, threshold: float) -> bool:
        return bool(score <= threshold)


def ks_statistic(comparison: ColumnComparison) -> tuple[float, int, int]:
    """The largest CDF gap over the bin edges, with the reference and window counts below that edge."""
    ref_below, cur_below = comparison.cumulative_counts()
    if len(ref_below) == 0:
        return 0.0, 0, 0
    gaps = np.abs(ref_below / comparison.n_reference - cur_below / comparison.n_current)
    at = int(np.argmax(gaps))
    return float(gaps[at]), int(ref_below[at]), int(cur_below[at])


def ks_pvalue(ref_below: int, n: int, cur_below: int, m: int) -> float:
    """SciPy's two-sided p-value for the statistic ``|ref_below/n - cur_below/m|`` and sizes n, m."""
    reference = np.repeat([0.0, 1.0], [ref_below, n - ref_below])
    current = np.repeat([0.0, 1.0], [cur_below, m - cur_below])
    return float(ks_2samp(reference, current).pvalue)
