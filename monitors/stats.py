"""Mergeable statistics of one column: moments, counts per bin, counts per category.

A *layout* says where the bins or categories are; it comes from the reference data and is fixed
by the baseline. A *stats* object counts one chunk of data against a layout, and two stats
objects on the same layout merge into the stats of both chunks (counts exactly; moments to
floating-point rounding). That is what lets every worker summarise its own batches and a single
monitor combine them into a window.

Numeric layouts come in two shapes:

* continuous: inner edges at the reference quantiles; bin ``j`` is ``[edges[j-1], edges[j])``
  with open-ended first and last bins;
* discrete (at most 20 distinct reference values, the point where Evidently stops binning and
  counts values): one bin holding exactly each reference value, with the gaps between values as
  bins of their own, so that per-value counts, and the KS statistic, are exact.

Besides the count, each bin keeps the sum of the distances of its values from the bin's finite
edge. With the count this gives the exact integral of the empirical CDF over the bin, from which
the Wasserstein distance is computed (see :mod:`monitors.comparison`).

>>> layout = NumericLayout.fit(np.array([1.0, 2.0, 2.0, 3.0]), n_bins=10)
>>> layout.values
[1.0, 2.0, 3.0]
>>> stats = NumericStats.of(np.array([2.0, 2.0, 7.0, np.nan]), layout)
>>> stats.counts.tolist(), stats.new_values, stats.missing
([0, 0, 0, 2, 0, 0, 1], {7.0: 1}, 1)
>>> both = stats.merge(NumericStats.of(np.array([1.0]), layout))
>>> both.n, both.mean, both.counts.tolist()
(4, 3.0, [0, 1, 0, 2, 0, 0, 1])
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping, Sequence

import numpy as np

#: A numeric reference with at most this many distinct values gets one bin per value.
DISCRETE_LIMIT = 20
#: Values absent from the reference are counted one by one up to this many distinct ones.
NEW_VALUES_LIMIT = 20
#: Significant digits of the offset sums in JSON. They halve a summary's size; the Wasserstein
#: distance they feed moves by about 1e-6 of a bin's spread, far below its approximation error.
OFFSET_DIGITS = 6


def sort_key(value: Any) -> tuple:
    """A total order over mixed category values (bools, strings, numbers)."""
    return (type(value).__name__, value)


def keep_smallest(counts: dict, overflow: int, limit: int = NEW_VALUES_LIMIT, key=None) -> tuple[dict, int]:
    """Keep the ``limit`` smallest values with their counts; add the others' counts to ``overflow``.

    Because a value among the smallest of the whole data is among the smallest of any part of it,
    this truncation gives the same result whatever order parts are merged in.
    """
    if len(counts) <= limit:
        return counts, overflow
    ordered = sorted(counts, key=key)
    kept = {value: counts[value] for value in ordered[:limit]}
    return kept, overflow + sum(counts[value] for value in ordered[limit:])


def merged_new_values(first: dict, second: dict, overflow: int, key=None) -> tuple[dict, int]:
    """Two parts' values new to the reference, counts added, truncated by :func:`keep_smallest`."""
    counts = dict(first)
    for value, count in second.items():  # usually empty: no Counter to build for nothing
        counts[value] = counts.get(value, 0) + count
    return keep_smallest(counts, overflow, key=key)


class NumericLayout:
    """Bins of a numeric column: quantile ``edges`` (continuous) or distinct ``values`` (discrete)."""

    def __init__(self, edges: Sequence[float] | None = None, values: Sequence[float] | None = None):
        if (edges is None) == (values is None):
            raise ValueError("give exactly one of edges (continuous) or values (discrete)")
        if values is not None:
            self.values: list[float] | None = sorted({float(v) for v in values})
            points = np.array(self.values, dtype=float)
            # [v, next float after v) holds v and nothing else.
            self.edges = np.column_stack([points, np.nextafter(points, np.inf)]).ravel()
        else:
            self.values = None
            self.edges = np.array(edges, dtype=float)
            if np.any(np.diff(self.edges) <= 0) or not np.all(np.isfinite(self.edges)):
                raise ValueError("edges must be finite and strictly increasing")
        # Offsets are measured from each bin's finite edge: the right edge for the first bin.
        self._anchors = np.concatenate([self.edges[:1], self.edges]) if len(self.edges) else np.zeros(1)

    @classmethod
    def fit(cls, finite: np.ndarray, n_bins: int) -> "NumericLayout":
        """Layout for reference values (no NaN): discrete if few distinct values, else quantiles."""
        distinct = np.unique(finite)
        if len(distinct) <= DISCRETE_LIMIT:
            return cls(values=distinct.tolist())
        quantiles = np.quantile(finite, np.linspace(0.0, 1.0, n_bins + 1)[1:-1])
        return cls(edges=np.unique(quantiles).tolist())

    @property
    def discrete(self) -> bool:
        return self.values is not None

    @property
    def n_bins(self) -> int:
        return len(self.edges) + 1

    def bin_index(self, finite: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.edges, finite, side="right")

    def offsets(self, finite: np.ndarray, index: np.ndarray) -> np.ndarray:
        """Distance of each value from its bin's finite edge (always >= 0)."""
        offsets = finite - self._anchors[index]
        return np.where(index == 0, -offsets, offsets)

    def to_dict(self) -> dict:
        return {"values": list(self.values)} if self.discrete else {"edges": self.edges.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping) -> "NumericLayout":
        return cls(values=data["values"]) if "values" in data else cls(edges=data["edges"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NumericLayout) and self.to_dict() == other.to_dict()


class NumericStats:
    """Moments, per-bin counts and offset sums, and (discrete layouts) values new to the reference."""

    __slots__ = ("n", "missing", "mean", "m2", "min", "max", "counts", "offsets", "new_values", "new_overflow")

    def __init__(self, n, missing, mean, m2, min, max, counts, offsets, new_values=None, new_overflow=0):
        self.n, self.missing = int(n), int(missing)
        self.mean, self.m2 = float(mean), float(m2)
        self.min = None if min is None else float(min)
        self.max = None if max is None else float(max)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.offsets = np.asarray(offsets, dtype=float)
        self.new_values: dict[float, int] = dict(new_values or {})
        self.new_overflow = int(new_overflow)

    @classmethod
    def of(cls, values: np.ndarray, layout: NumericLayout) -> "NumericStats":
        """Statistics of a float array in which NaN marks a missing value."""
        finite = values[~np.isnan(values)]
        n = len(finite)
        if n == 0:
            return cls.empty(layout, missing=len(values))
        mean = float(finite.mean())
        index = layout.bin_index(finite)
        counts = np.bincount(index, minlength=layout.n_bins)
        offsets = np.bincount(index, weights=layout.offsets(finite, index), minlength=layout.n_bins)
        new_values, overflow = {}, 0
        if layout.discrete:
            gaps = finite[index % 2 == 0]  # even bins lie between reference values
            if len(gaps):
                distinct, tally = np.unique(gaps, return_counts=True)
                new_values = dict(zip(distinct[:NEW_VALUES_LIMIT].tolist(), tally[:NEW_VALUES_LIMIT].tolist()))
                overflow = int(tally[NEW_VALUES_LIMIT:].sum())
        # Finite values far apart (1e200 and -1e200) square past the largest float: m2 is then
        # infinite, which the summary's encoding and the verdicts handle; numpy need not warn.
        with np.errstate(over="ignore"):
            m2 = float(((finite - mean) ** 2).sum())
        return cls(n, len(values) - n, mean, m2, finite.min(), finite.max(), counts, offsets, new_values, overflow)

    @classmethod
    def empty(cls, layout: NumericLayout, missing: int = 0) -> "NumericStats":
        return cls(0, missing, 0.0, 0.0, None, None, np.zeros(layout.n_bins), np.zeros(layout.n_bins))

    @property
    def std(self) -> float:
        """Population standard deviation (``ddof=0``, as ``np.std`` and Evidently use)."""
        return float(np.sqrt(self.m2 / self.n)) if self.n else 0.0

    def merge(self, other: "NumericStats") -> "NumericStats":
        if len(self.counts) != len(other.counts):
            raise ValueError("cannot merge numeric statistics over different bins")
        n = self.n + other.n
        if self.n == 0 or other.n == 0:
            mean, m2 = (other.mean, other.m2) if self.n == 0 else (self.mean, self.m2)
        else:
            # Chan et al.'s pairwise update: exact in exact arithmetic, stable in floating point.
            delta = other.mean - self.mean
            mean = self.mean + delta * other.n / n
            m2 = self.m2 + other.m2 + delta * delta * self.n * other.n / n
        kept, overflow = merged_new_values(self.new_values, other.new_values, self.new_overflow + other.new_overflow)
        return NumericStats(
            n, self.missing + other.missing, mean, m2,
            either(min, self.min, other.min), either(max, self.max, other.max),
            self.counts + other.counts, self.offsets + other.offsets, kept, overflow,
        )

    def scaled(self, factor: float) -> "NumericStats":
        """These statistics as if every value had been seen ``factor`` times (counts rounded).

        For mixtures: a reference made of parts in given shares (see :func:`mix`).
        """
        counts = np.rint(self.counts * factor).astype(np.int64)
        n = int(counts.sum())
        if n == 0:
            return NumericStats(0, round(self.missing * factor), 0.0, 0.0, None, None, counts, np.zeros(len(counts)))
        new_values = {v: c for v, c in ((v, round(c * factor)) for v, c in self.new_values.items()) if c}
        return NumericStats(
            n, round(self.missing * factor), self.mean, self.m2 * n / self.n, self.min, self.max,
            counts, self.offsets * factor, new_values, round(self.new_overflow * factor),
        )

    def to_dict(self) -> dict:
        data = {
            "n": self.n, "missing": self.missing, "mean": self.mean, "m2": self.m2,
            "min": self.min, "max": self.max,
            "counts": self.counts.tolist(), "offsets": [float(f"{v:.{OFFSET_DIGITS}g}") for v in self.offsets.tolist()],
        }
        if self.new_values or self.new_overflow:
            data["new"] = [[value, count] for value, count in sorted(self.new_values.items())]
            data["new_overflow"] = self.new_overflow
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> "NumericStats":
        return cls(
            data["n"], data["missing"], data["mean"], data["m2"], data["min"], data["max"],
            data["counts"], data["offsets"], {float(v): int(c) for v, c in data.get("new", ())},
            data.get("new_overflow", 0),
        )


class CategoryLayout:
    """The reference's ``values`` (its top-K, most frequent first); ``truncated`` when it had more."""

    def __init__(self, values: Sequence, truncated: bool = False):
        self.values = list(values)
        self.truncated = bool(truncated)
        self.index = {value: i for i, value in enumerate(self.values)}
        if len(self.index) != len(self.values):
            raise ValueError("category values must be distinct")

    @classmethod
    def fit(cls, values: Sequence, top_k: int) -> "CategoryLayout":
        tally = Counter(v for v in values if v is not None)
        ordered = sorted(tally, key=lambda v: (-tally[v], sort_key(v)))
        return cls(ordered[:top_k], truncated=len(ordered) > top_k)

    def to_dict(self) -> dict:
        return {"values": list(self.values), "truncated": self.truncated}

    @classmethod
    def from_dict(cls, data: Mapping) -> "CategoryLayout":
        return cls(data["values"], data.get("truncated", False))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CategoryLayout) and self.to_dict() == other.to_dict()


class CategoryStats:
    """Counts per reference category, ``other`` (values outside a truncated reference's top-K) and
    new values by name (when the reference is complete, so that a new value is known to be new)."""

    __slots__ = ("n", "missing", "counts", "other", "new_values", "new_overflow")

    def __init__(self, n, missing, counts, other=0, new_values=None, new_overflow=0):
        self.n, self.missing = int(n), int(missing)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.other = int(other)
        self.new_values: dict = dict(new_values or {})
        self.new_overflow = int(new_overflow)

    @classmethod
    def of(cls, values: Sequence, layout: CategoryLayout) -> "CategoryStats":
        """Statistics of category values in which None marks a missing value."""
        tally = Counter(values)
        missing = tally.pop(None, 0)
        counts = np.zeros(len(layout.values), dtype=np.int64)
        other, new_values = 0, {}
        for value, count in tally.items():
            position = layout.index.get(value)
            if position is not None:
                counts[position] += count
            elif layout.truncated:
                other += count
            else:
                new_values[value] = count
        kept, overflow = keep_smallest(new_values, 0, key=sort_key)
        return cls(sum(tally.values()), missing, counts, other, kept, overflow)

    def merge(self, other: "CategoryStats") -> "CategoryStats":
        if len(self.counts) != len(other.counts):
            raise ValueError("cannot merge category statistics over different categories")
        kept, overflow = merged_new_values(self.new_values, other.new_values, self.new_overflow + other.new_overflow,
                                           key=sort_key)
        return CategoryStats(
            self.n + other.n, self.missing + other.missing, self.counts + other.counts,
            self.other + other.other, kept, overflow,
        )

    def scaled(self, factor: float) -> "CategoryStats":
        """These statistics as if every value had been seen ``factor`` times (counts rounded)."""
        counts = np.rint(self.counts * factor).astype(np.int64)
        other, overflow = round(self.other * factor), round(self.new_overflow * factor)
        new_values = {v: c for v, c in ((v, round(c * factor)) for v, c in self.new_values.items()) if c}
        n = int(counts.sum()) + other + overflow + sum(new_values.values())
        return CategoryStats(n, round(self.missing * factor), counts, other, new_values, overflow)

    def to_dict(self) -> dict:
        data = {"n": self.n, "missing": self.missing, "counts": self.counts.tolist()}
        if self.other:
            data["other"] = self.other
        if self.new_values or self.new_overflow:
            data["new"] = [[value, count] for value, count in sorted(self.new_values.items(), key=lambda i: sort_key(i[0]))]
            data["new_overflow"] = self.new_overflow
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> "CategoryStats":
        return cls(
            data["n"], data["missing"], data["counts"], data.get("other", 0),
            {value: int(count) for value, count in data.get("new", ())}, data.get("new_overflow", 0),
        )


def stats_from_dict(data: Mapping) -> "NumericStats | CategoryStats":
    """Either kind of statistics from its ``to_dict()`` (numeric ones are those with moments)."""
    return NumericStats.from_dict(data) if "mean" in data else CategoryStats.from_dict(data)


def mix(parts: Sequence[tuple[Any, float]], size: int) -> Any:
    """Statistics of about ``size`` values drawn from ``parts``, ``(stats, share)`` pairs on one
    layout: each part scaled to ``share * size`` of its values, then merged.

    A reference for data that came from several sources in known proportions (the answers of
    several snapshots of a model that learns online, for instance).

    >>> layout = CategoryLayout(["a", "b"])
    >>> only_a, only_b = CategoryStats.of(["a"] * 10, layout), CategoryStats.of(["b"] * 40, layout)
    >>> mixed = mix([(only_a, 0.75), (only_b, 0.25)], 1000)
    >>> mixed.n, mixed.counts.tolist()
    (1000, [750, 250])
    """
    total = None
    for stats, share in parts:
        if stats.n == 0 or share <= 0:
            continue
        part = stats.scaled(share * size / stats.n)
        total = part if total is None else total.merge(part)
    if total is None:
        raise ValueError("a mixture needs at least one part with values and a positive share")
    return total


def either(choose, a, b):
    """``choose(a, b)`` where both are known, else whichever is not None (bounds of empty parts).

    >>> either(min, 3.0, None), either(max, 1.0, 2.0), either(min, None, None)
    (3.0, 2.0, None)
    """
    if a is None:
        return b
    if b is None:
        return a
    return choose(a, b)
