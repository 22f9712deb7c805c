"""The agents' batches (``stream.transport.batching``): taken straight from the stream's queue, a
batch is handed over as soon as nothing more is waiting, never larger than asked; events fetched
before a rebalance are skipped as Faust's stream iterator skips them; the others are tracked as
unacknowledged and left for the caller to acknowledge (once their outputs are on the broker); the
actor's stop ends the iteration."""

from __future__ import annotations

import asyncio

import faust
from async_helpers import run
from async_helpers import until as shared_until

from stream.transport.batching import ready_batches


async def until(condition, what: str, timeout: float = 10.0) -> None:
    # Polled every millisecond rather than spun: these scenarios may wait up to 20 s.
    await shared_until(condition, what, timeout, poll=0.001)


# ready_batches on a real Faust stream (an in-memory channel) -----------------------------------------
def _app() -> faust.App:
    # Never connects: only the in-memory channel is used. Flow control is resumed by a running
    # worker; here by hand.
    app = faust.App("driftline-batching-test", broker="kafka://127.0.0.1:1", store="memory://")
    app.flow_control.resume()
    return app


def test_a_lone_event_is_handed_over_at_once_without_a_timer():
    async def scenario():
        app = _app()
        channel = app.channel()
        stream = app.stream(channel)  # before the first send: the stream reads a clone of the channel
        batches: list[list] = []

        async def consume():
            async for batch in ready_batches(stream, 500):
                batches.append([event.value for event in batch])

        task = asyncio.ensure_future(consume())
        try:
            await channel.send(value="first")
            await until(lambda: batches, "batch", timeout=20.0)  # Faust's noack_take would wait for its within
            await channel.send(value="second")
            await until(lambda: len(batches) == 2, "second batch", timeout=20.0)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await stream.stop()
        return batches

    assert run(scenario()) == [["first"], ["second"]]


def test_events_waiting_together_come_in_batches_no_larger_than_asked_in_order_and_unacked():
    async def scenario():
        app = _app()
        channel = app.channel(maxsize=2000)
        stream = app.stream(channel)
        batches: list[list] = []
        acked: list[bool] = []
        go_on = asyncio.Event()

        async def consume():
            async for batch in ready_batches(stream, 100):
                batches.append([event.value for event in batch])
                acked.extend(event.message.acked for event in batch)
                if len(batches) == 1:
                    await go_on.wait()  # a busy agent: the rest piles up meanwhile

        task = asyncio.ensure_future(consume())
        try:
            await channel.send(value=0)
            await until(lambda: batches, "first batch")
            for i in range(1, 351):
                await channel.send(value=i)
            go_on.set()
            await until(lambda: sum(map(len, batches)) == 351, "every event")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await stream.stop()
        return batches, acked, dict(app.monitor.stream_inbound_time)

    batches, acked, inbound = run(scenario())
    # Faust's check for a stalled stream reads when each partition's stream last took an event.
    assert inbound and all(isinstance(t, float) for t in inbound.values())
    assert [v for batch in batches for v in batch] == list(range(351))
    assert batches[0] == [0] and max(map(len, batches)) == 100
    assert len(batches) <= 6  # the pile came in full batches, not one by one
    assert not any(acked)  # the caller acks, once the outputs are delivered


def test_an_idle_stream_waits_on_its_queue_with_no_timer_until_an_event_comes():
    async def scenario():
        app = _app()
        channel = app.channel()
        stream = app.stream(channel)
        batches: list[list] = []
        loop = asyncio.get_running_loop()
        timers: list[float] = []
        call_at = loop.call_at

        def counting_call_at(when, callback, *args, **kwargs):  # every timer of the loop comes here
            timers.append(when)
            return call_at(when, callback, *args, **kwargs)

        async def consume():
            async for batch in ready_batches(stream, 500):
                batches.append([event.value for event in batch])

        loop.call_at = counting_call_at
        task = asyncio.ensure_future(consume())
        try:
            # Waiting on its queue; a timed wait (Faust's noack_take) would have set its timer by now.
            # Polled without a timer of its own (poll 0), so that every timer counted is the batcher's.
            await shared_until(lambda: stream.channel.queue._getters, "the batcher waiting on its queue", 10.0, poll=0.0)
            idle_timers, waiting_on_queue = len(timers), len(stream.channel.queue._getters)
            await channel.send(value="first")
            await until(lambda: batches, "batch")
        finally:
            loop.call_at = call_at
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await stream.stop()
        return idle_timers, waiting_on_queue, batches

    idle_timers, waiting_on_queue, batches = run(scenario())
    assert idle_timers == 0 and waiting_on_queue == 1
    assert batches == [["first"]]


# Tracking, rebalances and stops, with events of a Kafka topic put on the queue as Faust's
# conductor puts them (the app never connects) ------------------------------------------------------
def _kafka_event(app, topic: str, offset: int, generation: int):
    from faust.events import Event
    from faust.types import TP
    from faust.types.tuples import ConsumerMessage

    message = ConsumerMessage(topic, 0, offset, 1.7e9, 0, [], b"k", b"v", None, generation_id=generation)
    message.tp = TP(topic, 0)
    return Event(app, b"k", f"{topic}@{offset}", [], message)


def test_events_fetched_before_a_rebalance_are_skipped_and_the_others_tracked_unacked():
    async def scenario():
        app = _app()
        topic = app.topic("events", value_serializer="raw")
        stream = app.stream(topic)
        app.topics._acking_topics.add("events")
        queue = stream.channel.queue
        unacked = app.consumer._unacked_messages
        batches: list[list] = []

        async def consume():
            async for batch in ready_batches(stream, 500):
                batches.append([event.value for event in batch])

        first_generation = app.consumer_generation_id
        old = [_kafka_event(app, "events", offset, first_generation) for offset in range(3)]
        for event in old:
            queue.put_nowait(event)
        app.flow_control.suspend()  # a rebalance began after these were fetched
        task = asyncio.ensure_future(consume())
        try:
            # Taken from the queue and skipped: the batcher is back waiting on an empty queue.
            await until(lambda: queue.empty() and queue._getters, "the stale events taken")
            taken_while_suspended = list(batches)
            app.consumer_generation_id = first_generation + 1  # the rebalance done: a new generation
            app.flow_control.resume()
            stale = _kafka_event(app, "events", 3, first_generation)  # fetched before, delivered after
            fresh = [_kafka_event(app, "events", offset, first_generation + 1) for offset in (3, 4)]
            for event in [stale, *fresh]:
                queue.put_nowait(event)
            await until(lambda: batches, "a batch of the new generation")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await stream.stop()
        return taken_while_suspended, batches, old, stale, fresh, unacked

    taken_while_suspended, batches, old, stale, fresh, unacked = run(scenario())
    assert taken_while_suspended == []
    assert batches == [["events@3", "events@4"]]
    for skipped in [*old, stale]:  # neither tracked (nothing waits for them) nor acked (not committed)
        assert not skipped.message.tracked and not skipped.message.acked and skipped.message not in unacked
    for taken in fresh:  # tracked: a stop or rebalance waits for their acks; the caller acks
        assert taken.message.tracked and not taken.message.acked and taken.message in unacked


def test_the_actor_s_stop_ends_the_iteration_whether_it_waits_or_events_are_queued():
    async def scenario(events_queued: bool):
        app = _app()
        topic = app.topic("events", value_serializer="raw")
        stream = app.stream(topic)
        batches: list[list] = []

        async def consume():
            async for batch in ready_batches(stream, 500):
                batches.append([event.value for event in batch])
            return "ended"

        task = asyncio.ensure_future(consume())
        await until(lambda: stream.channel.queue._getters, "the batcher waiting on its queue")
        if events_queued:
            for offset in range(3):
                stream.channel.queue.put_nowait(_kafka_event(app, "events", offset, app.consumer_generation_id))
        stream.channel._throw(StopAsyncIteration())  # what Faust's Actor.cancel does when the agent stops
        try:
            return await asyncio.wait_for(task, timeout=10), batches
        finally:
            await stream.stop()

    assert run(scenario(events_queued=False)) == ("ended", [])
    # A thrown stop is taken before the events queued behind it (as Faust's queue hands it out).
    assert run(scenario(events_queued=True)) == ("ended", [])


def test_acking_a_batch_leaves_the_consumer_as_acking_each_event_does():
    from stream.transport.batching import ack_batch

    def consumer_state(app, events) -> tuple:
        consumer = app.consumer
        return (
            {str(tp): sorted(offsets) for tp, offsets in consumer._acked.items()},
            {str(tp): sorted(index) for tp, index in consumer._acked_index.items()},
            sorted((m.topic, m.offset) for m in consumer._unacked_messages),
            consumer._n_acked,
            [(e.message.acked, e.message.refcount) for e in events],
        )

    def scenario(ack) -> tuple:
        from faust.types import TP

        app = _app()
        app.topics._acking_topics.add("events")  # "other" is read without acks (as Faust's own topics can be)
        consumer = app.consumer
        consumer._committed_offset[TP("events", 0)] = 5  # offsets below it are committed already
        events = [_kafka_event(app, topic, offset, app.consumer_generation_id)
                  for topic, offset in [("events", 3), ("events", 5), ("events", 6), ("events", 6), ("other", 1), ("events", 7)]]
        events[2].message.refcount = 2  # a second stream still holds it: the first ack only drops a reference
        events[3].message.incref()  # a redelivered offset already acked through another message
        for event in events:
            consumer._unacked_messages.add(event.message)
            event.message.tracked = True
        events[5].message.acked = True  # acked before: a second ack changes nothing
        first = [events[3]]
        for event in first:
            event.ack()
        ack(events)
        return consumer_state(app, events)

    def one_by_one(events):
        for event in events:
            event.ack()

    assert scenario(ack_batch) == scenario(one_by_one)
    acked, index, unacked, n_acked, flags = scenario(ack_batch)
    assert acked == {"TP(topic='events', partition=0)": [5, 6]} and n_acked == 2  # 3 is below the committed 5
    assert ("events", 6) in unacked  # the message a second stream still holds
    assert flags[2] == (False, 1) and flags[4] == (True, 0)
