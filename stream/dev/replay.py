"""Streaming a data set into Kafka: events now, their labels after a delay.

Event ids are ``RUN-ROW`` (unique per run); a limit larger than the data set cycles through it
again, with fresh ids. ``label_delay`` counts events: the label of event *i* is sent right after
event *i + delay* (0 sends each label just after its event; None sends no labels).
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from kafka import KafkaProducer

from stream.progress import ProgressWriter
from stream.settings import Settings


@dataclass
class ReplaySummary:
    run_id: str
    events: int
    labels: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def event_ids(run_id: str, count: int) -> list[str]:
    """The ids a replay of ``count`` events with this run id sends (tests and the demo use them)."""
    return [f"{run_id}-{i}" for i in range(count)]


def new_run_id() -> str:
    return secrets.token_hex(4)


def replay(
    settings: Settings,
    rows: list[dict],
    targets: list | None,
    model: str | None,
    *,
    rate: float | None = None,
    limit: int | None = None,
    label_delay: int | None = None,
    run_id: str | None = None,
    progress: Callable[[int, int, int], None] | None = None,
    producer: KafkaProducer | None = None,
) -> ReplaySummary:
    """Send ``limit`` events (default: the whole data set once) and, if asked, their labels."""
    if not rows:
        raise ValueError("the data set has no rows")
    if label_delay is not None and (label_delay < 0 or targets is None):
        raise ValueError("label_delay needs labels and must be >= 0")
    run_id = run_id or new_run_id()
    total = len(rows) if limit is None else limit
    own_producer = producer is None
    producer = producer or make_producer(settings)
    events_topic, labels_topic = settings.topic("events"), settings.topic("labels")
    waiting_labels: deque[tuple[str, Any]] = deque()
    labels_sent = 0
    started = time.monotonic()
    last_progress = 0.0
    try:
        for i, (x, y) in enumerate(_cycle(rows, targets, total)):
            event_id = f"{run_id}-{i}"
            event = {"id": event_id, "features": x, "ts": time.time()}
            if model:
                event["model"] = model
            producer.send(events_topic, key=event_id.encode(), value=_dumps(event))
            if label_delay is not None:
                waiting_labels.append((event_id, y))
                while len(waiting_labels) > label_delay:
                    labels_sent += _send_label(producer, labels_topic, model, *waiting_labels.popleft())
            if rate:
                ahead = (i + 1) / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            if progress and time.monotonic() - last_progress > 0.2:
                last_progress = time.monotonic()
                progress(i + 1, total, labels_sent)
        while waiting_labels:
            labels_sent += _send_label(producer, labels_topic, model, *waiting_labels.popleft())
        producer.flush()
    finally:
        if own_producer:
            producer.close()
    seconds = time.monotonic() - started
    if progress:
        progress(total, total, labels_sent)
    return ReplaySummary(run_id, total, labels_sent, seconds)


def make_producer(settings: Settings) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=settings.broker_servers,
        client_id=f"{settings.app_id}-replay",
        linger_ms=5,
        batch_size=256 * 1024,
        acks=1,
    )


def progress_bar(stream=None, width: int = 30) -> Callable[[int, int, int], None]:
    """``[#####.....] 5,000/30,000 events  1,000/s  labels 4,700``: redrawn on a terminal, a line
    every 10 s in a log (:class:`~stream.progress.ProgressWriter`)."""
    writer = ProgressWriter(stream)

    def show(done: int, total: int, labels: int) -> None:
        filled = int(width * done / total) if total else width
        line = f"[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} events  {done / writer.elapsed():,.0f}/s"
        if labels:
            line += f"  labels {labels:,}"
        writer.update(line, final=done >= total)

    return show


def _cycle(rows: list[dict], targets: list | None, total: int) -> Iterator[tuple[dict, Any]]:
    pairs = zip(rows, targets) if targets is not None else ((x, None) for x in rows)
    return itertools.islice(itertools.cycle(list(pairs)), total)


def _send_label(producer: KafkaProducer, topic: str, model: str | None, event_id: str, label: Any) -> int:
    value = {"id": event_id, "label": label}
    if model:
        value["model"] = model
    producer.send(topic, key=event_id.encode(), value=_dumps(value))
    return 1


def _dumps(value: dict) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
