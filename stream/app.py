"""The Faust application: topics, the score agent, the model refresh timer and the web views.

``create_app(settings)`` builds a new app each call (tests and benchmarks build their own with
their own topics); nothing connects until the worker starts.

The score agent works in batches (``take_events``): per-event awaits and per-event Faust sends
cost most of the throughput. Each batch's outputs are handed to the producer without waiting,
then awaited together before the batch is acknowledged, so offsets are committed only after every
prediction and dead letter of the batch is on the broker (at-least-once; consumers of
``predictions`` de-duplicate by event id). Agent concurrency stays 1 (faust-streaming #606:
higher concurrency can commit past an unprocessed message).

With drift monitoring on (``DRIFTLINE_MONITORING``), each scored batch also sends one summary per
model to ``monitoring`` (keyed by model: the worker holding that partition runs the model's
monitor agent, which closes windows and produces ``data_drift`` / ``prediction_drift`` records on
``drift-events``), and the learner produces ``concept_drift`` records. Monitoring failures are
counted and shown in ``/health``; they never stop scoring. See :mod:`stream.monitoring`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass

import faust

from .drift_records import encode as encode_record
from .drift_store import DriftStore
from .isolation import Isolation
from .learning import Joined, LabelJoiner, Learners
from .model_cache import ModelCache
from .monitoring import BaselineLookup, BatchSummarizer, DriftMonitor, ReportRenderer
from .pending import PendingStore
from .redis_client import async_redis_client
from .registry import Registry
from .scoring import Message, Scorer
from .settings import Settings
from .sink import send_keyed
from .transport import DriftlineApp

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What the agents and views of one app share."""

    settings: Settings
    cache: ModelCache
    scorer: Scorer
    pending: PendingStore
    joiner: LabelJoiner
    learners: Learners
    events_topic: str
    predictions_topic: str
    deadletter_topic: str
    training_topic: str
    monitoring_topic: str
    drift_topic: str
    summarizer: BatchSummarizer
    drift_store: DriftStore
    baselines: BaselineLookup
    renderer: ReportRenderer
    monitor: DriftMonitor | None  # None: monitoring is off
    monitor_lock: asyncio.Lock
    concept_unstored: list  # concept_drift records sent but not yet in Redis
    isolation: dict[str, Isolation]  # agent name -> its batch fallback and counters


def create_app(settings: Settings) -> faust.App:
    app = DriftlineApp(
        settings.app_id,
        broker=settings.broker,
        store="memory://",
        autodiscover=False,
        datadir=str(settings.state_path / "faust-data"),
        topic_partitions=settings.partitions,
        topic_allow_declare=True,
        key_serializer="raw",
        value_serializer="raw",
        # A new consumer group reads from the start: events sent before the worker was ready
        # are still scored (nothing lost).
        consumer_auto_offset_reset="earliest",
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        producer_linger_ms=5,
        stream_buffer_maxsize=max(32768, settings.batch_size * 8),
        broker_max_poll_records=2000,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_seconds / 3),
    )
    app.fetch_max_wait_ms = settings.fetch_max_wait_ms
    registry_factory = lambda: Registry.from_url(settings.redis_url, timeout=2.0)  # noqa: E731
    cache = ModelCache(registry_factory, settings.signing_key_bytes(), allow_unsigned=settings.allow_unsigned,
                       monitoring=settings.monitoring)
    baselines = BaselineLookup(registry_factory, settings.signing_key_bytes(), settings.allow_unsigned, cache=cache)
    drift_store = DriftStore.from_url(settings.redis_url, timeout=2.0)
    # Short timeouts: the score path writes here and must not hang on an unreachable Redis.
    redis_async = async_redis_client(settings.redis_url, timeout=1.0)
    pending = PendingStore(redis_async, settings.app_id, settings.pending_ttl_seconds, settings.pending_max,
                           settings.label_grace_seconds)
    runtime = Runtime(
        settings=settings,
        cache=cache,
        scorer=Scorer(cache, settings.default_model, settings.max_event_bytes),
        pending=pending,
        joiner=LabelJoiner(pending, settings.max_event_bytes),
        learners=Learners(registry_factory, settings.signing_key_bytes(), settings.allow_unsigned,
                          every_examples=settings.snapshot_every_examples,
                          every_seconds=settings.snapshot_every_seconds, window=settings.metrics_window,
                          concept_detector=settings.concept_detector if settings.monitoring else None,
                          concept_params=settings.concept_params),
        events_topic=settings.topic("events"),
        predictions_topic=settings.topic("predictions"),
        deadletter_topic=settings.topic("deadletter"),
        training_topic=settings.topic("training"),
        monitoring_topic=settings.topic("monitoring"),
        drift_topic=settings.topic("drift-events"),
        summarizer=BatchSummarizer(cache, settings.drift_sample_rows, settings.drift_window_size),
        drift_store=drift_store,
        baselines=baselines,
        renderer=ReportRenderer(drift_store, baselines, keep=settings.drift_keep_reports, interval=settings.drift_report_interval),
        monitor=DriftMonitor(settings, baselines, drift_store) if settings.monitoring else None,
        monitor_lock=asyncio.Lock(),
        concept_unstored=[],
        isolation={name: Isolation(name) for name in ("score", "labels", "learn", "monitor")},
    )
    if settings.monitoring:
        _check_monitoring_settings(settings)
    app.driftline = runtime  # type: ignore[attr-defined]
    learn_lock = asyncio.Lock()  # the learn agent and the snapshot timer never touch a model at once

    events = app.topic(runtime.events_topic, partitions=settings.partitions)
    labels = app.topic(settings.topic("labels"), partitions=settings.partitions)
    training = app.topic(runtime.training_topic, partitions=settings.partitions)

    @app.agent(events, name="score", concurrency=1)
    async def score(stream):
        await cache.ready.wait()
        async for batch in stream.take_events(settings.batch_size, within=settings.batch_timeout):
            await score_batch(app, runtime, batch)

    @app.agent(labels, name="labels", concurrency=1)
    async def join_labels(stream):
        async for batch in stream.take_events(settings.batch_size, within=settings.batch_timeout):
            async def join() -> None:
                joiner = runtime.joiner
                parts = await runtime.isolation["labels"].run_async(_messages(batch), joiner.join, joiner.failed)
                joined = Joined.merge(parts)
                producer = app.producer._ensure_producer()
                await asyncio.gather(send_keyed(producer, runtime.training_topic, joined.examples),
                                     send_keyed(producer, runtime.deadletter_topic, joined.deadletters))
                await runtime.pending.forget(joined.matched)

            await _until_done(join, "joining labels", attempt_seconds=10.0, redis_client=runtime.pending.redis)  # the batch is acked only after it

    @app.agent(training, name="learn", concurrency=1)
    async def learn(stream):
        # noack: a training event is acked only once a snapshot includes it (see stream.learning).
        async for batch in stream.noack_take(settings.batch_size, within=settings.batch_timeout):
            async def learn_and_snapshot() -> None:
                async with learn_lock:
                    learners = runtime.learners
                    await runtime.isolation["learn"].run_async(batch, learners.learn_batch, learners.reject)
                    await learners.deadletters.flush(lambda records: send_keyed(
                        app.producer._ensure_producer(), runtime.deadletter_topic, records))
                    if runtime.learners.drift_events:
                        # Before any snapshot that includes the detection (a replay would not find it again).
                        await _send_concept_drifts(app, runtime)

            await _until_done(learn_and_snapshot, "learning")
            await _snapshot_due(runtime, learn_lock)

    if runtime.monitor is not None:
        monitoring = app.topic(runtime.monitoring_topic, partitions=settings.partitions)

        @app.agent(monitoring, name="monitor", concurrency=1)
        async def monitor(stream):
            # noack: a summary is acked once the window holding it is in Redis (checkpoint or closed).
            async for batch in stream.noack_take(100, within=0.5):
                await _until_done(lambda: _monitor_batch(app, runtime, batch), "drift monitoring")

        @app.timer(min(1.0, settings.drift_checkpoint_seconds))
        async def close_and_checkpoint_windows() -> None:
            try:
                async with runtime.monitor_lock:
                    runtime.monitor.poll()
                    await _publish_windows(app, runtime)
                    await runtime.monitor.checkpoint()
            except Exception as exc:  # Redis or the broker away: the next tick tries again
                log.warning("cannot publish or checkpoint drift windows: %s: %s", type(exc).__name__, exc)
            await _store_concept_drifts(runtime)

        @app.timer(1.0)
        async def render_reports() -> None:
            runtime.renderer.kick()  # in the background: a report takes seconds

    @app.timer(min(1.0, settings.snapshot_every_seconds))
    async def snapshot_by_time() -> None:
        await _snapshot_due(runtime, learn_lock)

    @app.timer(settings.model_refresh_seconds)
    async def follow_deployments() -> None:
        try:
            async with learn_lock:
                await runtime.learners.check_versions()
        except Exception as exc:  # registry away: keep learning the versions we have
            log.warning("cannot check deployments: %s", exc)

    @app.timer(0.5)
    async def retry_held_labels() -> None:
        await runtime.pending.recover()
        try:
            retry = await runtime.joiner.retry_held()
            if retry.examples or retry.unmatched:
                producer = app.producer._ensure_producer()
                await asyncio.gather(send_keyed(producer, runtime.training_topic, retry.examples),
                                     send_keyed(producer, runtime.deadletter_topic, retry.unmatched))
            await runtime.joiner.finish_held(retry)
        except Exception as exc:  # the labels stay held: retried when their lease ends
            log.warning("cannot retry held labels: %s", exc)

    @app.timer(min(5.0, runtime.pending.bucket_seconds))
    async def account_pending() -> None:
        try:
            await runtime.pending.account()
        except Exception as exc:  # Redis away: scoring goes on, the next round catches up
            log.warning("pending accounting failed: %s", exc)

    @app.on_partitions_revoked.connect
    async def on_revoked(app_, revoked, **kwargs) -> None:
        moved = {tp.partition for tp in revoked if tp.topic == runtime.training_topic}
        if moved:
            async with learn_lock:
                runtime.learners.drop_partitions(moved)
        watched = {tp.partition for tp in revoked if tp.topic == runtime.monitoring_topic}
        if watched and runtime.monitor is not None:
            async with runtime.monitor_lock:
                runtime.monitor.drop_partitions(watched)

    @app.on_before_shutdown.connect
    async def stop_rendering(app_, **kwargs) -> None:
        runtime.renderer.close()

    async def snapshot_learners() -> None:
        await _snapshot_due(runtime, learn_lock, force_time=True)

    async def checkpoint_windows() -> None:
        if runtime.monitor is not None:
            async with runtime.monitor_lock:
                await _publish_windows(app, runtime)
                await runtime.monitor.checkpoint(every=0.0)

    app.before_stop.extend([snapshot_learners, checkpoint_windows])

    @app.task
    async def load_models() -> None:
        await cache.refresh()
        log.info("models loaded: %s", cache.describe())

    @app.timer(settings.model_refresh_seconds)
    async def refresh_models() -> None:
        await cache.refresh()

    from .views import register_views

    register_views(app, runtime)
    return app


async def _until_done(work, what: str, *, attempt_seconds: float | None = None, redis_client=None) -> None:
    """Run ``work`` until it succeeds: an agent that raised would stop consuming for good, and its
    batch must not be acked undone (Redis or the broker away: wait for them, then carry on).

    ``attempt_seconds`` bounds one attempt (only for work that is safe to cancel): a Redis
    connection caught mid-command by an outage can leave an attempt waiting forever. After a
    failure the Redis client's connections are dropped, so the retry starts on fresh ones.
    """
    delay = 0.5
    while True:
        try:
            if attempt_seconds is None:
                return await work()
            return await asyncio.wait_for(work(), attempt_seconds)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s failed, retrying in %.1fs: %s: %s", what, delay, type(exc).__name__, exc)
            if redis_client is not None:
                try:
                    await redis_client.connection_pool.disconnect()
                except Exception:  # already broken: the pool reconnects on next use
                    pass
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


async def _snapshot_due(runtime: Runtime, lock: asyncio.Lock, force_time: bool = False) -> None:
    try:
        async with lock:
            for name in runtime.learners.due(force_time=force_time):
                await runtime.learners.snapshot(name)
    except Exception as exc:  # the events stay unacked; the next round writes the snapshot
        log.warning("cannot write snapshot: %s: %s", type(exc).__name__, exc)


def _check_monitoring_settings(settings: Settings) -> None:
    """Fail at start-up, naming the variable, on a detector that refuses its parameters."""
    from monitors import ConceptDriftMonitor

    from .errors import ConfigError

    try:
        ConceptDriftMonitor(settings.concept_detector, **settings.concept_params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"DRIFTLINE_CONCEPT_DETECTOR_PARAMS={settings.concept_detector_params!r}: {exc}") from None


async def _monitor_batch(app: faust.App, runtime: Runtime, batch) -> None:
    async with runtime.monitor_lock:
        monitor = runtime.monitor
        await runtime.isolation["monitor"].run_async(batch, monitor.add_batch, monitor.reject)
        await monitor.deadletters.flush(lambda records: send_keyed(
            app.producer._ensure_producer(), runtime.deadletter_topic, records))
        await _publish_windows(app, runtime)


async def _publish_windows(app: faust.App, runtime: Runtime) -> None:
    producer = app.producer._ensure_producer()
    published = await runtime.monitor.publish(lambda records: send_keyed(producer, runtime.drift_topic, records))
    if runtime.settings.drift_reports:
        for window in published:
            if window.drift_records:
                runtime.renderer.submit(window.model, window.record["id"], window.drift_records)


async def _send_concept_drifts(app: faust.App, runtime: Runtime) -> None:
    """Send the learner's concept_drift records (the batch waits for it, like its other outputs),
    then keep them in Redis for the API (retried by a timer while Redis is away)."""
    records = list(runtime.learners.drift_events)
    await send_keyed(app.producer._ensure_producer(), runtime.drift_topic,
                     [(r["model"].encode(), encode_record(r)) for r in records])
    del runtime.learners.drift_events[:len(records)]
    runtime.concept_unstored.extend(records)
    await _store_concept_drifts(runtime)


async def _store_concept_drifts(runtime: Runtime) -> None:
    records = list(runtime.concept_unstored)
    if not records:
        return
    by_model = defaultdict(list)
    for record in records:
        by_model[record["model"]].append(record)
    try:
        for model, model_records in by_model.items():
            await asyncio.to_thread(runtime.drift_store.save_concept, model, model_records, runtime.settings.drift_keep_windows)
    except Exception as exc:  # Redis away: the records are on drift-events; the API gets them later
        log.warning("cannot store %d concept drift(s) in Redis yet: %s: %s", len(records), type(exc).__name__, exc)
        return
    del runtime.concept_unstored[:len(records)]


def _messages(batch) -> list[Message]:
    return [Message(e.message.key, e.message.value, e.message.topic, e.message.partition, e.message.offset) for e in batch]


async def score_batch(app: faust.App, runtime: Runtime, batch) -> None:
    scorer = runtime.scorer
    messages = _messages(batch)
    parsed = scorer.parse(messages)  # never raises: a message it cannot parse is its dead letter
    missing = scorer.missing_models(parsed)
    if missing:
        # A model deployed a moment ago should not dead-letter its first events.
        await runtime.cache.ensure_loaded(missing)
    parts = runtime.isolation["score"].run(list(zip(messages, parsed)), scorer.score_items, scorer.failed)
    outputs = [output for part in parts for output in part]
    predictions = [(o.key, o.value) for o in outputs if o.ok]
    deadletters = [(o.key, o.value) for o in outputs if not o.ok]
    scored = [o.scored for o in outputs if o.scored is not None]
    # An event that carries its label is learned from at once (test-then-train); the others
    # wait in the pending store for their label.
    examples = [(o.scored.model.encode(), o.example) for o in outputs if o.example is not None]
    waiting = [s for s in scored if s.label is None]
    summaries = runtime.summarizer.summaries(scored, time.time()) if runtime.monitor is not None and scored else []

    async def deliver() -> None:
        producer = app.producer._ensure_producer()  # the worker's aiokafka producer
        await asyncio.gather(
            send_keyed(producer, runtime.predictions_topic, predictions),
            send_keyed(producer, runtime.deadletter_topic, deadletters),
            send_keyed(producer, runtime.training_topic, examples),
            _send_summaries(producer, runtime, summaries),
        )

    # Acked (and so committed) only when every output is on the broker: while the broker is
    # away the batch waits and is sent again (at-least-once), instead of crashing the agent.
    await asyncio.gather(_until_done(deliver, "delivering predictions"), _remember(runtime, waiting))


async def _send_summaries(producer, runtime: Runtime, summaries: list) -> None:
    if not summaries:
        return
    try:
        await send_keyed(producer, runtime.monitoring_topic, summaries)
    except Exception as exc:  # a lost summary costs a window some rows; scoring goes on
        runtime.summarizer.failed(exc)


async def _remember(runtime: Runtime, waiting: list) -> None:
    try:
        await runtime.pending.remember(waiting)
    except Exception as exc:  # Redis away: keep scoring; these predictions cannot be learned from
        log.warning("cannot remember predictions in Redis (%d not remembered so far): %s",
                    runtime.pending.not_remembered, exc)
