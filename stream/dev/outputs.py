"""Reading back what the score path wrote: predictions and dead letters of one run.

Used by the demo, the tests and the benchmarks to check that every event of a run ended as a
prediction or a dead letter. Messages are matched by their Kafka key (the event id, or for a
dead letter the original message's key), because a dead letter for unparseable bytes has no id.
Delivery is at-least-once, so records are de-duplicated by key and duplicates are counted.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from typing import Callable

from kafka import KafkaConsumer, TopicPartition

from stream.settings import Settings


class OutputWatcher:
    def __init__(self, settings: Settings, key_prefix: str, from_now: bool = False):
        """``from_now``: read only what is written from now on (a benchmark's later runs would
        otherwise re-read every earlier run's outputs while they are being measured)."""
        self.prefix = key_prefix.encode()
        self.predictions_topic = settings.topic("predictions")
        self.deadletter_topic = settings.topic("deadletter")
        self.predictions: dict[str, dict] = {}
        self.deadletters: dict[str, dict] = {}
        self.duplicates = 0
        self.first_seen: float | None = None
        self._consumer = KafkaConsumer(
            self.predictions_topic,
            self.deadletter_topic,
            bootstrap_servers=settings.broker_servers,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            client_id=f"{settings.app_id}-watcher",
        )
        if from_now:
            self._start_at_end()

    def _start_at_end(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self._consumer.assignment() and time.monotonic() < deadline:
            self._consumer.poll(timeout_ms=100, max_records=1)  # joins its topics' partitions
        self._consumer.seek_to_end()
        for tp in self._consumer.assignment():
            self._consumer.position(tp)  # resolve the end offsets now, before anything new is written

    def poll(self, timeout: float = 0.5) -> int:
        """Read what has arrived; returns how many new (non-duplicate) records matched."""
        new = 0
        for tp, messages in self._consumer.poll(timeout_ms=int(timeout * 1000), max_records=10_000).items():
            target = self.predictions if tp.topic == self.predictions_topic else self.deadletters
            for message in messages:
                if message.key is None or not message.key.startswith(self.prefix):
                    continue
                key = message.key.decode()
                if key in self.predictions or key in self.deadletters:
                    self.duplicates += 1
                    continue
                target[key] = json.loads(message.value)
                new += 1
        if new and self.first_seen is None:
            self.first_seen = time.monotonic()
        return new

    @property
    def total(self) -> int:
        return len(self.predictions) + len(self.deadletters)

    def reasons(self) -> Counter:
        return Counter(d["reason"] for d in self.deadletters.values())

    def wait_for(self, expected: int, timeout: float, on_poll: Callable[["OutputWatcher"], None] | None = None) -> bool:
        """Poll until ``expected`` records matched or ``timeout`` seconds passed."""
        deadline = time.monotonic() + timeout
        while self.total < expected and time.monotonic() < deadline:
            self.poll()
            if on_poll:
                on_poll(self)
        return self.total >= expected

    def latencies(self) -> list[float]:
        """Seconds from each event's timestamp to its scoring, sorted."""
        return sorted(p["ts_scored"] - p["ts_event"] for p in self.predictions.values() if p.get("ts_event") is not None)

    def close(self) -> None:
        self._consumer.close()


def read_to_end(settings: Settings, topic: str, key: bytes | None = None, timeout: float = 60.0) -> list:
    """Every message ``topic`` holds (only those with ``key`` if given), in (partition, offset)
    order: read up to the end offsets it finds when called, and no further. A consumer that stops
    after a quiet ``consumer_timeout_ms`` instead spends that whole timeout on every read, which
    in a loop that waits for outputs is most of the waiting."""
    name = settings.topic(topic)
    consumer = KafkaConsumer(bootstrap_servers=settings.broker_servers, group_id=None, enable_auto_commit=False,
                             max_partition_fetch_bytes=4 * 1024 * 1024, client_id=f"{settings.app_id}-reader")
    try:
        partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or ())]
        if not partitions:
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(partitions)
        messages = []
        deadline = time.monotonic() + timeout
        behind = [tp for tp in partitions if consumer.position(tp) < ends[tp]]
        while behind:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name}: not read to its end offsets within {timeout:.0f}s")
            for batch in consumer.poll(timeout_ms=200, max_records=50_000).values():
                messages.extend(m for m in batch if key is None or m.key == key)
            behind = [tp for tp in behind if consumer.position(tp) < ends[tp]]
        return sorted(messages, key=lambda m: (m.partition, m.offset))
    finally:
        consumer.close()


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of already sorted values.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.5), percentile([1.0, 2.0, 3.0, 4.0], 0.99)
    (2.0, 4.0)
    """
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[index]
