"""The batch sink against the real broker: everything arrives, keyed like any Kafka client would."""

import asyncio
import time

import pytest
from aiokafka import AIOKafkaProducer
from kafka import KafkaConsumer
from kafka.partitioner.default import murmur2

from stream.transport.producer import BATCH_BYTES, send_keyed, send_together
from stream.transport.topics import ensure_topics

pytestmark = pytest.mark.integration


def test_send_keyed_delivers_every_record_to_the_partition_of_its_key(stack, stack_settings):
    settings = stack_settings.__class__.from_env(stack_settings.to_env(), topic_prefix="sink-test-")
    ensure_topics(settings, ("predictions",))
    topic = settings.topic("predictions")
    records = [(f"id-{i}".encode(), b'{"n": %d}' % i) for i in range(3000)]

    async def produce():
        producer = AIOKafkaProducer(bootstrap_servers=settings.broker_servers, max_batch_size=16384)
        await producer.start()
        try:
            await send_keyed(producer, topic, records)  # small batches: exercises the "batch full" path
        finally:
            await producer.stop()

    asyncio.run(produce())
    consumer = KafkaConsumer(topic, bootstrap_servers=settings.broker_servers, auto_offset_reset="earliest",
                             group_id=None, consumer_timeout_ms=3000)
    seen = {m.key: (m.partition, m.value) for m in consumer}
    consumer.close()
    assert len(seen) == len(records)
    for key, value in records:
        partition, got = seen[key]
        assert got == value
        assert partition == (murmur2(key) & 0x7FFFFFFF) % settings.partitions  # Kafka's default partitioner


def test_send_together_hands_every_topic_to_one_produce_request(stack, stack_settings):
    """A scored batch's predictions and its drift summary leave in the same request to the broker,
    so a worker killed mid-way leaves both on the broker or neither (the fault suite's check that
    every scoring is summarised exactly once rests on this)."""
    settings = stack_settings.__class__.from_env(stack_settings.to_env(), topic_prefix="together-test-")
    ensure_topics(settings, ("predictions", "monitoring", "deadletter"))
    names = [settings.topic(t) for t in ("predictions", "monitoring", "deadletter")]
    # 500 predictions of ~250 bytes: more than aiokafka's default 16 KiB per partition.
    outputs = [(names[0], [(f"id-{i}".encode(), b'{"p": "%s"}' % (b"x" * 240)) for i in range(500)]),
               (names[1], [(b"model-a", b'{"summary": 1}')]),
               (names[2], [(f"bad-{i}".encode(), b'{"reason": "x"}') for i in range(7)])]
    requests: list[set] = []

    async def produce():
        # The worker's producer settings: 5 ms linger, BATCH_BYTES per record batch.
        producer = AIOKafkaProducer(bootstrap_servers=settings.broker_servers, linger_ms=5, max_batch_size=BATCH_BYTES)
        await producer.start()
        sender = producer._sender
        send_request = sender._send_produce_req

        async def spy(node_id, batches):
            requests.append({(tp.topic, tp.partition) for tp in batches})
            await send_request(node_id, batches)

        sender._send_produce_req = spy
        try:
            for topic in names:  # metadata first, so that only the sends themselves are observed
                await producer.client._wait_on_metadata(topic)
            for _ in range(5):
                requests.clear()
                errors = await send_together(producer, outputs)
                assert errors == [None, None, None]
                assert len(requests) == 1, requests
                assert {topic for topic, _ in requests[0]} == set(names)
        finally:
            await producer.stop()

    asyncio.run(produce())


def test_send_together_does_not_wait_for_the_producers_linger(stack, stack_settings):
    """Its batches are closed: none waits for the linger, so none can leave after the others
    because it was handed over a few milliseconds later and lingered on."""
    settings = stack_settings.__class__.from_env(stack_settings.to_env(), topic_prefix="together-test-")
    ensure_topics(settings, ("predictions",))
    topic = settings.topic("predictions")

    async def produce() -> float:
        producer = AIOKafkaProducer(bootstrap_servers=settings.broker_servers, linger_ms=20_000, max_batch_size=BATCH_BYTES)
        await producer.start()
        try:
            await producer.client._wait_on_metadata(topic)
            started = time.monotonic()
            assert await send_together(producer, [(topic, [(b"k", b"v")])]) == [None]
            return time.monotonic() - started
        finally:
            await producer.stop()

    assert asyncio.run(produce()) < 10.0  # a lingering batch would wait the whole 20 s
