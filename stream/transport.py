"""Faust's aiokafka transport with one change: a configurable fetch wait.

faust-streaming 0.15 hard-codes ``fetch_max_wait_ms=1500`` for the worker's consumer. Apache
Kafka answers a fetch as soon as one byte is there, so the wait rarely matters; the embedded
Tansu broker holds fetches much closer to the full wait, which put ~1.2 s of latency on every
event at moderate rates (measured by benchmarks/throughput.py). The wait is set from
``DRIFTLINE_FETCH_MAX_WAIT_MS`` before the consumer starts.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka


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
    """A Faust app whose worker consumer uses ``fetch_max_wait_ms``."""

    fetch_max_wait_ms: int = 1500

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)
