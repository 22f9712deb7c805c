"""The drift verdicts on a window: per column, share of drifted columns, data and prediction drift.

Features and predictions are judged separately: ``report.features.drifted`` is data drift,
``report.predictions.drifted`` prediction drift. Each column gets Evidently's default method for
its kind and reference size unless :class:`DriftConfig` overrides the method or the threshold,
plus PSI as a second opinion. A group drifts when the share of its drifted columns reaches
``drift_share`` (0.5, as in Evidently).

>>> from monitors.baseline import build_baseline
>>> from monitors.summary import summarize
>>> rows = [{"x": float(i % 100), "c": "ab"[i % 2]} for i in range(2000)]
>>> baseline = build_baseline(rows, {"x": "number", "c": "string"})
>>> shifted = [{"x": row["x"] + 30, "c": row["c"]} for row in rows]
>>> report = compare(summarize(shifted, baseline, seed=0), baseline)
>>> [(c.column, c.method, round(c.score, 3), c.drifted) for c in report.features.columns.values()]
[('c', 'jensenshannon', 0.0, False), ('x', 'wasserstein', 1.039, True)]
>>> report.features.share, report.features.drifted
(0.5, True)
>>> DriftConfig(methods={"x": "energy"})
Traceback (most recent call last):
...
monitors.exceptions.UnknownNameError: unknown drift method 'energy'; valid names: chisquare, jensenshannon, ks, psi, wasserstein, z
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Mapping

from .baseline import Baseline, ColumnBaseline
from .comparison import CATEGORICAL, NUMERIC, ColumnComparison
from .exceptions import IncompatibleError
from .methods import default_method_name, get_method
from .methods.psi import PopulationStabilityIndex
from .summary import Summary

#: Evidently's default: a data set drifts when half of its columns drift.
DEFAULT_DRIFT_SHARE = 0.5


class DriftConfig:
    """What to compute: per-column method and threshold overrides, and the drift share.

    ``methods`` and ``thresholds`` map column names (features or predictions) to a registered
    method name and to a threshold; ``numeric_method`` and ``categorical_method`` set the method
    of every other column of that family (Evidently's ``num_method``/``cat_method``); the rest
    get Evidently's default method, and every column without a threshold gets its method's
    default threshold. ``second_opinion`` is computed for every column next to the verdict
    (None to skip it).

    With a reference of at most 1,000 values Evidently's defaults are p-value tests, which alarm
    in about 5% of stationary windows per column (its chi-square, which ignores the reference's
    own noise, far more): ``numeric_method="wasserstein", categorical_method="jensenshannon"``
    trades them for distances (see ``benchmarks/drift_false_alarms.py``).
    """

    def __init__(
        self,
        methods: Mapping[str, str] | None = None,
        thresholds: Mapping[str, float] | None = None,
        drift_share: float = DEFAULT_DRIFT_SHARE,
        numeric_method: str | None = None,
        categorical_method: str | None = None,
        second_opinion: str | None = PopulationStabilityIndex.name,
    ):
        self.methods = dict(methods or {})
        self.thresholds = dict(thresholds or {})
        self.drift_share = drift_share
        self.family_methods = {NUMERIC: numeric_method, CATEGORICAL: categorical_method}
        self.second_opinion = second_opinion
        named = list(self.methods.values()) + [m for m in (numeric_method, categorical_method, second_opinion) if m]
        for name in named:
            get_method(name)  # fails now, listing the valid names, rather than on the first window
        for family, name in self.family_methods.items():
            if name and family not in get_method(name).families:
                raise ValueError(f"method {name!r} does not apply to {family} columns")
        for column, threshold in self.thresholds.items():
            if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or threshold < 0:
                raise ValueError(f"threshold for {column!r} must be a number >= 0, got {threshold!r}")
        if not isinstance(drift_share, (int, float)) or not 0.0 < drift_share <= 1.0:
            raise ValueError(f"drift_share must be in (0, 1], got {drift_share!r}")

    def to_dict(self) -> dict:
        return {
            "methods": self.methods, "thresholds": self.thresholds, "drift_share": self.drift_share,
            "numeric_method": self.family_methods[NUMERIC], "categorical_method": self.family_methods[CATEGORICAL],
            "second_opinion": self.second_opinion,
        }

    def method_for(self, column: str, comparison: ColumnComparison) -> tuple[str, bool]:
        """The method name for a column, and whether the user chose it (rather than Evidently's rule)."""
        chosen = self.methods.get(column) or self.family_methods[comparison.family]
        if chosen:
            return chosen, True
        return default_method_name(comparison), False


@dataclass
class ColumnDrift:
    """The verdict on one column. ``score`` is a p-value or a distance, as ``method`` says."""

    column: str
    kind: str
    method: str
    score: float
    threshold: float
    drifted: bool
    n_reference: int
    n_current: int
    missing_current: int
    second_opinion: float | None = None


@dataclass
class GroupDrift:
    """The verdicts on a group of columns (features, or predictions) and the group's verdict.

    Columns without a single value in the reference or in the window cannot be judged: they are
    listed in ``skipped`` and left out of the share.
    """

    columns: dict[str, ColumnDrift]
    drift_share: float
    skipped: list[str] = field(default_factory=list)

    @property
    def n_drifted(self) -> int:
        return sum(c.drifted for c in self.columns.values())

    @property
    def share(self) -> float:
        return self.n_drifted / len(self.columns) if self.columns else 0.0

    @property
    def drifted(self) -> bool:
        return bool(self.columns) and self.share >= self.drift_share

    @property
    def drifted_columns(self) -> list[str]:
        return [name for name, c in self.columns.items() if c.drifted]

    def to_dict(self) -> dict:
        return {
            "drifted": self.drifted, "share": self.share, "drift_share": self.drift_share,
            "n_drifted": self.n_drifted, "n_columns": len(self.columns), "skipped": self.skipped,
            "columns": {name: asdict(c) for name, c in self.columns.items()},
        }


@dataclass
class DriftReport:
    """Data drift (``features``) and prediction drift (``predictions``, None without predictions)
    of one window, with the window's size and bounds."""

    baseline_id: str
    n_rows: int
    start: float | None
    end: float | None
    features: GroupDrift
    predictions: GroupDrift | None

    def to_dict(self) -> dict:
        return {
            "baseline_id": self.baseline_id, "n_rows": self.n_rows, "start": self.start, "end": self.end,
            "features": self.features.to_dict(),
            "predictions": None if self.predictions is None else self.predictions.to_dict(),
        }


def compare(window: Summary, baseline: Baseline, config: DriftConfig | None = None) -> DriftReport:
    """Judge a window (a merged :class:`~monitors.summary.Summary`) against the baseline."""
    if window.baseline_id != baseline.id:
        raise IncompatibleError(
            f"the window was summarised against baseline {window.baseline_id}, not {baseline.id}"
        )
    config = config or DriftConfig()
    features = _judge_group(baseline.features, window.features, config)
    predictions = None
    if baseline.predictions and any(stats.n for stats in window.predictions.values()):
        predictions = _judge_group(baseline.predictions, window.predictions, config)
    return DriftReport(baseline.id, window.n_rows, window.start, window.end, features, predictions)


def judge_column(name: str, reference: ColumnBaseline, current, config: DriftConfig) -> ColumnDrift:
    """The verdict on one column with at least one value on each side."""
    comparison = ColumnComparison(reference, current)
    # Evidently's rule may apply a categorical test to a numeric column with few values; a
    # user's choice must fit the column's family, as Evidently requires.
    method_name, chosen = config.method_for(name, comparison)
    method = get_method(method_name)
    if chosen and comparison.family not in method.families:
        raise IncompatibleError(
            f"column {name!r} is {comparison.family}; method {method.name!r} applies to "
            f"{' and '.join(sorted(method.families))} columns"
        )
    threshold = float(config.thresholds.get(name, method.default_threshold))
    score = method.score(comparison)
    second = None
    if config.second_opinion:
        opinion = get_method(config.second_opinion)
        if comparison.family in opinion.families:
            second = opinion.score(comparison)
    return ColumnDrift(
        name, reference.kind, method.name, score, threshold, method.is_drift(score, threshold),
        comparison.n_reference, comparison.n_current, current.missing, second,
    )


def _judge_group(references: Mapping[str, ColumnBaseline], window: Mapping, config: DriftConfig) -> GroupDrift:
    columns, skipped = {}, []
    for name, reference in references.items():
        current = window[name]
        if reference.stats.n == 0 or current.n == 0:
            skipped.append(name)
            continue
        columns[name] = judge_column(name, reference, current, config)
    return GroupDrift(columns, config.drift_share, skipped)
