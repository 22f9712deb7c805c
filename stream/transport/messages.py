"""A Kafka message as the stages see it: plain data, not Faust's event (tests build them by hand)."""

from __future__ import annotations

from typing import Any, NamedTuple


class Message(NamedTuple):
    key: bytes | None
    value: bytes | None
    topic: str
    partition: int | None
    offset: int | None


def messages_of(batch: Any) -> list[Message]:
    """The messages of a batch of Faust events."""
    return [Message(e.message.key, e.message.value, e.message.topic, e.message.partition, e.message.offset) for e in batch]
