"""One column of a window set against its baseline: the views the drift methods compute from.

Everything here works on the baseline's statistics and the window's merged statistics (never on
raw values), so a comparison costs the same whatever the window size. What is exact and what is
approximate, relative to Evidently's computation on the raw values:

* value counts (categorical columns, and numeric columns with at most 20 distinct reference
  values): exact, as long as the reference kept all its categories (``top_k``) and the window
  has at most 20 values new to the reference (more are pooled into one bucket: harmless for
  chi-square, Z and Jensen-Shannon, an approximation for PSI);
* the KS statistic: exact for discrete columns; for continuous ones the largest CDF gap *at the
  bin edges*, a lower bound of the exact statistic, short of it by less than one bin's mass;
* the Wasserstein distance: the sum over bins of ``|∫ (F_ref - F_cur)|``, exact per bin (from
  counts and offset sums) as long as the two CDFs do not cross inside a bin, a lower bound
  otherwise (they cross mostly where they are close, so the bound is tight when it matters);
* Evidently's equal-width (Sturges) histogram for PSI and Jensen-Shannon on continuous columns:
  each side's share per histogram bin comes from its baseline-bin counts, each baseline bin's
  values spread uniformly over the part of the bin that matches their known mean.

>>> from monitors.baseline import build_baseline
>>> from monitors.summary import summarize
>>> baseline = build_baseline([{"c": v} for v in "aab"], {"c": "string"})
>>> window = summarize([{"c": v} for v in "abbx"], baseline, seed=0)
>>> comparison = ColumnComparison(baseline.features["c"], window.features["c"])
>>> keys, reference, current = comparison.value_counts()
>>> keys, reference.tolist(), current.tolist(), comparison.n_unique
(['a', 'b', 'x'], [2, 1, 0], [1, 2, 1], 3)
"""

from __future__ import annotations

import functools

import numpy as np

from .baseline import ColumnBaseline
from .exceptions import IncompatibleError
from .stats import DISCRETE_LIMIT, CategoryStats, NumericStats

NUMERIC, CATEGORICAL = "numeric", "categorical"


class Bucket:
    """A key that stands for several values (pooled categories); sorts after every real value."""

    def __init__(self, label: str):
        self.label = label

    def __repr__(self) -> str:
        return f"<{self.label}>"


OTHER = Bucket("other categories")
MORE_NEW = Bucket("more new values")


class ColumnComparison:
    """A reference column (:class:`~monitors.baseline.ColumnBaseline`) and the window's statistics
    of the same column."""

    def __init__(self, reference: ColumnBaseline, current: NumericStats | CategoryStats):
        self.reference = reference
        self.current = current
        self.family = NUMERIC if reference.numeric else CATEGORICAL

    @property
    def n_reference(self) -> int:
        """Non-missing reference values: the "reference size" of Evidently's method rule."""
        return self.reference.stats.n

    @property
    def n_current(self) -> int:
        return self.current.n

    @functools.cached_property
    def n_unique(self) -> int:
        """Distinct non-missing values over reference and window together.

        Exact when it is at most 20 (all that the method rule needs); otherwise a lower bound.
        """
        current = self.current
        added = len(current.new_values) + (1 if current.new_overflow else 0)
        if self.family == CATEGORICAL and self.reference.layout.truncated:
            return self.reference.n_unique + added
        if self.family == NUMERIC and not self.reference.layout.discrete:
            return self.reference.n_unique
        in_reference = int(np.count_nonzero(self.reference.stats.counts + current.counts))
        if self.family == NUMERIC:
            in_reference = int(np.count_nonzero(self._value_bins(self.reference.stats.counts + current.counts)))
        return in_reference + added

    def _value_bins(self, counts: np.ndarray) -> np.ndarray:
        return counts[1::2]  # discrete layouts: odd bins hold the reference values

    def value_counts(self) -> tuple[list, np.ndarray, np.ndarray]:
        """Keys seen on either side with their reference and window counts (Evidently's
        ``value_counts`` over the union of unique values)."""
        reference, current = self.reference.stats, self.current
        if self.family == NUMERIC:
            if not self.reference.layout.discrete:
                raise IncompatibleError(
                    f"value counts need a numeric column with at most {DISCRETE_LIMIT} distinct reference values"
                )
            keys = list(self.reference.layout.values)
            ref_counts = list(self._value_bins(reference.counts))
            cur_counts = list(self._value_bins(current.counts))
        else:
            keys = list(self.reference.layout.values)
            ref_counts, cur_counts = list(reference.counts), list(current.counts)
            if reference.other or current.other:
                keys.append(OTHER)
                ref_counts.append(reference.other)
                cur_counts.append(current.other)
        # Values off the layout, from both sides: a baseline built from its own rows has none, but a
        # prediction reference re-scored by a model that has learned since (a one-leaf tree's single
        # probability at build time, a dozen once it split) has its own, and left out it read as
        # all zeros (PSI then raised, and Jensen-Shannon was NaN).
        new: dict = {}
        for side, stats in ((0, reference), (1, current)):
            for value, count in stats.new_values.items():
                new.setdefault(value, [0, 0])[side] += count
        for value, (ref_count, cur_count) in new.items():
            keys.append(value)
            ref_counts.append(ref_count)
            cur_counts.append(cur_count)
        if reference.new_overflow or current.new_overflow:
            keys.append(MORE_NEW)
            ref_counts.append(reference.new_overflow)
            cur_counts.append(current.new_overflow)
        ref_array, cur_array = np.array(ref_counts, dtype=np.int64), np.array(cur_counts, dtype=np.int64)
        seen = (ref_array + cur_array) > 0
        return [k for k, s in zip(keys, seen) if s], ref_array[seen], cur_array[seen]

    def cumulative_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Reference and window counts below each bin edge (numeric columns)."""
        self._need_numeric()
        return np.cumsum(self.reference.stats.counts)[:-1], np.cumsum(self.current.counts)[:-1]

    def wasserstein(self) -> float:
        """First Wasserstein distance (not normed) from counts and offset sums per bin."""
        self._need_numeric()
        ref, cur = self.reference.stats, self.current
        edges = self.reference.layout.edges
        n, m = ref.n, cur.n
        if len(edges) == 0:
            return 0.0
        gap_below_edge = np.cumsum(ref.counts)[:-1] / n - np.cumsum(cur.counts)[:-1] / m
        offset_gap = ref.offsets / n - cur.offsets / m
        per_bin = np.empty(len(edges) + 1)
        # ∫ F over [a, b) = (b - a) F(b-) - Σ(x - a) / N; below the first edge ∫ F = Σ(e - x) / N.
        per_bin[0] = offset_gap[0]
        per_bin[1:-1] = np.diff(edges) * gap_below_edge[1:] - offset_gap[1:-1]
        per_bin[-1] = -offset_gap[-1]
        return float(np.abs(per_bin).sum())

    def binned_shares(self) -> tuple[np.ndarray, np.ndarray]:
        """Reference and window shares per bin as Evidently's ``get_binned_data`` makes them (before
        its zero filling): an equal-width histogram with Sturges' bin count over the range of both
        sides when the column is numeric with more than 20 distinct reference values; value
        counts over the union of values otherwise."""
        if self.family == CATEGORICAL or self.reference.layout.discrete:  # <= 20 distinct values
            _, ref_counts, cur_counts = self.value_counts()
            return ref_counts / self.n_reference, cur_counts / self.n_current
        ref, cur = self.reference.stats, self.current
        edges = sturges_edges(min(ref.min, cur.min), max(ref.max, cur.max), ref.n + cur.n)
        return np.diff(self._interpolated_cdf(ref, edges)), np.diff(self._interpolated_cdf(cur, edges))

    def _interpolated_cdf(self, stats: NumericStats, points: np.ndarray) -> np.ndarray:
        """The CDF at ``points``, each bin's values spread uniformly over the part of the bin that
        gives them their known mean (e.g. near the left edge when the mean offset is small), so
        that long tails keep their mass where it is."""
        edges = self.reference.layout.edges
        left = np.concatenate([[stats.min], edges])
        right = np.concatenate([edges, [stats.max]])
        counts = stats.counts
        filled = counts > 0
        left, right, counts, offsets = left[filled], right[filled], counts[filled], stats.offsets[filled]
        # Bin 0 measures offsets from its right edge, the others from their left edge.
        mean = left + offsets / counts
        if filled[0]:
            mean[0] = right[0] - offsets[0] / counts[0]
        mean = np.clip(mean, left, right)
        low_half = mean - left <= right - mean
        # Knots and shares interleaved: (support_low, support_high) and (share before, after) per bin.
        knots = np.empty(2 * len(mean))
        knots[0::2] = np.where(low_half, left, 2 * mean - right)
        knots[1::2] = np.where(low_half, 2 * mean - left, right)
        after = np.cumsum(counts) / stats.n
        shares = np.empty(2 * len(mean))
        shares[1::2] = after
        shares[0] = 0.0
        shares[2::2] = after[:-1]
        cdf = np.interp(points, knots, shares)
        cdf[0], cdf[-1] = 0.0, 1.0  # the histogram spans both sides' full range
        return cdf

    def _need_numeric(self) -> None:
        if self.family != NUMERIC:
            raise IncompatibleError("this computation needs a numeric column")


def sturges_edges(low: float, high: float, size: int) -> np.ndarray:
    """``np.histogram_bin_edges(data, bins="sturges")`` for data of this range and size."""
    span = high - low
    width = span / (np.log2(size) + 1.0)
    n_bins = int(np.ceil(span / width)) if width else 1
    if span > 0:  # what histogram_bin_edges computes for such data, without its checks
        return np.linspace(low, high, n_bins + 1)
    return np.histogram_bin_edges(np.array([low, high]), bins=n_bins)
