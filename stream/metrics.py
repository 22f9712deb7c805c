"""Prometheus metrics of one worker (``GET /metrics``), through ``prometheus-client``.

Names and labels are a public contract (README: metrics): dashboards and alert rules are written
against them. One ``driftline_`` prefix, base units, ``_total`` counters, ``_seconds`` histograms;
labels stay low-cardinality (model, version, alias, reason, kind, topic, endpoint, outcome,
column), never an event id. Counters count what this worker did; the gauges read from Redis
(``driftline_pending_*``) are the consumer group's and the same on every worker.

The stages count as they go (``METRICS.predictions.labels(...).inc(n)``); what is state rather
than events (the models served, the latest drift scores, the pending predictions) is read when
Prometheus scrapes, by :class:`StateCollector`.

>>> metrics = Metrics()
>>> metrics.events.labels(topic="events").inc(3)
>>> metrics.deadletters.labels(reason="invalid_json").inc()
>>> text = metrics.render().decode()
>>> 'driftline_events_total{topic="events"} 3.0' in text, 'driftline_deadletters_total{reason="invalid_json"} 1.0' in text
(True, True)
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

PROMETHEUS_CONTENT_TYPE = CONTENT_TYPE_LATEST.split(";")[0]

#: Event to prediction: from a few milliseconds to a backlog of minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
#: One batch's processing time in an agent.
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
#: Label to the first prediction served by a snapshot that learned it.
LAG_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events = Counter("driftline_events", "Messages consumed, by topic.", ["topic"], registry=r)
        self.predictions = Counter("driftline_predictions", "Predictions made, by model and version.", ["model", "version"], registry=r)
        self.deadletters = Counter("driftline_deadletters", "Dead letters written, by reason.", ["reason"], registry=r)
        self.shadow_predictions = Counter("driftline_shadow_predictions", "Answers of challengers in shadow, by model.",
                                          ["model"], registry=r)
        self.scoring_latency = Histogram("driftline_scoring_latency_seconds",
                                         "From an event's ts to its prediction on the broker (events without ts are not measured).", buckets=LATENCY_BUCKETS,
                                         registry=r)
        self.batch_seconds = Histogram("driftline_batch_processing_seconds", "Time an agent spent on one batch, by agent.",
                                       ["agent"], buckets=BATCH_BUCKETS, registry=r)
        self.examples_learned = Counter("driftline_examples_learned", "Labeled examples the champion learned, by model.",
                                        ["model"], registry=r)
        self.adaptation_lag = Histogram("driftline_adaptation_lag_seconds",
                                        "For each snapshot this worker served: from the join of the oldest label it newly "
                                        "learned to its first prediction.", buckets=LAG_BUCKETS, registry=r)
        self.drift_records = Counter("driftline_drift_records", "Records sent to drift-events, by model and kind.",
                                     ["model", "kind"], registry=r)
        self.alert_deliveries = Counter("driftline_alert_deliveries", "Alert delivery attempts, by endpoint and outcome "
                                        "(delivered, retry, failed, gone).", ["endpoint", "outcome"], registry=r)
        self.gc_pauses = Histogram("driftline_gc_pause_seconds", "Garbage collections of this worker, by generation "
                                   "(scoring stops for each).", ["generation"], buckets=BATCH_BUCKETS, registry=r)
        self.state = StateCollector()
        r.register(self.state)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def records_sent(self, records: Iterable[dict]) -> None:
        """Count records sent to ``drift-events``."""
        for record in records:
            self.drift_records.labels(model=str(record.get("model")), kind=str(record.get("kind"))).inc()

    def window_judged(self, model: str, verdicts: dict) -> None:
        """The latest window's column verdicts of ``model`` (features and predictions), for the gauges."""
        columns = {}
        for group in ("features", "predictions"):
            columns.update((verdicts.get(group) or {}).get("columns") or {})
        self.state.latest_drift[model] = columns


class StateCollector(Collector):
    """Gauges read at scrape time from what the stages hold (set by :meth:`watch`)."""

    def __init__(self) -> None:
        self.sources: dict[str, Callable[[], Any]] = {}
        self.pending: dict = {}  # the pending store's latest stats (read by the /metrics view)
        self.latest_drift: dict[str, dict] = {}  # model -> column -> verdict, of the latest window judged here

    def watch(self, name: str, source: Callable[[], Any]) -> None:
        self.sources[name] = source

    def describe(self) -> Iterable:
        return []  # families vary with the models: collected, not declared

    def collect(self) -> Iterable:
        models = self.sources.get("models")
        info = GaugeMetricFamily("driftline_model_info", "1 for each model version this worker serves, by alias.",
                                 labels=["model", "alias", "version"])
        snapshot = GaugeMetricFamily("driftline_snapshot_revision", "The learner snapshot revision served (0: the artifact).",
                                     labels=["model", "alias"])
        for name, described in (models() if models else {}).items():
            served = (("champion", described.get("loaded_version"), described.get("loaded_snapshot")),
                      ("challenger", described.get("challenger"), described.get("challenger_snapshot")))
            for alias, version, revision in served:
                if version is None:
                    continue
                info.add_metric([name, alias, str(version)], 1.0)
                snapshot.add_metric([name, alias], float(revision or 0))
        yield info
        yield snapshot
        drift = lambda: self.latest_drift  # noqa: E731
        score = GaugeMetricFamily("driftline_drift_score", "The latest window's drift score per model and column "
                                  "(a distance or a p-value, as driftline_drift_threshold's method says).", labels=["model", "column"])
        threshold = GaugeMetricFamily("driftline_drift_threshold", "Each column's drift threshold in the latest window.",
                                      labels=["model", "column", "method"])
        for name, columns in (drift() if drift else {}).items():
            for column, verdict in columns.items():
                if verdict.get("score") is not None:
                    score.add_metric([name, column], float(verdict["score"]))
                threshold.add_metric([name, column, verdict["method"]], float(verdict["threshold"]))
        yield score
        yield threshold
        stats = self.pending
        if stats:
            open_now = GaugeMetricFamily("driftline_pending_predictions", "Predictions waiting for their label (the group's).")
            open_now.add_metric([], float(stats.get("open", 0)))
            yield open_now
            expired = GaugeMetricFamily("driftline_pending_expired_predictions",
                                        "Predictions whose label never came within the TTL, since the start (the group's).")
            expired.add_metric([], float(stats.get("expired", 0)))
            yield expired


#: The worker's metrics: one worker per process.
METRICS = Metrics()
