"""The score path's part of drift monitoring: one small summary per model per scored batch.

:class:`BatchSummarizer` turns a scored batch into one summary per model with
:func:`monitors.summarize`, from the validated features and the predictions the
:class:`~stream.serving.scoring.Scorer` already holds (nothing is validated or predicted twice),
and the score agent sends it to ``monitoring``, keyed by model. Summaries merge: the monitor's
cost does not grow with the number of workers.
"""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any, Sequence

from stream.training.baseline import monitored_columns
from stream.wire.drift import monitoring_message
from stream.wire.jsonbytes import dumps

log = logging.getLogger(__name__)

#: Evidently's rule treats numeric columns with at most this many distinct values as categories.
FEW_VALUES = 5


def drift_config(baseline: Any, rule: str = "distances", numeric_method: str = "", categorical_method: str = "",
                 drift_share: float = 0.5):
    """The :class:`monitors.DriftConfig` for a baseline.

    ``distances`` applies Evidently's rule for large references whatever the reference size:
    normed Wasserstein for numeric columns with more than 5 distinct values, Jensen-Shannon for
    the others. Evidently's own rule (``evidently``) switches to p-value tests for references of
    at most 1,000 rows, which alarm on stationary streams (docs/monitoring.md, "False alarms").
    ``numeric_method`` / ``categorical_method`` override the rule for every column of a family.
    """
    from monitors import DriftConfig

    methods = {}
    if rule == "distances":
        for group in (baseline.features, baseline.predictions):
            for name, column in group.items():
                if column.numeric and not numeric_method:
                    methods[name] = "wasserstein" if column.n_unique > FEW_VALUES else "jensenshannon"
                elif not column.numeric and not categorical_method:
                    methods[name] = "jensenshannon"
    elif rule != "evidently":
        raise ValueError(f"unknown drift method rule {rule!r}: expected distances or evidently")
    return DriftConfig(methods=methods, drift_share=drift_share, numeric_method=numeric_method or None,
                       categorical_method=categorical_method or None)


def settings_drift_config(baseline: Any, settings) -> Any:
    return drift_config(baseline, settings.drift_method_rule, settings.drift_numeric_method,
                        settings.drift_categorical_method, settings.drift_share)


class Columns:
    """A table as columns of equal length, with the part of a DataFrame's interface that
    :func:`monitors.summarize` reads (``columns``, ``table[name]``, ``len``)."""

    __slots__ = ("data", "columns", "n")

    def __init__(self, data: dict[str, list], n: int):
        self.data, self.columns, self.n = data, list(data), n

    def __getitem__(self, name: str) -> list:
        return self.data[name]

    def __len__(self) -> int:
        return self.n


class BatchSummarizer:
    """The score path's part: one ``monitoring`` message per model per scored batch.

    Never raises: a summary that cannot be built is counted (``errors``, ``last_error``, shown in
    ``/health``) and the batch's predictions go out regardless.
    """

    def __init__(self, cache, sample_rows: int = 1000, window_size: int = 5000):
        self.cache = cache  # ModelCache: its ``baselines`` follow its predictors
        # Each event enters the window's row sample (for reports) with this probability, so that
        # a full window's sample holds about ``sample_rows`` events.
        self.sample_rows = sample_rows
        self.sample_rate = min(1.0, sample_rows / window_size)
        self.sent = 0  # summaries built
        self.rows = 0  # events they summarise
        self.unmonitored = 0  # scored events of models without a usable baseline
        self.errors = 0
        self.last_error: str | None = None
        self._last_logged = float("-inf")
        # CPU seconds spent building summaries (the score path's share of monitoring): the thread's own
        # time, not the wall clock, which also counts the consumer thread's turns with the interpreter.
        self.seconds = 0.0

    def summaries(self, scored: Sequence, now: float) -> list[tuple[bytes, bytes]]:
        """``(key, value)`` messages for a batch's :class:`~stream.serving.scoring.Scored` events."""
        started = time.thread_time()
        by_model: dict[str, list] = {}
        for event in scored:
            by_model.setdefault(event.model, []).append(event)
        baselines = self.cache.baselines
        messages = []
        for model, events in by_model.items():
            entry = baselines.get(model)
            if entry is None or entry.version != events[0].version:
                self.unmonitored += len(events)
                continue
            try:
                messages.append((model.encode(), self._message(model, events, entry, now)))
            except Exception as exc:  # monitoring must never stop scoring
                self.failed(exc)
                continue
            self.sent += 1
            self.rows += len(events)
        self.seconds += time.thread_time() - started
        return messages

    def _message(self, model: str, events: list, entry, now: float) -> bytes:
        from monitors import summarize

        baseline = entry.baseline
        # Column by column: monitors.summarize reads tables column-wise, and building the columns
        # here directly saves a dict per event and a scan for dicts (a third of its cost).
        rows = [e.features for e in events]
        features = Columns({name: [row.get(name) for row in rows] for name in baseline.features}, len(rows))
        predictions = Columns(monitored_columns([e.result for e in events], entry.positive), len(rows))
        stamps = [e.ts_event for e in events if e.ts_event is not None]
        start, end = (min(stamps), max(stamps)) if stamps else (now, now)
        summary = summarize(features, baseline, predictions, start=start, end=end,
                            sample_rate=self.sample_rate, sample_size=self.sample_rows)
        return monitoring_message(model, events[0].version, events[0].snapshot, summary_json(summary), now)

    def failed(self, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        if time.monotonic() - self._last_logged > 60:  # at most one log line a minute
            self._last_logged = time.monotonic()
            log.warning("drift summaries failing (%d so far), scoring goes on: %s", self.errors, self.last_error)

    def describe(self) -> dict:
        return {"summaries_sent": self.sent, "rows_summarised": self.rows, "unmonitored_events": self.unmonitored,
                "errors": self.errors, "last_error": self.last_error, "seconds": round(self.seconds, 3)}


def summary_json(summary: Any) -> str:
    """:meth:`monitors.Summary.to_json`'s JSON, encoded by the score path's msgspec encoder
    (:func:`stream.wire.jsonbytes.dumps`): a 500-event Phishing summary with its ~100 sampled rows
    took 0.20 to 0.23 ms to encode with ``json`` and takes 0.09 to 0.15 (the README's figures).
    That encoder writes a non-finite float as null where ``json`` writes NaN or Infinity (which the
    monitor reads back): a summary whose moments overflowed goes through ``json`` as before. The row sample and the bounds hold finite
    values only (``monitors.columns`` turns the others into missing values).

    >>> from monitors.baseline import build_baseline
    >>> from monitors import summarize
    >>> rows = [{"x": float(i), "c": "ab"[i % 2]} for i in range(100)]
    >>> baseline = build_baseline(rows, {"x": "number", "c": "string"}, n_bins=4)
    >>> summary = summarize(rows, baseline, seed=1)
    >>> json.loads(summary_json(summary)) == json.loads(summary.to_json())
    True
    >>> summarize([{"x": 1e200}, {"x": -1e200}], baseline, seed=1).features["x"].m2
    inf
    >>> "Infinity" in summary_json(summarize([{"x": 1e200}, {"x": -1e200}], baseline, seed=1))
    True
    """
    data = summary.to_dict()
    if _finite_moments(data):
        return dumps(data).decode()
    return json.dumps(data, separators=(",", ":"))


def _finite_moments(data: dict) -> bool:
    for group in (data["features"], data["predictions"]):
        for stats in group.values():
            # A sum is finite only if every term is (an overflowing sum of finite terms takes json too).
            if "m2" in stats and not math.isfinite(stats["mean"] + stats["m2"] + sum(stats["offsets"])):
                return False
    return True
