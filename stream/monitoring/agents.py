"""The monitor agent: ``monitoring`` ──► windows ──► ``drift-events`` (and Redis, and reports).

Each model's summaries land on one ``monitoring`` partition (keyed by model), so the worker
holding it runs that model's monitor. A timer closes time-based windows and checkpoints the open
ones; reports render in a process of their own, never on the score path.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from stream.errors import ConfigError
from stream.metrics import METRICS
from stream.settings import Settings
from stream.transport.faust_app import on_partitions_moved, raw_topic
from stream.transport.isolation import Isolation, until_done
from stream.transport.producer import sender
from stream.transport.topics import TopicNames

from .monitor import BaselineLookup, DriftMonitor
from .reports import ReportRenderer
from .store import DriftStore
from .summaries import BatchSummarizer

log = logging.getLogger(__name__)


@dataclass
class Monitoring:
    """What the monitoring stage holds. ``monitor`` is None when monitoring is off."""

    summarizer: BatchSummarizer
    monitor: DriftMonitor | None
    renderer: ReportRenderer
    store: DriftStore
    isolation: Isolation
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # the agent and the timer never touch windows at once
    #: Coroutines called with the drift records of the windows this worker's monitor published
    #: (once they are on drift-events): the deployment stage keeps the triggers among them at once.
    on_drift_records: list = field(default_factory=list)


def install(app: Any, settings: Settings, topics: TopicNames, cache: Any, registry_factory, store: DriftStore) -> Monitoring:
    """Register the monitor agent and its timers on ``app`` (when ``DRIFTLINE_MONITORING`` is on)."""
    baselines = BaselineLookup(registry_factory, settings.signing_key_bytes(), settings.allow_unsigned, cache=cache)
    monitoring = Monitoring(
        summarizer=BatchSummarizer(cache, settings.drift_sample_rows, settings.drift_window_size),
        monitor=DriftMonitor(settings, baselines, store) if settings.monitoring else None,
        renderer=ReportRenderer(store, baselines, keep=settings.drift_keep_reports, interval=settings.drift_report_interval),
        store=store,
        isolation=Isolation("monitor"),
    )

    @app.on_before_shutdown.connect
    async def stop_rendering(app_, **kwargs) -> None:
        monitoring.renderer.close()  # reports also render on demand with monitoring off

    monitor = monitoring.monitor
    if monitor is None:
        return monitoring
    _check_settings(settings)
    send_drift_records = sender(app, topics.drift)
    send_deadletters = sender(app, topics.deadletter)

    publish_windows = partial(publish_closed_windows, monitoring, settings, send_drift_records)

    async def monitor_batch(batch) -> None:
        async with monitoring.lock:
            await monitoring.isolation.run_async(batch, monitor.add_batch, monitor.reject)
            await monitor.deadletters.flush(send_deadletters)
            await publish_windows()

    @app.agent(raw_topic(app, topics.monitoring, settings.partitions), name="monitor", concurrency=1)
    async def monitor_summaries(stream):
        # noack: a summary is acked once the window holding it is in Redis (checkpoint or closed).
        async for batch in stream.noack_take(100, within=0.5):
            await until_done(partial(monitor_batch, batch), "drift monitoring")
            METRICS.events.labels(topic=topics.monitoring).inc(len(batch))

    @app.timer(min(1.0, settings.drift_checkpoint_seconds))
    async def close_and_checkpoint_windows() -> None:
        try:
            async with monitoring.lock:
                monitor.poll()
                await publish_windows()
                await monitor.checkpoint()
        except Exception as exc:  # Redis or the broker away: the next tick tries again
            log.warning("cannot publish or checkpoint drift windows: %s: %s", type(exc).__name__, exc)

    @app.timer(1.0)
    async def render_reports() -> None:
        monitoring.renderer.kick()  # in the background: a report takes seconds

    on_partitions_moved(app, topics.monitoring, monitoring.lock, monitor.drop_partitions)

    async def checkpoint_windows() -> None:
        async with monitoring.lock:
            await publish_windows()
            await monitor.checkpoint(every=0.0)

    app.before_stop.append(checkpoint_windows)
    app.while_draining.append(checkpoint_windows)
    return monitoring


async def publish_closed_windows(monitoring: Monitoring, settings: Settings, send_drift_records) -> list:
    """Publish the monitor's closed windows (stored, their records on drift-events, their summaries
    acked), count them, queue their reports, then hand their drift records to the
    :attr:`Monitoring.on_drift_records` hooks; returns the windows published."""
    published = await monitoring.monitor.publish(send_drift_records)
    records = []
    for window in published:
        METRICS.records_sent(window.drift_records)
        if window.record is not None:
            METRICS.window_judged(window.model, window.record["verdicts"])
        if window.drift_records:
            records.extend(window.drift_records)
            if settings.drift_reports:
                monitoring.renderer.submit(window.model, window.record["id"], window.drift_records)
    if records:
        for hook in monitoring.on_drift_records:
            await hook(records)
    return published


def _check_settings(settings: Settings) -> None:
    """Fail at start-up, naming the variable, on a detector that refuses its parameters."""
    from monitors import ConceptDriftMonitor

    try:
        ConceptDriftMonitor(settings.concept_detector, **settings.concept_params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"DRIFTLINE_CONCEPT_DETECTOR_PARAMS={settings.concept_detector_params!r}: {exc}") from None
