"""The worker's cheaper hand-over of fetched messages (``stream.transport.faust_app._Consumer``):
inline when the stream has room and the flow runs, Faust's own ``wait_first`` otherwise (a full
buffer, a rebalance); and on the real broker, offsets committed only for processed messages."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

import mode
import pytest
from async_helpers import run, until

from stream.transport.faust_app import DriftlineApp, RawSchema, _Consumer


class Handover(mode.Service):
    """A service with the consumer's hand-over and mode's real ``wait_first``."""

    _deliver = _Consumer._deliver
    delivered_inline = 0
    delivered_waiting = 0

    def __init__(self) -> None:
        super().__init__()
        self.suspend_flow = asyncio.Event()  # set by Faust while a rebalance runs
        self.wait_first_calls = 0

    async def wait_first(self, *coros, timeout=None):
        self.wait_first_calls += 1
        return await super().wait_first(*coros, timeout=timeout)


@pytest.mark.parametrize("key, value", [(b"e1", b'{"id": "e1"}'), (None, None), (b"k", b""), (None, b"\xff\x00")])
def test_the_raw_schema_makes_the_event_faust_s_raw_schema_makes(key, value):
    import faust
    from faust.types import TP
    from faust.types import Message as FaustMessage

    app = DriftlineApp("raw-schema-test", broker="kafka://127.0.0.1:1", key_serializer="raw", value_serializer="raw")
    message = FaustMessage("events", 0, 7, 1.7e9, 0, [("h", b"1")], key, value, None)
    message.tp = TP("events", 0)

    async def both():
        faust_own = faust.Schema(key_serializer="raw", value_serializer="raw").compile(app)
        return await RawSchema().compile(app)(message), await faust_own(message)

    ours, theirs = run(both())
    assert type(ours) is type(theirs)
    assert (ours.key, ours.value, ours.headers, ours.message) == (theirs.key, theirs.value, theirs.headers, theirs.message)
    assert ours.key == key and ours.value == value and ours.message is message


def test_a_message_the_stream_has_room_for_is_handed_over_inline():
    async def scenario():
        handover, got = Handover(), []

        async def put(message):  # the stream's queue has room: no suspension
            got.append(message)

        for i in range(3):
            await handover._deliver(put, i)
        return handover, got

    handover, got = run(scenario())
    assert got == [0, 1, 2] and handover.delivered_inline == 3 and handover.wait_first_calls == 0


def test_a_hand_over_that_must_wait_for_room_goes_through_wait_first_and_completes_once():
    async def scenario():
        handover, got, room = Handover(), [], asyncio.Event()

        async def put(message):  # a full buffer: waits for room
            await room.wait()
            got.append(message)

        task = asyncio.ensure_future(handover._deliver(put, "m"))
        await until(lambda: handover.wait_first_calls == 1, "hand-over waiting for room")
        assert got == [] and not task.done()
        room.set()
        await asyncio.wait_for(task, 5)
        return handover, got

    handover, got = run(scenario())
    assert got == ["m"] and handover.delivered_waiting == 1 and handover.wait_first_calls == 1


def test_a_rebalance_interrupts_a_waiting_hand_over_and_the_message_is_not_delivered():
    """What Faust does: the rebalance (suspend_flow set) wins the race and the hand-over is
    cancelled; the message is fetched again from the committed offset after the rebalance."""
    async def scenario():
        handover, got, cancelled, room = Handover(), [], [], asyncio.Event()

        async def put(message):
            try:
                await room.wait()
            except asyncio.CancelledError:
                cancelled.append(message)
                raise
            got.append(message)

        task = asyncio.ensure_future(handover._deliver(put, "m"))
        await until(lambda: handover.wait_first_calls == 1, "hand-over waiting for room")
        handover.suspend_flow.set()
        await asyncio.wait_for(task, 5)
        await until(lambda: cancelled == ["m"], "cancelled hand-over")
        room.set()  # room comes after the rebalance: too late, the hand-over was cancelled
        return handover, got

    handover, got = run(scenario())
    assert got == [] and handover.wait_first_calls == 1


def test_while_the_flow_is_suspended_every_hand_over_is_faust_s_own():
    async def scenario():
        handover, started = Handover(), []

        async def put(message):
            started.append(message)
            await asyncio.Event().wait()  # a buffer that never gets room

        handover.suspend_flow.set()
        await asyncio.wait_for(handover._deliver(put, "m"), 5)
        return handover

    handover = run(scenario())
    assert handover.wait_first_calls == 1 and handover.delivered_inline == 0 and handover.delivered_waiting == 1


def test_an_error_raised_after_the_hand_over_waited_reaches_the_drain_loop():
    async def scenario():
        handover, room = Handover(), asyncio.Event()

        async def put(message):
            await room.wait()
            raise RuntimeError("stream closed")

        task = asyncio.ensure_future(handover._deliver(put, "m"))
        await until(lambda: handover.wait_first_calls == 1, "hand-over waiting for room")
        room.set()
        with pytest.raises(RuntimeError, match="stream closed"):
            await asyncio.wait_for(task, 5)

    run(scenario())


@pytest.mark.integration
def test_offsets_are_committed_only_for_processed_messages_while_later_ones_were_handed_over(stack, stack_settings):
    """100 messages, then one the agent never finishes, then 100 more: the later ones are handed
    to the stream by the fast path, yet the group's committed offset stops at the blocked one."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic

    topic, group = "fastpath-commits", "driftline-fastpath"
    admin = KafkaAdminClient(bootstrap_servers=stack_settings.broker_servers)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=stack_settings.broker_servers)
    for i in range(100):
        producer.send(topic, str(i).encode())
    producer.send(topic, b"block")
    for i in range(100, 200):
        producer.send(topic, str(i).encode())
    producer.flush()
    producer.close()

    script = Path(__file__).parent / "apps" / "blocking_worker.py"
    process = subprocess.Popen([sys.executable, str(script), stack_settings.broker, topic, group, "worker", "-l", "warn", "--without-web"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)
    reader.start()
    offsets = KafkaConsumer(bootstrap_servers=stack_settings.broker_servers, group_id=group, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and (offsets.committed(tp) or 0) < 100:
            assert process.poll() is None, "".join(lines[-50:])
            time.sleep(0.5)
        assert offsets.committed(tp) == 100, "".join(lines[-50:])  # every message before the blocked one
        # Let several commit intervals (0.5 s) pass: the offset must not move past the blocked message.
        settle = time.monotonic() + 5
        while time.monotonic() < settle:
            assert offsets.committed(tp) == 100
            time.sleep(0.5)
        # Faust's worker logs what the app prints: the words are found inside its log lines.
        delivered = [line.split("DELIVERED", 1)[1].split() for line in lines if "DELIVERED" in line]
        processed = [line for line in lines if "PROCESSED" in line]
        assert len(processed) == 100 and any("BLOCKED" in line for line in lines), "".join(lines[-20:])
        inline, waiting = int(delivered[-1][0]), int(delivered[-1][1])
        assert inline + waiting >= 101 and inline > 0, delivered[-1]  # the later messages were handed over too
    finally:
        offsets.close()
        process.kill()
        process.wait(30)
