"""The score agent's batches (``stream.transport.batching``): a batch is handed over as soon as
nothing more is waiting, never larger than asked, and its events are left for the caller to
acknowledge (once their outputs are on the broker)."""

from __future__ import annotations

import asyncio

import faust
from async_helpers import run
from async_helpers import until as shared_until

from stream.transport.batching import ready_batches


async def until(condition, what: str, timeout: float = 10.0) -> None:
    # Polled every millisecond rather than spun: these scenarios may wait up to 20 s.
    await shared_until(condition, what, timeout, poll=0.001)


# ready_batches on a real Faust stream (an in-memory channel) --------------------------------------
def _app() -> faust.App:
    # Never connects: only the in-memory channel is used. Flow control is resumed by a running
    # worker; here by hand.
    app = faust.App("driftline-batching-test", broker="kafka://127.0.0.1:1", store="memory://")
    app.flow_control.resume()
    return app


def test_a_lone_event_is_handed_over_at_once_not_when_the_batch_timeout_ends():
    async def scenario():
        app = _app()
        channel = app.channel()
        stream = app.stream(channel)  # before the first send: the stream reads a clone of the channel
        batches: list[list] = []

        async def consume():
            async for batch in ready_batches(stream, 500, within=60.0):
                batches.append([event.value for event in batch])

        task = asyncio.ensure_future(consume())
        try:
            await channel.send(value="first")
            await until(lambda: batches, "batch", timeout=20.0)  # Faust's noack_take would wait 60 s
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
            async for batch in ready_batches(stream, 100, within=60.0):
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
        return batches, acked

    batches, acked = run(scenario())
    assert [v for batch in batches for v in batch] == list(range(351))
    assert batches[0] == [0] and max(map(len, batches)) == 100
    assert len(batches) <= 6  # the pile came in full batches, not one by one
    assert not any(acked)  # the caller acks, once the outputs are delivered


def test_an_idle_stream_sets_no_timer_until_an_event_comes():
    async def scenario():
        app = _app()
        channel = app.channel()
        stream = app.stream(channel)
        batches: list[list] = []
        timed_waits: list[float] = []
        wait_for_stopped = stream.wait_for_stopped

        async def counting_wait(*coros, timeout=None):
            if timeout is not None:
                timed_waits.append(timeout)
            return await wait_for_stopped(*coros, timeout=timeout)

        stream.wait_for_stopped = counting_wait

        async def consume():
            async for batch in ready_batches(stream, 500, within=0.01):
                batches.append([event.value for event in batch])

        task = asyncio.ensure_future(consume())
        try:
            await asyncio.sleep(0.5)  # Faust's noack_take would have woken about fifty times by now
            idle_waits = len(timed_waits)
            await channel.send(value="first")
            await until(lambda: batches, "batch")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await stream.stop()
        return idle_waits, timed_waits, batches

    idle_waits, timed_waits, batches = run(scenario())
    assert idle_waits == 0
    assert batches == [["first"]] and timed_waits and set(timed_waits) == {0.01}  # once an event came, within counts
