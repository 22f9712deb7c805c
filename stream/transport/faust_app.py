"""Faust's aiokafka transport with one change, a configurable fetch wait; and the app's hooks
that write what is pending before it stops (see :class:`DriftlineApp`).

faust-streaming 0.15 hard-codes ``fetch_max_wait_ms=1500`` for the worker's consumer. Apache
Kafka answers a fetch as soon as one byte is there, so the wait rarely matters; the embedded
Tansu broker holds fetches much closer to the full wait, which put ~1.2 s of latency on every
event at moderate rates (measured by benchmarks/throughput.py). The wait is set from
``DRIFTLINE_FETCH_MAX_WAIT_MS`` before the consumer starts.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

#: The longest each stop hook may take (Redis away: give up; the events are delivered again).
STOP_HOOK_SECONDS = 10.0


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads this when it builds its fetcher in start(); no public setter exists.
        consumer._fetch_max_wait_ms = self.app.fetch_max_wait_ms
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class DriftlineApp(faust.App):
    """A Faust app whose worker consumer uses ``fetch_max_wait_ms``, with hooks run when it stops.

    The learner and the drift monitor acknowledge their events only once a snapshot or a
    checkpoint in Redis holds them, from timers. On a graceful stop Faust stops the timers, then
    waits for every event to be acknowledged: ``before_stop`` hooks write what is pending first,
    so that a stop does not hang until it is killed.
    """

    fetch_max_wait_ms: int = 1500

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.before_stop: list[Callable[[], Awaitable[None]]] = []

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)

    async def on_stop(self) -> None:
        for hook in self.before_stop:
            try:
                await asyncio.wait_for(hook(), STOP_HOOK_SECONDS)
            except Exception as exc:  # what is not acked is delivered again after the restart
                self.log.warning("on stop, %s failed: %s: %s", getattr(hook, "__name__", hook), type(exc).__name__, exc)
        await super().on_stop()


def on_partitions_moved(app: faust.App, topic: str, lock: asyncio.Lock, drop: Callable[[set[int]], Any]) -> None:
    """Call ``drop(partitions)``, under ``lock``, when partitions of ``topic`` are taken from this
    worker in a rebalance (their state moves to the new owner, which restores it from Redis)."""

    @app.on_partitions_revoked.connect
    async def drop_moved(app_: Any, revoked: Any, **kwargs: Any) -> None:
        moved = {tp.partition for tp in revoked if tp.topic == topic}
        if moved:
            async with lock:
                drop(moved)
