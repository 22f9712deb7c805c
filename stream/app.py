"""The Faust application: topics, the score agent, the model refresh timer and the web views.

``create_app(settings)`` builds a new app each call (tests and benchmarks build their own with
their own topics); nothing connects until the worker starts.

The score agent works in batches (``take_events``): per-event awaits and per-event Faust sends
cost most of the throughput. Each batch's outputs are handed to the producer without waiting,
then awaited together before the batch is acknowledged, so offsets are committed only after every
prediction and dead letter of the batch is on the broker (at-least-once; consumers of
``predictions`` de-duplicate by event id). Agent concurrency stays 1 (faust-streaming #606:
higher concurrency can commit past an unprocessed message).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import faust

from .model_cache import ModelCache
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
    events_topic: str
    predictions_topic: str
    deadletter_topic: str


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
    )
    app.fetch_max_wait_ms = settings.fetch_max_wait_ms
    cache = ModelCache(
        lambda: Registry.from_url(settings.redis_url, timeout=2.0),
        settings.signing_key_bytes(),
        allow_unsigned=settings.allow_unsigned,
    )
    runtime = Runtime(
        settings=settings,
        cache=cache,
        scorer=Scorer(cache, settings.default_model, settings.max_event_bytes),
        events_topic=settings.topic("events"),
        predictions_topic=settings.topic("predictions"),
        deadletter_topic=settings.topic("deadletter"),
    )
    app.driftline = runtime  # type: ignore[attr-defined]

    events = app.topic(runtime.events_topic, partitions=settings.partitions)

    @app.agent(events, name="score", concurrency=1)
    async def score(stream):
        await cache.ready.wait()
        async for batch in stream.take_events(settings.batch_size, within=settings.batch_timeout):
            await score_batch(app, runtime, batch)

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


async def score_batch(app: faust.App, runtime: Runtime, batch) -> None:
    scorer = runtime.scorer
    messages = [
        Message(e.message.key, e.message.value, e.message.topic, e.message.partition, e.message.offset) for e in batch
    ]
    parsed = scorer.parse(messages)
    missing = scorer.missing_models(parsed)
    if missing:
        # A model deployed a moment ago should not dead-letter its first events.
        await runtime.cache.ensure_loaded(missing)
    outputs = scorer.score(messages, parsed)
    producer = app.producer._ensure_producer()  # the worker's aiokafka producer
    predictions = [(o.key, o.value) for o in outputs if o.ok]
    deadletters = [(o.key, o.value) for o in outputs if not o.ok]
    # Acked (and so committed) only when every output is on the broker.
    await asyncio.gather(
        send_keyed(producer, runtime.predictions_topic, predictions),
        send_keyed(producer, runtime.deadletter_topic, deadletters),
    )
