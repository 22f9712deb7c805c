"""Full Evidently reports (HTML or JSON) of a window against the baseline, from the bounded samples.

Evidently is imported when a report is rendered, never on import of :mod:`monitors`, and never
on the hot path: the service renders a report on each drift decision and on demand. The
reference is the baseline's row sample and the current data the window's row sample; when a
:class:`~monitors.verdicts.DriftReport` is given, its per-column methods and thresholds are
passed on, so that the report explains the decision with the same methods (its scores can still
differ, being computed on samples rather than on the full window).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .baseline import Baseline
from .columns import is_numeric
from .exceptions import MonitorError
from .methods import METHODS
from .methods.chisquare import ChiSquare
from .methods.z import ZTest
from .summary import Summary
from .verdicts import DriftReport

FORMATS = ("html", "json")


def frame_columns(baseline: Baseline) -> list[str]:
    """DataFrame column names of the sample columns: prediction columns keep their names unless
    a feature has the same name, in which case they become ``prediction:NAME``."""
    names = []
    for group, name in baseline.sample_columns:
        clash = group == "predictions" and name in baseline.features
        names.append(f"prediction:{name}" if clash else name)
    return names


def reference_frame(baseline: Baseline):
    """The baseline's row sample as a DataFrame."""
    import pandas as pd

    return pd.DataFrame(baseline.sample_rows, columns=frame_columns(baseline))


def window_frame(window: Summary, baseline: Baseline):
    """A window's row sample as a DataFrame."""
    import pandas as pd

    if window.baseline_id != baseline.id:
        raise MonitorError(f"the window was summarised against baseline {window.baseline_id}, not {baseline.id}")
    return pd.DataFrame(window.sample.rows, columns=frame_columns(baseline))


def render_report(
    baseline: Baseline,
    window: Summary | Any,
    path: str | Path,
    fmt: str = "html",
    drift_report: DriftReport | None = None,
) -> Path:
    """Write Evidently's data drift report for ``window`` (a summary, or a DataFrame with the
    frame's columns) against the baseline's sample to ``path``; returns the path."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    reference = reference_frame(baseline)
    current = window_frame(window, baseline) if isinstance(window, Summary) else window
    if len(current) == 0 or len(reference) == 0:
        raise MonitorError("nothing to report: the window's (or the baseline's) row sample is empty")
    kinds = {name: col.kind for name, col in _columns(baseline).items()}
    methods, thresholds = _decisions(drift_report, baseline)
    # Evidently refuses an empty column; such columns are left out of the report.
    usable = [c for c in reference.columns if reference[c].notna().any() and current[c].notna().any()]
    numeric = [c for c in usable if is_numeric(kinds[c]) and methods.get(c) not in (ChiSquare.name, ZTest.name)]
    categorical = [c for c in usable if c not in numeric]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    preset = DataDriftPreset(
        columns=usable,
        per_column_method={c: m for c, m in methods.items() if c in usable} or None,
        per_column_threshold={c: t for c, t in thresholds.items() if c in usable} or None,
    )
    snapshot = Report([preset]).run(
        Dataset.from_pandas(current[usable], data_definition=definition),
        Dataset.from_pandas(reference[usable], data_definition=definition),
    )
    path = Path(path)
    if fmt == "html":
        snapshot.save_html(str(path))
    else:
        snapshot.save_json(str(path))
    return path


def _columns(baseline: Baseline) -> dict:
    names = frame_columns(baseline)
    columns = list(baseline.features.values()) + list(baseline.predictions.values())
    return dict(zip(names, columns))


def _decisions(drift_report: DriftReport | None, baseline: Baseline) -> tuple[dict, dict]:
    """Per-frame-column methods and thresholds of a drift report."""
    if drift_report is None:
        return {}, {}
    names = dict(zip(baseline.sample_columns, frame_columns(baseline)))
    methods, thresholds = {}, {}
    groups = [("features", drift_report.features), ("predictions", drift_report.predictions)]
    for group, result in groups:
        for column, drift in (result.columns.items() if result else ()):
            frame_name = names[(group, column)]
            if drift.method in METHODS:
                methods[frame_name] = drift.method
                thresholds[frame_name] = drift.threshold
    return methods, thresholds
