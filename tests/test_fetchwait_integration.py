"""The adaptive fetch wait against the real embedded broker.

The embedded broker answers a fetch without records when finding them takes longer than the
fetch's max wait, which happens once a partition holds many small batches (a paced producer
writes one event per batch). A consumer with a short wait then reads nothing, for good: the
worker's scoring stopped after ~150,000 events in ``benchmarks/soak.py``. With the adaptive wait
(``stream/transport/fetchwait.py``) it reads everything.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from stream.transport import fetchwait

pytestmark = pytest.mark.integration

BATCHES = 20_000
SHORT_WAIT_MS = 1


async def _produce_one_per_batch(servers: str, topic: str, count: int) -> None:
    body = json.dumps({"id": "e" * 20, "features": {f"f{i}": i * 1.5 for i in range(10)}}).encode()
    # A batch no larger than one message: each event its own batch, as a paced producer writes them.
    producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=0, max_batch_size=len(body) + 100)
    await producer.start()
    try:
        for _ in range(count):
            await producer.send(topic, body, partition=0)
        await producer.flush()
    finally:
        await producer.stop()


async def _read(servers: str, topic: str, seconds: float, fetch_wait: fetchwait.AdaptiveFetchWait | None) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False, group_id=None,
                                fetch_max_wait_ms=SHORT_WAIT_MS, max_poll_records=2000)
    await consumer.start()
    try:
        if fetch_wait is not None:
            fetchwait.install(consumer, fetch_wait)
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        got, deadline = 0, time.monotonic() + seconds
        while got < BATCHES and time.monotonic() < deadline:
            records = await consumer.getmany(timeout_ms=500)
            got += sum(len(batch) for batch in records.values())
        return got
    finally:
        await consumer.stop()


def test_a_starving_broker_is_read_to_the_end_with_the_adaptive_wait(stack, stack_settings):
    servers = stack_settings.broker_servers[0]
    topic = f"fetchwait-{time.time_ns()}"
    admin = KafkaAdminClient(bootstrap_servers=servers)
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        admin.close()
    asyncio.run(_produce_one_per_batch(servers, topic, BATCHES))

    fixed = asyncio.run(_read(servers, topic, 5.0, None))
    if fixed == BATCHES:
        pytest.skip(f"the broker answered {SHORT_WAIT_MS} ms fetches in time on this machine: nothing to adapt to")

    wait = fetchwait.AdaptiveFetchWait(SHORT_WAIT_MS)
    adaptive = asyncio.run(_read(servers, topic, 120.0, wait))
    assert adaptive == BATCHES, f"read {adaptive:,} of {BATCHES:,} (the fixed {SHORT_WAIT_MS} ms wait read {fixed:,}); {wait.describe()}"
    assert wait.starved_fetches > 0 and wait.highest_ms > SHORT_WAIT_MS
