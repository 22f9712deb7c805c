"""Per-batch summaries that merge into window summaries: what crosses Kafka instead of raw events.

:func:`summarize` turns a batch of rows (and the model's predictions on them) into a
:class:`Summary` on the baseline's bins and categories; :meth:`Summary.merge` and :func:`merge`
combine summaries of any batches, from any workers, in any order, into the summary of all of
them. Counts are exact and merge exactly; moments merge with Chan's update (equal to computing
on the concatenated data up to floating-point rounding); the row sample merges exactly as
described in :class:`RowSample`.

>>> from monitors.baseline import build_baseline
>>> rows = [{"x": float(i), "city": "abc"[i % 3]} for i in range(300)]
>>> baseline = build_baseline(rows, {"x": "number", "city": "string"}, n_bins=4)
>>> first = summarize(rows[:100], baseline, seed=1)
>>> second = summarize(rows[100:] + [{"x": None, "city": "z"}], baseline, seed=2)
>>> window = merge([first, second])
>>> window.n_rows, window.features["x"].counts.tolist(), window.features["x"].missing
(301, [75, 75, 75, 75], 1)
>>> window.features["city"].counts.tolist(), window.features["city"].new_values
([100, 100, 100], {'z': 1})
>>> Summary.from_dict(json.loads(json.dumps(window.to_dict()))).to_dict() == window.to_dict()
True
"""

from __future__ import annotations

import bisect
import functools
import json
from operator import itemgetter
from typing import Any, Iterable, Mapping

import numpy as np

from .baseline import Baseline, clean_column, sample_values
from .columns import column_values, prediction_table
from .exceptions import IncompatibleError
from .stats import either, stats_from_dict

FORMAT_VERSION = 1
#: Sample keys are drawn uniformly from [0, KEY_SPACE).
KEY_SPACE = 2**32
_by_key = itemgetter(0)


class RowSample:
    """A bounded uniform sample of rows that merges exactly (threshold sampling).

    Every row gets an independent random key in ``[0, 2**32)``; the sample holds exactly the
    rows whose key is below ``threshold``. A batch starts with ``threshold = rate * 2**32``;
    whenever more than ``capacity`` rows qualify, the threshold drops to the key of the first row
    left out. Merging takes the lower threshold and applies the same rule, so the merged sample
    is *the rows of all batches whose key is below the final threshold*, whatever the order of
    merging: a Bernoulli sample of the window, bounded by ``capacity``.
    """

    __slots__ = ("threshold", "capacity", "keys", "rows")

    def __init__(self, threshold: int, capacity: int, keys: list[int], rows: list[list]):
        self.threshold, self.capacity = int(threshold), int(capacity)
        self.keys, self.rows = list(keys), list(rows)

    @classmethod
    def draw(cls, columns: list, n_rows: int, rate: float, capacity: int, rng: np.random.Generator) -> "RowSample":
        keys = rng.integers(0, KEY_SPACE, size=n_rows)
        threshold = int(round(rate * KEY_SPACE))
        chosen = np.nonzero(keys < threshold)[0]
        if len(chosen) > capacity:
            cut = np.sort(keys[chosen])[capacity]
            threshold, chosen = int(cut), chosen[keys[chosen] < cut]
        rows = [list(row) for row in zip(*(sample_values(col, chosen) for col in columns))] if columns else [[]] * len(chosen)
        return cls(threshold, capacity, keys[chosen].tolist(), rows)._sorted()

    def merge(self, other: "RowSample") -> "RowSample":
        threshold, capacity = min(self.threshold, other.threshold), min(self.capacity, other.capacity)
        # Each side's keys are below its own threshold and sorted: only the side with the higher
        # threshold needs cutting (a bisection), and Timsort merges the two runs in linear time.
        pairs = sorted(self._below(threshold) + other._below(threshold), key=_by_key)
        if len(pairs) > capacity:
            threshold = pairs[capacity][0]
            pairs = pairs[:bisect.bisect_left(pairs, threshold, key=_by_key)]
        return RowSample(threshold, capacity, [k for k, _ in pairs], [r for _, r in pairs])._settle_ties()

    def _below(self, threshold: int) -> list[tuple[int, list]]:
        end = len(self.keys) if threshold >= self.threshold else bisect.bisect_left(self.keys, threshold)
        return list(zip(self.keys[:end], self.rows[:end]))

    def _sorted(self) -> "RowSample":
        pairs = sorted(zip(self.keys, self.rows), key=_by_key)
        self.keys = [k for k, _ in pairs]
        self.rows = [r for _, r in pairs]
        return self._settle_ties()

    def _settle_ties(self) -> "RowSample":
        # A canonical order (by key, ties by content), so that merges in any order give identical
        # samples. Ties are rare (32-bit keys); the set finds them without a loop in Python.
        if len(set(self.keys)) < len(self.keys):
            pairs = sorted(zip(self.keys, self.rows), key=lambda pair: (pair[0], repr(pair[1])))
            self.keys = [k for k, _ in pairs]
            self.rows = [r for _, r in pairs]
        return self

    @property
    def rate(self) -> float:
        """The probability that any row of the window is in the sample."""
        return self.threshold / KEY_SPACE

    def to_dict(self) -> dict:
        return {"threshold": self.threshold, "capacity": self.capacity, "keys": self.keys, "rows": self.rows}

    @classmethod
    def from_dict(cls, data: Mapping) -> "RowSample":
        return cls(data["threshold"], data["capacity"], data["keys"], data["rows"])


class Summary:
    """Statistics of some rows against one baseline: per-column stats, a row sample, bounds.

    ``features`` and ``predictions`` map column names to :class:`~monitors.stats.NumericStats` or
    :class:`~monitors.stats.CategoryStats`; ``start``/``end`` are optional timestamps of the
    first and last event, merged with min/max.
    """

    __slots__ = ("baseline_id", "n_rows", "features", "predictions", "sample", "start", "end")

    def __init__(self, baseline_id: str, n_rows: int, features: Mapping, predictions: Mapping,
                 sample: RowSample, start: float | None = None, end: float | None = None):
        self.baseline_id = baseline_id
        self.n_rows = int(n_rows)
        self.features = dict(features)
        self.predictions = dict(predictions)
        self.sample = sample
        self.start, self.end = start, end

    def merge(self, other: "Summary") -> "Summary":
        """The summary of both summaries' rows (associative and commutative)."""
        if other.baseline_id != self.baseline_id:
            raise IncompatibleError(
                f"cannot merge summaries of different baselines ({self.baseline_id} and {other.baseline_id}); "
                "close the window when the baseline changes"
            )
        return Summary(
            self.baseline_id,
            self.n_rows + other.n_rows,
            {name: stats.merge(other.features[name]) for name, stats in self.features.items()},
            {name: stats.merge(other.predictions[name]) for name, stats in self.predictions.items()},
            self.sample.merge(other.sample),
            either(min, self.start, other.start),
            either(max, self.end, other.end),
        )

    def to_dict(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "baseline_id": self.baseline_id,
            "n_rows": self.n_rows,
            "start": self.start,
            "end": self.end,
            "features": {name: stats.to_dict() for name, stats in self.features.items()},
            "predictions": {name: stats.to_dict() for name, stats in self.predictions.items()},
            "sample": self.sample.to_dict(),
        }

    def to_json(self) -> str:
        """Compact JSON, as sent on the wire."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping) -> "Summary":
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"unsupported summary format_version {version!r} (expected {FORMAT_VERSION})")
        return cls(
            data["baseline_id"],
            data["n_rows"],
            {name: stats_from_dict(stats) for name, stats in data["features"].items()},
            {name: stats_from_dict(stats) for name, stats in data["predictions"].items()},
            RowSample.from_dict(data["sample"]),
            data.get("start"),
            data.get("end"),
        )

    def __repr__(self) -> str:
        return f"Summary(baseline_id={self.baseline_id!r}, n_rows={self.n_rows}, sample={len(self.sample.rows)} rows)"


def summarize(
    rows: Any,
    baseline: Baseline,
    predictions: Any = None,
    *,
    sample_rate: float = 0.05,
    sample_size: int = 1000,
    seed: int | None = None,
    start: float | None = None,
    end: float | None = None,
) -> Summary:
    """Summary of a batch of ``rows`` (dicts or a DataFrame) and, optionally, of the model's
    ``predictions`` on them (in the form given to :func:`~monitors.baseline.build_baseline`).

    Each row enters the sample with probability ``sample_rate``, and a window's sample holds at
    most ``sample_size`` rows. ``seed`` seeds the sample keys: leave it None in production (every
    batch must draw independent keys) and set it in tests.
    """
    if not 0.0 <= sample_rate <= 1.0:
        raise ValueError(f"sample_rate must be in [0, 1], got {sample_rate!r}")
    if not isinstance(sample_size, int) or sample_size < 0:
        raise ValueError(f"sample_size must be an integer >= 0, got {sample_size!r}")
    n_rows = len(rows)
    cleaned_features = {
        name: clean_column(column_values(rows, name), col.kind, name) for name, col in baseline.features.items()
    }
    cleaned_predictions = {}
    if baseline.predictions:
        if predictions is None:
            table = [{}] * n_rows  # no predictions: they count as missing, so windows still merge
        else:
            table, _ = prediction_table(predictions)
            if len(table) != n_rows:
                raise ValueError(f"got {len(table)} predictions for {n_rows} rows")
        cleaned_predictions = {
            name: clean_column(column_values(table, name), col.kind, name) for name, col in baseline.predictions.items()
        }
    sample = RowSample.draw(
        list(cleaned_features.values()) + list(cleaned_predictions.values()),
        n_rows, sample_rate, sample_size, np.random.default_rng(seed),
    )
    return Summary(
        baseline.id,
        n_rows,
        {name: baseline.features[name].observe(values) for name, values in cleaned_features.items()},
        {name: baseline.predictions[name].observe(values) for name, values in cleaned_predictions.items()},
        sample,
        start,
        end,
    )


def merge(summaries: Iterable[Summary]) -> Summary:
    """The summary of all the given summaries' rows."""
    summaries = list(summaries)
    if not summaries:
        raise ValueError("nothing to merge: give at least one summary")
    return functools.reduce(Summary.merge, summaries)
