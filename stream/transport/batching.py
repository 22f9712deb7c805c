"""Batches from a Faust stream, handed over as soon as nothing more is waiting.

Faust's ``take``/``noack_take`` hand a batch over when it is full or when ``within`` has passed,
whichever comes first: below full load every event waits for the timer (on average half of
``within``, up to all of it) although the agent is idle. :func:`ready_batches` hands the buffer
over as soon as the stream's queue is empty, that is, as soon as the consumer has delivered
everything it fetched: an idle agent takes each fetch as it comes, and a busy one finds a full
batch waiting when it comes back (batches grow with the load by themselves). ``within`` stays the
longest a buffered event waits.

It is ``noack_take`` otherwise, line for line where it can be: the same processor fills the
buffer while the stream is drained passively, never more than ``max_`` events per batch, and
acks are the caller's (an event is acknowledged when its outputs are on the broker, not when the
batch is handed over).

Unlike ``noack_take`` it sets no timer while its buffer is empty: it waits for the first event,
then at most ``within`` for the rest. ``noack_take`` wakes every ``within`` (10 ms by default)
whether or not anything came, and those wake-ups were most of what an idle worker spent.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

from mode.utils.aiter import aiter
from mode.utils.futures import notify


async def ready_batches(stream: Any, max_: int, within: float) -> AsyncIterator[list[Any]]:
    """Lists of up to ``max_`` Faust events (unacknowledged), each handed over as soon as the
    stream's queue is empty, the buffer is full, or ``within`` seconds have passed."""
    buffer: list[Any] = []
    ready = asyncio.Event()  # full, or nothing more waiting: hand the buffer over
    arrived = asyncio.Event()  # the buffer holds an event: from now on ``within`` counts
    consumed = asyncio.Event()
    consuming: asyncio.Future | None = None
    queue = stream.channel.queue
    channel_it = aiter(stream.channel)

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming
        try:
            if consuming is not None:  # the caller holds the last batch: wait until it is done
                try:
                    await consuming
                finally:
                    consuming = None
            event = stream.current_event
            if event is None:
                raise RuntimeError("the batch buffer found no current event")
            buffer.append(event)
            arrived.set()
            if len(buffer) >= max_:
                ready.set()
                consumed.clear()
                await stream.wait(consumed)  # never more than max_ in a batch
            elif queue.empty():
                ready.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            stream.log.exception("Error adding to the batch buffer: %r", exc)
            await stream.crash(exc)
        return value

    enable_acks = stream.enable_acks
    stream.enable_acks = False  # the caller acks each event once its outputs are delivered
    stream.add_processor(add_to_buffer)
    stream._enable_passive(channel_it)
    try:
        while not stream.should_stop:
            if not buffer and await stream.wait_for_stopped(arrived):  # no timer while there is nothing to wait for
                break
            await stream.wait_for_stopped(ready, timeout=within)
            if buffer:
                consuming = asyncio.get_running_loop().create_future()
                try:
                    yield list(buffer)
                finally:
                    buffer.clear()
                    notify(consuming)
                    ready.clear()
                    arrived.clear()
                    consumed.set()
            else:
                ready.clear()
    finally:
        stream.enable_acks = enable_acks
        stream._processors.remove(add_to_buffer)
