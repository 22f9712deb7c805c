"""Creating the wire contract's topics explicitly, with the configured partition count.

Brokers that auto-create topics pick their own partition count (Tansu: 4), and ``events`` and
``labels`` must be co-partitioned by event id, so every command that writes or reads a topic
creates the whole set first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from stream.settings import Settings

log = logging.getLogger(__name__)

TOPICS = ("events", "labels", "predictions", "training", "monitoring", "drift-events", "deadletter", "shadow-predictions")


@dataclass(frozen=True)
class TopicNames:
    """The full names of the wire contract's topics (with ``DRIFTLINE_TOPIC_PREFIX``)."""

    events: str
    labels: str
    predictions: str
    training: str
    monitoring: str
    drift: str
    deadletter: str
    shadow: str  # shadow-predictions: the challengers' answers, never served

    @classmethod
    def from_settings(cls, settings: Settings) -> "TopicNames":
        return cls(*(settings.topic(name) for name in TOPICS))


def ensure_topics(settings: Settings, names: tuple[str, ...] = TOPICS, timeout: float = 15.0) -> list[str]:
    """Create the missing topics; returns the full names of those created."""
    admin = KafkaAdminClient(
        bootstrap_servers=settings.broker_servers,
        client_id=f"{settings.app_id}-admin",
        request_timeout_ms=int(timeout * 1000),
    )
    try:
        existing = set(admin.list_topics())
        wanted = [settings.topic(n) for n in names]
        missing = [t for t in wanted if t not in existing]
        created = []
        for topic in missing:
            try:
                admin.create_topics([NewTopic(topic, num_partitions=settings.partitions, replication_factor=1)])
                created.append(topic)
            except TopicAlreadyExistsError:  # another process won the race
                pass
        if created:
            log.info("created topics %s with %d partitions", created, settings.partitions)
        return created
    finally:
        admin.close()
