"""The score agent and the model refresh: ``events`` ──► ``predictions`` / ``deadletter``
(and, while a model has a challenger, its answers on ``shadow-predictions``).

The score agent works in batches (:func:`~stream.transport.batching.ready_batches`: a batch is
scored as soon as nothing more is waiting, so below full load no event waits for a timer, and
under load batches fill by themselves): per-event awaits and per-event Faust sends cost most of
the throughput. Each batch's outputs are handed to the producer without waiting, then awaited
together before the batch is acknowledged, so offsets are committed only after every prediction
and dead letter of the batch is on the broker (at-least-once; consumers of ``predictions``
de-duplicate by event id). The next batch is taken only then, when the producer holds nothing
more of this agent's: a batch's outputs then go to the producer in one step, as closed record
batches that do not linger (:func:`~stream.transport.producer.send_together`), and leave in one
produce request, so a worker killed mid-way repeats a batch's predictions and its drift summary
both or neither. The fault suite checks that every scoring is summarised exactly once, and it
caught two ways of splitting the pair: sending a batch's outputs while the previous batch's were
still in flight (aiokafka held some back), and batches handed over milliseconds apart, each
lingering its own 5 ms, so that the sender could take the older ones alone (the likely cause
of 7 scorings a CI run found unsummarised). Agent concurrency stays 1 (faust-streaming #606:
higher concurrency can commit past an unprocessed message).

With drift monitoring on, each scored batch also sends one summary per model to ``monitoring``
(:class:`~stream.monitoring.summaries.BatchSummarizer`); a failure there is counted, never stops
scoring.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from stream.metrics import METRICS
from stream.registry.redis_client import async_redis_client
from stream.settings import Settings
from stream.transport.batching import ack_batch, ready_batches
from stream.transport.faust_app import raw_topic
from stream.transport.isolation import Isolation, until_done
from stream.transport.messages import messages_of
from stream.transport.producer import kafka_producer, send_together
from stream.transport.topics import TopicNames

from .model_cache import ModelCache
from .scoring import Scorer

log = logging.getLogger(__name__)


@dataclass
class Serving:
    """What the score path holds: the loaded models, the scorer and the agent's batch fallback."""

    cache: ModelCache
    scorer: Scorer
    isolation: Isolation
    # For the dashboard: (time, events) of recent batches, and recent event-to-prediction latencies.
    batches: deque = field(default_factory=lambda: deque(maxlen=2000))
    latencies: deque = field(default_factory=lambda: deque(maxlen=5000))

    def throughput(self, seconds: float = 10.0, now: float | None = None) -> float:
        """Events per second scored over the last ``seconds``."""
        now = time.time() if now is None else now
        return sum(n for ts, n in list(self.batches) if ts >= now - seconds) / seconds


def install(app: Any, settings: Settings, topics: TopicNames, cache: ModelCache, pending: Any,
            summarizer: Any = None) -> Serving:
    """Register the score agent and the model refresh on ``app``. ``pending`` remembers each
    prediction for its label (:class:`~stream.learning.pending.PendingStore`); ``summarizer``
    (None: monitoring off) makes the batch summaries for drift monitoring."""
    serving = Serving(cache, Scorer(cache, settings.default_model, settings.max_event_bytes), Isolation("score"))
    events = raw_topic(app, topics.events, settings.partitions)

    consumed = METRICS.events.labels(topic=topics.events)
    batch_seconds = METRICS.batch_seconds.labels(agent="score")

    @app.agent(events, name="score", concurrency=1)
    async def score(stream):
        await cache.ready.wait()
        async for batch in ready_batches(stream, settings.batch_size):
            started = time.perf_counter()
            await score_batch(app, serving, topics, pending, summarizer, batch)
            ack_batch(batch)  # its outputs are on the broker
            consumed.inc(len(batch))
            batch_seconds.observe(time.perf_counter() - started)
            serving.batches.append((time.time(), len(batch)))

    @app.task
    async def load_models() -> None:
        await cache.refresh()
        log.info("models loaded: %s", cache.describe())

    @app.timer(settings.model_refresh_seconds)
    async def refresh_models() -> None:
        await cache.refresh()  # the fallback for what the snapshot channel did not bring

    @app.task
    async def follow_snapshots() -> None:
        await cache.follow(lambda: async_redis_client(settings.redis_url, timeout=5.0))

    return serving


async def score_batch(app: Any, serving: Serving, topics: TopicNames, pending: Any, summarizer: Any, batch) -> None:
    scorer = serving.scorer
    messages = messages_of(batch)
    parsed = scorer.parse(messages)  # never raises: a message it cannot parse is its dead letter
    missing = scorer.missing_models(parsed)
    if missing:
        # A model deployed a moment ago should not dead-letter its first events.
        await serving.cache.ensure_loaded(missing)
    parts = serving.isolation.run(list(zip(messages, parsed)), scorer.score_items, scorer.failed)
    outputs = [output for part in parts for output in part]
    predictions = [(o.key, o.value) for o in outputs if o.ok]
    deadletters = [(o.key, o.value) for o in outputs if not o.ok]
    scored = [o.scored for o in outputs if o.scored is not None]
    # An event that carries its label is learned from at once (test-then-train); the others
    # wait in the pending store for their label.
    examples = [(o.scored.model.encode(), o.example) for o in outputs if o.example is not None]
    waiting = [s for s in scored if s.label is None]
    summaries = summarizer.summaries(scored, time.time()) if summarizer is not None and scored else []
    shadows = scorer.shadow(scored)  # empty unless a model has a challenger

    async def deliver() -> None:
        # Predictions and their summary first: they must leave in the same request (the fault
        # suite checks that every scoring is summarised exactly once).
        prediction_error, summary_error, *other_errors = await send_together(kafka_producer(app), [
            (topics.predictions, predictions), (topics.monitoring, summaries), (topics.deadletter, deadletters),
            (topics.training, examples), (topics.shadow, shadows)])
        if summary_error is not None:  # a lost summary costs a window some rows; scoring goes on
            summarizer.failed(summary_error)
        for error in (prediction_error, *other_errors):
            if error is not None:
                raise error

    # Acked (and so committed) only when every output is on the broker: while the broker is
    # away the batch waits and is sent again (at-least-once), instead of crashing the agent.
    await asyncio.gather(until_done(deliver, "delivering predictions"), _remember(pending, waiting))
    _observe_latency(scored, time.time(), serving.latencies)
    if shadows:
        for model, n in Counter(s.model for s in scored if s.model in serving.cache.challengers).items():
            METRICS.shadow_predictions.labels(model=model).inc(n)


def _observe_latency(scored: list, now: float, recent: deque) -> None:
    """Event timestamp to its prediction on the broker (events without ``ts``: not measured)."""
    latencies = [now - s.ts_event for s in scored if s.ts_event is not None and s.ts_event <= now]
    observe = METRICS.scoring_latency.observe
    for latency in latencies:
        observe(latency)
    recent.extend(latencies)


async def _remember(pending: Any, waiting: list) -> None:
    try:
        await pending.remember(waiting)
    except Exception as exc:  # Redis away: keep scoring; these predictions cannot be learned from
        log.warning("cannot remember predictions in Redis (%d not remembered so far): %s", pending.not_remembered, exc)
