"""The training baseline: per-column reference statistics and a bounded sample of training rows.

Built once at export from the training rows (a list of dicts or a DataFrame) and the feature
kinds, optionally with the model's predictions on those rows. Its size does not grow with the
training set: per numeric column ``n_bins`` counts and offset sums, moments and the bin edges (or
up to 20 distinct values); per categorical column the ``top_k`` most frequent values; and at most
``sample_size`` rows, drawn uniformly with a seeded generator, for rendering Evidently reports.

>>> rows = [{"x": float(i % 7), "city": "Lyon" if i % 3 else "Oslo"} for i in range(100)]
>>> baseline = build_baseline(rows, {"x": "number", "city": "string"}, predictions=[i % 2 == 0 for i in range(100)])
>>> baseline.features["x"].layout.values
[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
>>> baseline.features["city"].layout.values, baseline.features["city"].stats.counts.tolist()
(['Lyon', 'Oslo'], [66, 34])
>>> baseline.predictions["prediction"].kind
'bool'
>>> Baseline.from_dict(json.loads(json.dumps(baseline.to_dict()))).id == baseline.id
True
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

import numpy as np

from .columns import (
    category_values,
    check_kinds,
    column_values,
    infer_kind,
    is_numeric,
    numeric_array,
    prediction_table,
)
from .stats import CategoryLayout, CategoryStats, NumericLayout, NumericStats

FORMAT_VERSION = 1


def clean_column(values: Any, kind: str, name: str) -> Any:
    """A numeric column as a float array with NaN for missing; a categorical one as a list with None."""
    return numeric_array(values, name) if is_numeric(kind) else category_values(values)


class ColumnBaseline:
    """Reference statistics of one column: its kind, its layout (bins or categories), the
    statistics of the reference data on that layout, and its number of distinct values."""

    def __init__(self, kind: str, layout: NumericLayout | CategoryLayout, stats: NumericStats | CategoryStats, n_unique: int):
        self.kind = kind
        self.layout = layout
        self.stats = stats
        self.n_unique = int(n_unique)

    @property
    def numeric(self) -> bool:
        return is_numeric(self.kind)

    @classmethod
    def fit(cls, cleaned: Any, kind: str, n_bins: int, top_k: int) -> "ColumnBaseline":
        """Baseline of a column already passed through :func:`clean_column`."""
        if is_numeric(kind):
            finite = cleaned[~np.isnan(cleaned)]
            layout = NumericLayout.fit(finite, n_bins)
            return cls(kind, layout, NumericStats.of(cleaned, layout), len(np.unique(finite)))
        layout = CategoryLayout.fit(cleaned, top_k)
        return cls(kind, layout, CategoryStats.of(cleaned, layout), len({v for v in cleaned if v is not None}))

    def observe(self, cleaned: Any) -> NumericStats | CategoryStats:
        """Statistics of new data (already cleaned) on this column's layout."""
        if self.numeric:
            return NumericStats.of(cleaned, self.layout)
        return CategoryStats.of(cleaned, self.layout)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "layout": self.layout.to_dict(), "stats": self.stats.to_dict(), "n_unique": self.n_unique}

    @classmethod
    def from_dict(cls, data: Mapping) -> "ColumnBaseline":
        kind = data["kind"]
        if is_numeric(kind):
            layout, stats = NumericLayout.from_dict(data["layout"]), NumericStats.from_dict(data["stats"])
        else:
            layout, stats = CategoryLayout.from_dict(data["layout"]), CategoryStats.from_dict(data["stats"])
        return cls(kind, layout, stats, data["n_unique"])


class Baseline:
    """Reference statistics of the features and of the predictions, plus a bounded row sample.

    ``sample_rows`` are lists of values in the order of :attr:`sample_columns` (features first,
    then predictions, each in name order), with None for missing values.
    """

    def __init__(
        self,
        features: Mapping[str, ColumnBaseline],
        predictions: Mapping[str, ColumnBaseline] | None = None,
        sample_rows: list[list] | None = None,
        n_rows: int = 0,
        settings: Mapping[str, Any] | None = None,
    ):
        self.features = dict(features)
        self.predictions = dict(predictions or {})
        self.sample_rows = list(sample_rows or [])
        self.n_rows = int(n_rows)
        self.settings = dict(settings or {})
        self.id = self._fingerprint()

    @property
    def sample_columns(self) -> list[tuple[str, str]]:
        """``(group, name)`` of each value in a sample row; group is ``features`` or ``predictions``."""
        return [("features", n) for n in self.features] + [("predictions", n) for n in self.predictions]

    def _fingerprint(self) -> str:
        # What a summary depends on: column names, kinds and layouts. Summaries made against one
        # baseline cannot be merged with, or compared to, another (its bins may differ).
        shape = {
            group: {name: [col.kind, col.layout.to_dict()] for name, col in columns.items()}
            for group, columns in (("features", self.features), ("predictions", self.predictions))
        }
        blob = json.dumps(shape, sort_keys=True, default=repr).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def to_dict(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "id": self.id,
            "n_rows": self.n_rows,
            "settings": self.settings,
            "features": {name: col.to_dict() for name, col in self.features.items()},
            "predictions": {name: col.to_dict() for name, col in self.predictions.items()},
            "sample": {"columns": [list(c) for c in self.sample_columns], "rows": self.sample_rows},
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> "Baseline":
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"unsupported baseline format_version {version!r} (expected {FORMAT_VERSION})")
        baseline = cls(
            {name: ColumnBaseline.from_dict(col) for name, col in sorted(data["features"].items())},
            {name: ColumnBaseline.from_dict(col) for name, col in sorted(data.get("predictions", {}).items())},
            None,
            data["n_rows"],
            data.get("settings"),
        )
        if data.get("id") not in (None, baseline.id):
            raise ValueError("baseline id does not match its contents (edited or corrupted baseline)")
        # Rows follow the stored column list, whatever order a JSON writer gave the column dicts.
        stored = [tuple(column) for column in data["sample"]["columns"]]
        if sorted(stored) != sorted(baseline.sample_columns):
            raise ValueError("the baseline's sample columns do not match its columns (edited or corrupted baseline)")
        order = [stored.index(column) for column in baseline.sample_columns]
        baseline.sample_rows = [[row[i] for i in order] for row in data["sample"]["rows"]]
        return baseline

    def __repr__(self) -> str:
        return (
            f"Baseline(id={self.id!r}, n_rows={self.n_rows}, features={list(self.features)}, "
            f"predictions={list(self.predictions)}, sample_rows={len(self.sample_rows)})"
        )


def build_baseline(
    rows: Any,
    kinds: Mapping[str, str],
    predictions: Any = None,
    *,
    prediction_kinds: Mapping[str, str] | None = None,
    n_bins: int = 50,
    top_k: int = 50,
    sample_size: int = 2000,
    seed: int | None = 42,
) -> Baseline:
    """Baseline of training ``rows`` for the features in ``kinds`` (name → kind).

    ``predictions``: the model's predictions on the same rows, as plain values (one column named
    ``prediction``) or dicts such as ``{"prediction": True, "proba": 0.91}``; their kinds are
    inferred unless given in ``prediction_kinds`` (pass ``"category"`` for integer class labels,
    which would otherwise be inferred as numbers).

    ``n_bins`` quantile bins per continuous numeric column (50: the Wasserstein distance computed
    from them is within 0.012 of the exact one, see ``tests/test_monitors_evidently.py``);
    ``top_k`` categories kept per categorical column; ``sample_size`` rows kept for reports.
    """
    # Columns in name order: the order a JSON writer with sorted keys gives them back in.
    kinds = dict(sorted(check_kinds(kinds).items()))
    if not isinstance(n_bins, int) or n_bins < 2:
        raise ValueError(f"n_bins must be an integer >= 2, got {n_bins!r}")
    if not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be an integer >= 1, got {top_k!r}")
    if not isinstance(sample_size, int) or sample_size < 0:
        raise ValueError(f"sample_size must be an integer >= 0, got {sample_size!r}")
    n_rows = len(rows)
    cleaned = {("features", name): clean_column(column_values(rows, name), kind, name) for name, kind in kinds.items()}
    columns = {("features", name): kind for name, kind in kinds.items()}
    if predictions is not None:
        table, names = prediction_table(predictions)
        if len(table) != n_rows:
            raise ValueError(f"got {len(table)} predictions for {n_rows} rows")
        given = check_kinds(prediction_kinds or {}, what="prediction")
        if set(given) - set(names):
            raise ValueError(f"prediction_kinds names unknown prediction columns {sorted(set(given) - set(names))}; columns: {names}")
        for name in sorted(names):
            values = column_values(table, name)
            kind = given.get(name) or infer_kind(values)
            columns[("predictions", name)] = kind
            cleaned[("predictions", name)] = clean_column(values, kind, name)
    elif prediction_kinds:
        raise ValueError("prediction_kinds given without predictions")

    fitted = {key: ColumnBaseline.fit(cleaned[key], kind, n_bins, top_k) for key, kind in columns.items()}
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(n_rows, size=min(n_rows, sample_size), replace=False)) if n_rows else np.array([], int)
    sample_rows = [list(row) for row in zip(*(sample_values(cleaned[key], chosen) for key in columns))] if columns else []
    return Baseline(
        {name: col for (group, name), col in fitted.items() if group == "features"},
        {name: col for (group, name), col in fitted.items() if group == "predictions"},
        sample_rows,
        n_rows,
        {"n_bins": n_bins, "top_k": top_k, "sample_size": sample_size, "seed": seed},
    )


def sample_values(cleaned: Any, positions: np.ndarray) -> list:
    """The cleaned values at ``positions``, JSON-ready (None instead of NaN)."""
    if isinstance(cleaned, np.ndarray):
        return [None if v != v else v for v in cleaned[positions].tolist()]
    return [cleaned[i] for i in positions.tolist()]
