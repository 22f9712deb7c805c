"""The batch sink against the real broker: everything arrives, keyed like any Kafka client would."""

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from kafka import KafkaConsumer
from kafka.partitioner.default import murmur2

from stream.transport.producer import send_keyed
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
