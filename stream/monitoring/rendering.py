"""Evidently reports of stored drift windows, for the monitor (on drift decisions), the API (on
demand) and ``driftline report``.

A report is rendered from what Redis keeps of the window (its merged summary, with the bounded
row sample) against the baseline it was judged with (found by id among the model's versions),
with the methods and thresholds of the decision. Evidently computes its scores on the samples,
so they can differ a little from the decision's, which used the whole window.

:func:`render_reports` is a plain function of plain data, so that the worker can run it in a
process of its own (:class:`~stream.monitoring.ReportRenderer`): Evidently takes seconds of CPU,
which in a thread of the worker would be taken from scoring (the GIL).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from stream.errors import MonitoringError


def render_reports(baseline: dict, summary_json: str, config: dict, formats=("html", "json")) -> dict[str, bytes]:
    """``{format: bytes}`` of Evidently's report of a window (``Summary`` JSON) against a baseline
    (``Baseline.to_dict()``), with the methods and thresholds of ``config`` (``DriftConfig.to_dict()``)."""
    from monitors import Baseline, DriftConfig, Summary, compare, render_report

    reference = Baseline.from_dict(baseline)
    summary = Summary.from_dict(json.loads(summary_json))
    decision = compare(summary, reference, DriftConfig(**config))
    rendered = {}
    with tempfile.TemporaryDirectory(prefix="driftline-report-") as folder:
        for fmt in formats:
            path = render_report(reference, summary, Path(folder) / f"report.{fmt}", fmt=fmt, drift_report=decision)
            rendered[fmt] = path.read_bytes()
    return rendered


def report_inputs(store, lookup, model: str, ref: str = "latest") -> tuple[dict, dict, str] | None:
    """(window record, baseline as a dict, window summary JSON) of a stored window; None if there
    is no such window. Blocking (Redis, maybe the registry)."""
    found = store.window(model, ref)
    if found is None:
        return None
    record, summary_json = found
    baseline = lookup.find(model, record["baseline_id"], record.get("version"), retry_after=0.0)
    if baseline is None:
        raise MonitoringError(
            f"model {model!r} window {record['id']}: no registered version has its baseline {record['baseline_id']} any more"
        )
    return record, baseline.to_dict(), summary_json


def render_window(store, lookup, model: str, ref: str = "latest", formats=("html", "json")) -> tuple[dict, dict[str, bytes]] | None:
    """(window record, ``{format: bytes}``) of a stored window's report, rendered here; None when
    there is no such window."""
    inputs = report_inputs(store, lookup, model, ref)
    if inputs is None:
        return None
    record, baseline, summary_json = inputs
    return record, render_reports(baseline, summary_json, record["config"], formats)


def start_renderer(parent_pid: int) -> None:
    """Initializer of the rendering process: below scoring in priority, and gone with its worker."""
    from stream.orphans import exit_with_parent

    lower_priority()
    exit_with_parent(parent_pid)


def lower_priority() -> None:
    """Initializer of the rendering process: scoring and the broker come first."""
    try:
        os.nice(10)
    except OSError:
        pass
