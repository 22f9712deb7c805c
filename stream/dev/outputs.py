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

from kafka import KafkaConsumer

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


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of already sorted values.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.5), percentile([1.0, 2.0, 3.0, 4.0], 0.99)
    (2.0, 4.0)
    """
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[index]
