"""The alerts stage: ``drift-events`` ──► the alerts agent ──► Redis queues ──► one sender per endpoint.

The alerts agent reads ``drift-events`` (every worker, its partitions: a model's records in
order, by one worker at a time), matches each record against the endpoints of the alerts file,
and queues it in Redis per endpoint (collapsed within the cooldown, once per record id); the
record is acknowledged only once it is queued, so a crash loses none. Every worker runs a sender
per endpoint that claims due deliveries from Redis with a lease (a worker that dies mid-send
leaves its delivery to the next claim), so a delivery survives restarts and rebalances, and an
endpoint that hangs holds up only its own queue. Nothing here touches the score path.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from stream.model.schema import InvalidInput
from stream.registry.redis_client import async_redis_client
from stream.settings import Settings
from stream.transport.faust_app import raw_topic
from stream.transport.isolation import (
    DeadLetterBuffer,
    Isolation,
    reject_into,
    until_done,
)
from stream.transport.messages import messages_of
from stream.transport.producer import sender as topic_sender
from stream.transport.topics import TopicNames
from stream.wire.drift import parse_drift_record

from .config import COLLAPSED_KINDS, AlertsFile, Endpoint
from .delivery import Sender, session_holder
from .payloads import delivery_id
from .store import AlertStore

log = logging.getLogger(__name__)

#: How often the alerts file is checked for changes (and disabled endpoints re-read).
RELOAD_SECONDS = 2.0
#: How often finished deliveries beyond the bound are forgotten.
TRIM_SECONDS = 300.0


@dataclass
class Alerts:
    file: AlertsFile
    store: AlertStore
    isolation: Isolation
    senders: dict[str, Sender] = field(default_factory=dict)
    counters: Counter = field(default_factory=Counter)
    deadletters: DeadLetterBuffer = field(default_factory=DeadLetterBuffer)

    @property
    def endpoints(self) -> dict[str, Endpoint]:
        return self.file.config.endpoints

    def describe(self) -> dict:
        return {
            "file": str(self.file.path), "config_error": self.file.error, "reloads": self.file.reloads,
            "endpoints": {name: {"disabled": s.disabled, "last_error": s.last_error} for name, s in self.senders.items()},
            **{f"{k}_here": self.counters[k] for k in ("queued", "collapsed", "duplicates", "skipped_disabled",
                                                         "delivered", "retries", "failed")},
            "agent": dict(self.isolation.describe(), deadlettered=dict(self.deadletters.deadlettered)),
        }


async def queue_record(alerts: Alerts, record: dict) -> list[tuple[str, str]]:
    """Queue one record for every endpoint that wants it; ``[(endpoint, outcome)]``."""
    outcomes = []
    for endpoint in list(alerts.endpoints.values()):
        if not endpoint.wants(record):
            continue
        sender = alerts.senders.get(endpoint.name)
        if sender is not None and sender.disabled is not None:
            alerts.counters["skipped_disabled"] += 1
            continue
        outcome, _ = await alerts.store.queue(endpoint.name, record, delivery_id(endpoint.name, record["model"], record["id"]),
                                              collapse=record["kind"] in COLLAPSED_KINDS, cooldown=endpoint.cooldown_seconds)
        alerts.counters[{"queued": "queued", "collapsed": "collapsed", "duplicate": "duplicates"}[outcome]] += 1
        outcomes.append((endpoint.name, outcome))
        if sender is not None and outcome == "queued":
            sender.wake.set()
    return outcomes


def install(app: Any, settings: Settings, topics: TopicNames) -> Alerts | None:
    """Register the alerts agent, the senders and the file watch; None without an alerts file."""
    if not settings.alerts_file:
        return None
    alerts = Alerts(AlertsFile(settings.alerts_file), AlertStore(async_redis_client(settings.redis_url, timeout=5.0), settings.app_id),
                    Isolation("alerts"))
    session = session_holder()
    send_deadletters = topic_sender(app, topics.deadletter)
    log.info("alerts: %d endpoint(s) from %s", len(alerts.endpoints), settings.alerts_file)

    reject = partial(reject_into, alerts.deadletters)

    async def queue_messages(messages) -> list:
        for message in messages:
            try:
                record = parse_drift_record(message.value)
            except InvalidInput as error:
                reject(message, error)
                continue
            await queue_record(alerts, record)
        return []

    async def take(batch) -> None:
        # Redis away: the batch is queued again from the start (queueing is idempotent by record
        # id); a bug on one record dead-letters that record only.
        await alerts.isolation.run_async(messages_of(batch), queue_messages, reject)
        await alerts.deadletters.flush(send_deadletters)

    @app.agent(raw_topic(app, topics.drift, settings.partitions), name="alerts", concurrency=1)
    async def alert_agent(stream):
        async for batch in stream.take_events(100, within=0.2):
            await until_done(partial(take, batch), "queueing alerts")

    async def sync_senders() -> None:
        disabled = await alerts.store.disabled()
        for name, endpoint in alerts.endpoints.items():
            sender = alerts.senders.get(name)
            if sender is None:
                sender = alerts.senders[name] = Sender(endpoint, alerts.store, session, alerts.counters)
            sender.endpoint = endpoint
            off = disabled.get(name)
            if off is not None and off.get("url") != endpoint.url:  # a new URL in the file: enabled again
                await alerts.store.enable(name)
                off = None
            sender.disabled = off
            sender.start()
        for name in [n for n in alerts.senders if n not in alerts.endpoints]:
            await alerts.senders.pop(name).stop()

    @app.task
    async def start_senders() -> None:
        await until_done(sync_senders, "starting the alert senders")

    @app.timer(RELOAD_SECONDS)
    async def watch_alerts_file() -> None:
        reloaded = alerts.file.reload_if_changed()
        if reloaded:
            log.info("alerts file changed: %d endpoint(s)", len(alerts.endpoints))
        elif reloaded is False:
            log.error("alerts file not reloaded, the endpoints stay as they were: %s", alerts.file.error)
        try:
            await sync_senders()
        except Exception as exc:  # Redis away: the senders keep their last state
            log.warning("alerts: cannot read the disabled endpoints: %s", exc)

    @app.timer(TRIM_SECONDS)
    async def trim_deliveries() -> None:
        try:
            await alerts.store.trim()
        except Exception as exc:
            log.warning("alerts: cannot trim the delivery log: %s", exc)

    async def stop_senders() -> None:
        await asyncio.gather(*(s.stop() for s in alerts.senders.values()))
        await session.close()

    app.before_stop.append(stop_senders)
    return alerts
