"""The learning agents: ``labels`` ──► join ──► ``training`` ──► learners ──► snapshots.

The labels agent joins each label with its remembered prediction; the learn agent (on the worker
that holds the model's ``training`` partition) learns, writes snapshots and sends the champion's
``concept_drift`` records; timers snapshot by time, follow deployments, retry held labels and
account for expired predictions.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Awaitable, Callable

from stream.metrics import METRICS
from stream.settings import Settings
from stream.transport.batching import ack_batch, ready_batches
from stream.transport.faust_app import on_partitions_moved, raw_topic
from stream.transport.isolation import Isolation, until_done
from stream.transport.messages import messages_of
from stream.transport.producer import kafka_producer, send_keyed, sender
from stream.transport.topics import TopicNames
from stream.wire.drift import encode as encode_record

from .joiner import Joined, LabelJoiner
from .learner import checked_label
from .learners import Learners
from .pending import PendingStore
from .progress import BrokerProgressWatcher

log = logging.getLogger(__name__)


@dataclass
class Learning:
    """What the learning stage holds: the pending store, the joiner, the learners, their agents'
    batch fallbacks, and the concept_drift records not yet stored in Redis."""

    pending: PendingStore
    joiner: LabelJoiner
    learners: Learners
    isolation: dict[str, Isolation]  # "labels", "learn"
    drift_store: Any  # where concept_drift records are kept for the API
    keep_records: int
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # the learn agent and the timers never touch a model at once
    concept_unstored: list = field(default_factory=list)  # concept_drift records sent but not yet in Redis
    # Called with each batch of concept_drift records once they are on drift-events (the
    # deployment loop takes its triggers from them without waiting for the topic).
    on_concept_drifts: list = field(default_factory=list)
    # Called, outside the lock, with the models whose paired test became ready to decide in the
    # middle of a learn batch (the deployment loop acts on it before the rest of the batch).
    on_decisions_due: list = field(default_factory=list)


class LabelChecker:
    """``(model, label)`` -> the label as the served ``model`` takes it
    (:func:`~stream.learning.learner.checked_label`), or as it is when the model is not at hand
    here (the learner checks it again). The class table is built once per loaded version, not per
    label: ``model_metadata`` hands the same metadata object until the model changes."""

    def __init__(self, model_metadata: Callable[[str], dict | None]):
        self.model_metadata = model_metadata
        self.tables: dict[str, tuple] = {}  # model -> (its metadata, task, classes, class table)

    def __call__(self, model: str, label: Any) -> Any:
        metadata = self.model_metadata(model)
        if not metadata:
            return label
        known = self.tables.get(model)
        if known is None or known[0] is not metadata:
            classes = list(metadata.get("classes") or [])
            known = self.tables[model] = (metadata, metadata.get("task", ""), classes, {c: c for c in classes})
        return checked_label(label, *known[1:])


def install(app: Any, settings: Settings, topics: TopicNames, registry_factory, pending: PendingStore,
            drift_store: Any, model_metadata: Callable[[str], dict | None] | None = None) -> Learning:
    """Register the labels and learn agents, their timers and stop hooks on ``app``.
    ``model_metadata``: a served model's metadata by name (the scorers' cache), so that the label
    join refuses a label its model cannot take before it uses up the prediction."""
    learners = Learners(registry_factory, settings.signing_key_bytes(), settings.allow_unsigned,
                        every_examples=settings.snapshot_every_examples, every_seconds=settings.snapshot_every_seconds,
                        window=settings.metrics_window,
                        concept_detector=settings.concept_detector if settings.monitoring else None,
                        concept_params=settings.concept_params, publish_min_examples=settings.publish_min_examples,
                        publish_min_seconds=settings.publish_min_seconds, buffer_size=settings.retrain_buffer)
    progress = BrokerProgressWatcher(settings.broker_servers, settings.app_id, topics.events, settings.partitions)
    check = None if model_metadata is None else LabelChecker(model_metadata)
    learning = Learning(pending, LabelJoiner(pending, settings.max_event_bytes, progress.progress, topics.labels, check), learners,
                        {"labels": Isolation("labels"), "learn": Isolation("learn")}, drift_store,
                        settings.drift_keep_windows)
    send_deadletters = sender(app, topics.deadletter)

    async def join(batch) -> None:
        joiner = learning.joiner
        parts = await learning.isolation["labels"].run_async(messages_of(batch), joiner.join, joiner.failed)
        joined = Joined.merge(parts)
        producer = kafka_producer(app)
        await asyncio.gather(send_keyed(producer, topics.training, joined.examples),
                             send_keyed(producer, topics.deadletter, joined.deadletters))
        await pending.forget(joined.matched)

    @app.agent(raw_topic(app, topics.labels, settings.partitions), name="labels", concurrency=1)
    async def join_labels(stream):
        async for batch in ready_batches(stream, settings.batch_size):
            await until_done(partial(join, batch), "joining labels", attempt_seconds=10.0, redis_client=pending.redis)
            ack_batch(batch)  # its examples and dead letters are on the broker
            METRICS.events.labels(topic=topics.labels).inc(len(batch))

    async def send_outputs() -> None:
        await learners.deadletters.flush(send_deadletters)
        if learners.drift_events:
            # Before any snapshot that includes the detection (a replay would not find it again).
            await _send_concept_drifts(app, topics, learning)

    @app.agent(raw_topic(app, topics.training, settings.partitions), name="learn", concurrency=1)
    async def learn(stream):
        # noack: a training event is acked only once a snapshot includes it (see stream.learning.learners).
        async for batch in ready_batches(stream, settings.batch_size):
            await until_done(partial(learn_and_decide, learning, batch, send_outputs), "learning")
            METRICS.events.labels(topic=topics.training).inc(len(batch))
            await _snapshot_due(learning)

    @app.timer(min(1.0, settings.snapshot_every_seconds, settings.publish_min_seconds / 2))
    async def snapshot_by_time() -> None:
        await _snapshot_due(learning)
        await _store_concept_drifts(learning)  # those Redis did not take when they were sent

    @app.timer(settings.model_refresh_seconds)
    async def follow_deployments() -> None:
        try:
            async with learning.lock:
                await learners.check_versions()
        except Exception as exc:  # registry away: keep learning the versions we have
            log.warning("cannot check deployments: %s", exc)

    @app.timer(0.1)  # a label that overtook its prediction waits at most this long more
    async def retry_held_labels() -> None:
        await pending.recover()
        try:
            retry = await learning.joiner.retry_held()
            if retry.examples or retry.unmatched:
                producer = kafka_producer(app)
                await asyncio.gather(send_keyed(producer, topics.training, retry.examples),
                                     send_keyed(producer, topics.deadletter, retry.unmatched))
            await learning.joiner.finish_held(retry)
        except Exception as exc:  # the labels stay held: retried when their lease ends
            log.warning("cannot retry held labels: %s", exc)

    @app.timer(1.0)
    async def watch_scoring_progress() -> None:
        await asyncio.to_thread(progress.sample)  # held labels give up only once their events' backlog is scored

    @app.timer(min(5.0, pending.bucket_seconds))
    async def account_pending() -> None:
        try:
            await pending.account()
        except Exception as exc:  # Redis away: scoring goes on, the next round catches up
            log.warning("pending accounting failed: %s", exc)

    on_partitions_moved(app, topics.training, learning.lock, learners.drop_partitions)

    async def snapshot_learners() -> None:
        await _snapshot_due(learning, force_time=True)

    app.before_stop.append(snapshot_learners)
    app.while_draining.append(snapshot_learners)

    async def close_progress_watcher() -> None:
        await asyncio.to_thread(progress.close)

    app.before_stop.append(close_progress_watcher)
    return learning


async def learn_and_decide(learning: Learning, batch, send_outputs: Callable[[], Awaitable[None]]) -> None:
    """Learn a batch of training events and send what it produced (dead letters, concept drifts).
    When a model's paired test becomes ready to decide partway through, the batch stops there and
    the deployment loop acts first (:attr:`Learning.on_decisions_due`): every event until a
    promotion is served by the old model. The rest is then learned in one go (at most one stop
    per batch). Safe to call again with the same batch: learned events are passed over."""
    learners, stop_when_due = learning.learners, True
    while True:
        async with learning.lock:
            stopped_for = await learning.isolation["learn"].run_async(
                batch, partial(learners.learn_batch, stop_when_due=stop_when_due), learners.reject)
            await send_outputs()
        due = set().union(*(names for names in stopped_for if names))  # reject's results are None
        if not due:
            return
        for hook in learning.on_decisions_due:
            await hook(due)
        stop_when_due = False


async def _snapshot_due(learning: Learning, force_time: bool = False) -> None:
    """Checkpoint what is due (model, state, acks), and publish to the scorers what learned since."""
    learners = learning.learners
    try:
        async with learning.lock:
            for name in learners.due(force_time=force_time):
                await learners.snapshot(name)
            for name in learners.publish_due():
                await learners.publish(name)
    except Exception as exc:  # the events stay unacked; the next round writes the snapshot
        log.warning("cannot write snapshot: %s: %s", type(exc).__name__, exc)


async def _send_concept_drifts(app: Any, topics: TopicNames, learning: Learning) -> None:
    """Send the learner's concept_drift records (the batch waits for it, like its other outputs),
    then keep them in Redis for the API (retried by a timer while Redis is away)."""
    events = learning.learners.drift_events
    records = list(events)
    await send_keyed(kafka_producer(app), topics.drift, [(r["model"].encode(), encode_record(r)) for r in records])
    METRICS.records_sent(records)
    del events[:len(records)]
    learning.concept_unstored.extend(records)
    await _store_concept_drifts(learning)
    for hook in learning.on_concept_drifts:
        await hook(records)


async def _store_concept_drifts(learning: Learning) -> None:
    records = list(learning.concept_unstored)
    if not records:
        return
    by_model = defaultdict(list)
    for record in records:
        by_model[record["model"]].append(record)
    try:
        for model, model_records in by_model.items():
            await asyncio.to_thread(learning.drift_store.save_concept, model, model_records, learning.keep_records)
    except Exception as exc:  # Redis away: the records are on drift-events; the API gets them later
        log.warning("cannot store %d concept drift(s) in Redis yet: %s: %s", len(records), type(exc).__name__, exc)
        return
    del learning.concept_unstored[:len(records)]
