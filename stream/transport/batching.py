"""Batches of Faust events, taken straight from the stream's queue.

Faust's ``take``/``noack_take`` run every event through the stream's iterator: an
``await sleep(0)`` (a whole turn of the event loop), an awaited queue ``get``, the sensors'
per-event state, the buffering processor as a coroutine, ``on_merge``, and the iterator's
generator hops. With a Driftline agent's work per event being tens of microseconds, that was
about a fifth of a worker's CPU per event. :func:`ready_batches` takes every event already waiting
in the stream's queue in one go, and does per event only what Faust's iterator does for
correctness:

- skips an event fetched before a rebalance (flow control suspended, or an older consumer
  generation), as the iterator does, without tracking or acking it;
- tracks the message as unacknowledged (so a stop or rebalance waits for it, and its offset is
  committed only once acknowledged) and reports it to the sensors' ``on_message_in``.

Acks are the caller's: an event is acknowledged when its outputs are on the broker, never when
the batch is handed over; :func:`ack_batch` acknowledges a batch's events under one acquisition of
Faust's ack lock instead of three per event. What it leaves out are Faust's per-stream sensors
(``on_stream_event_in``/``out``: Faust's own monitor, which Driftline does not serve) and the
stream's ``current_event``, except the one thing of those the consumer reads: when each partition's
stream last took an event (``Monitor.stream_inbound_time``, set once per batch). Faust's check for a
stalled agent reads it, and without it logged "Stream has not started processing" for every busy
partition some minutes after the start.

A batch is handed over as soon as nothing more is waiting: an idle agent takes each fetch as it
comes, and a busy one finds everything that arrived meanwhile (up to ``max_``) when it comes
back, so batches grow with the load by themselves and no event waits for a timer. With nothing
waiting it awaits the first event, with no timer either (an idle worker does not wake).

The agent stops the way Faust stops any agent: its actor throws ``StopAsyncIteration`` into the
channel's queue, which ends the iteration.
"""

from __future__ import annotations

from time import monotonic
from typing import Any, AsyncIterator, Sequence

from faust.types import EventT
from faust.types.tuples import ConsumerMessage, ack_lock
from mode.utils.futures import notify


async def ready_batches(stream: Any, max_: int) -> AsyncIterator[list[Any]]:
    """Lists of up to ``max_`` Faust events (tracked, unacknowledged): each list holds what the
    stream's queue had when the agent asked, or, when it had nothing, the next event and whatever
    came with it."""
    app = stream.app
    channel = stream.channel
    queue = channel.queue
    flow_is_active = app.flow_control.is_active
    acking_topics = app.topics._acking_topics
    add_unacked = app.consumer._unacked_messages.add
    on_message_in = stream._on_message_in
    inbound_time = app.monitor.stream_inbound_time  # read by the consumer's check for a stalled stream
    stream._finalized = True  # as iterating it would: no processors may be added from now on
    try:
        while not stream.should_stop:
            try:
                values = [await queue.get()] if queue.empty() else []
                while len(values) < max_ and not queue.empty():
                    values.append(queue.get_nowait())
            except StopAsyncIteration:  # the actor is stopping
                return
            # Read once per batch: nothing else runs between the gets above and the loop below.
            active, generation = flow_is_active(), app.consumer_generation_id
            batch, now, last_tp = [], monotonic(), None
            for event in values:
                if not isinstance(event, EventT):
                    raise TypeError(f"expected Faust events from {channel!r}, got {type(event).__name__}")
                message = event.message
                if not active or message.generation_id != generation:
                    continue  # fetched before a rebalance: Faust's iterator skips it too
                if not message.tracked and message.topic in acking_topics:
                    message.tracked = True
                    add_unacked(message)
                    on_message_in(message.tp, message.offset, message)
                if message.tp is not last_tp:  # a batch mostly holds one partition's run: set once per run
                    last_tp = message.tp
                    inbound_time[last_tp] = now
                batch.append(event)
            if batch:
                stream.events_total += len(batch)
                yield batch
    finally:
        stream._channel_stop_iteration(channel)


def ack_batch(events: Sequence[Any]) -> int:
    """``event.ack()`` for every event, with Faust's bookkeeping done once for the batch; returns
    how many offsets became committable.

    Per event it does what ``Message.ack`` followed by ``Consumer.ack`` do in faust-streaming 0.15.3
    (``tests/test_batching.py`` compares the consumer's state after both): drop a reference, and on
    the last one mark the message acked and, for an acking topic, record its offset as committable
    unless it is below the committed offset or already recorded. The lock is taken once for the
    batch, and waiters for acks (a stop or rebalance in ``wait_empty``) are woken once.
    """
    if not events:
        return 0
    app = events[0].app
    consumer = app.consumer
    acks_enabled_for = app.topics.acks_enabled_for
    committed_offsets, acked_indexes, acked = consumer._committed_offset, consumer._acked_index, consumer._acked
    unacked = consumer._unacked_messages
    committable = 0
    notify_waiters = False
    with ack_lock:
        for event in events:
            message = event.message
            if message.acked:
                continue
            message.refcount = refcount = max(message.refcount - 1, 0)
            if refcount:
                continue  # another stream still holds it
            if type(message).on_final_ack is not ConsumerMessage.on_final_ack:
                message.on_final_ack(consumer)  # not a consumer's message: its own final ack
                continue
            message.acked = True
            if acks_enabled_for(message.topic):
                notify_waiters = True
                tp, offset = message.tp, message.offset
                committed = committed_offsets[tp]
                if committed is None or offset >= committed:
                    index = acked_indexes[tp]
                    if offset not in index:
                        unacked.discard(message)
                        index.add(offset)
                        acked[tp].append(offset)
                        committable += 1
        consumer._n_acked += committable
        if notify_waiters:
            notify(consumer._waiting_for_ack)
    return committable
