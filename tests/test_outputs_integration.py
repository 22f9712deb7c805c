"""Reading a topic back to its end offsets, on the real embedded broker."""

from __future__ import annotations

import dataclasses
import time

import pytest

from stream.dev.outputs import read_to_end
from stream.dev.replay import make_producer
from stream.transport.topics import ensure_topics

pytestmark = pytest.mark.integration


def test_read_to_end_returns_every_message_in_order_without_waiting_for_quiet(stack, stack_settings):
    settings = dataclasses.replace(stack_settings, topic_prefix="outputs-")
    ensure_topics(settings, ("predictions", "deadletter"))
    assert read_to_end(settings, "predictions") == []  # an empty topic: nothing to wait for
    producer = make_producer(settings)
    for i in range(600):
        producer.send(settings.topic("predictions"), key=f"k{i % 7}".encode(), value=b"%d" % i)
    producer.flush()
    producer.close()
    started = time.monotonic()
    messages = read_to_end(settings, "predictions")
    took = time.monotonic() - started
    assert sorted(int(m.value) for m in messages) == list(range(600))
    assert [(m.partition, m.offset) for m in messages] == sorted((m.partition, m.offset) for m in messages)
    assert len({m.partition for m in messages}) > 1  # read from every partition, not one
    mine = read_to_end(settings, "predictions", key=b"k3")
    assert [int(m.value) for m in mine] == [i for i in range(600) if i % 7 == 3]  # one key: one partition, in order
    assert read_to_end(settings, "no-such-topic") == []
    print(f"read 600 messages in {took:.2f}s")
