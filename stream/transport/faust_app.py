"""Faust's aiokafka transport with one change, a configurable fetch wait; and the app's hooks
that write what is pending before it stops or gives partitions up (see :class:`DriftlineApp`).

faust-streaming 0.15 hard-codes ``fetch_max_wait_ms=1500`` for the worker's consumer. Apache
Kafka answers a fetch as soon as one byte is there, so the wait rarely matters; the embedded
Tansu broker holds fetches much closer to the full wait, which put ~1.2 s of latency on every
event at moderate rates (measured by benchmarks/throughput.py). The wait is set from
``DRIFTLINE_FETCH_MAX_WAIT_MS`` before the consumer starts, and grows while the broker answers
fetches without the records it has (:mod:`stream.transport.fetchwait`).
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka

from stream.transport import fetchwait

#: The longest each stop hook may take (Redis away: give up; the events are delivered again).
STOP_HOOK_SECONDS = 10.0
#: While a worker waits for its events to be acknowledged (a stop, a rebalance), the drain hooks run this often.
DRAIN_HOOK_SECONDS = 0.25


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads this when it builds its fetcher in start(); no public setter exists.
        consumer._fetch_max_wait_ms = self.app.fetch_max_wait_ms
        return consumer

    async def on_start(self) -> None:
        await super().on_start()
        fetchwait.install(self._consumer, self.consumer.fetch_wait)


class _Resume:
    """Awaiting the rest of a coroutine that has already run up to its first suspension
    (``pending``, the future it waits on): what Python 3.12's eager tasks do."""

    __slots__ = ("coro", "pending")

    def __init__(self, coro: Any, pending: Any) -> None:
        self.coro, self.pending = coro, pending

    def __await__(self):
        coro, pending = self.coro, self.pending
        while True:
            try:
                yield pending  # the task driving us waits on the future the coroutine waits on
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # cancellation, or the future's error: into the coroutine
                try:
                    pending = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    pending = coro.send(None)
                except StopIteration as stop:
                    return stop.value


class _Consumer(faust_aiokafka.Consumer):
    """Faust's consumer with a cheaper hand-over of each fetched message to the agents.

    faust-streaming 0.15.3's ``Consumer._drain_messages`` awaits
    ``wait_first(callback(message), suspend_flow.wait())`` for every message: two tasks, an
    ``asyncio.wait`` and cancellations per message, about 60 us, most of a worker's per-message
    cost. Almost always ``callback`` (putting the event on its stream's queue) finishes without
    suspending. :meth:`_deliver` runs it up to its first suspension inline; only when it
    suspends (a full stream buffer) does the rest go through ``wait_first`` as before, so a
    rebalance still interrupts a blocked hand-over. Offsets, gaps, commits and acks are Faust's
    own: the loop below is the 0.15.3 method with only the hand-over changed (checked against
    faust-streaming 0.15.3; see :class:`DriftlineApp`).
    """

    delivered_inline = 0  # messages handed over without a suspension
    delivered_waiting = 0  # messages whose hand-over suspended (or came while the flow was suspended)

    def _new_consumer_thread(self) -> _ConsumerThread:
        self.fetch_wait = fetchwait.AdaptiveFetchWait(self.app.fetch_max_wait_ms)
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _deliver(self, callback: Callable[[Any], Awaitable[Any]], message: Any) -> None:
        suspend_flow = self.suspend_flow
        if not suspend_flow.is_set():
            coro = callback(message)
            try:
                pending = coro.send(None)
            except StopIteration:
                self.delivered_inline += 1
                return
            self.delivered_waiting += 1
            await self.wait_first(_Resume(coro, pending), suspend_flow.wait())
            return
        self.delivered_waiting += 1
        await self.wait_first(callback(message), suspend_flow.wait())

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - Faust's loop
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        flag_consumer_fetching = CONSUMER_FETCHING
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        deliver = self._deliver
        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(flag_consumer_fetching)
                ait = getmany(timeout=1.0)
                # Sometimes getmany is called in a loop that never releases the event loop.
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0
                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset:  # a gap in the incoming offsets
                                if acks_enabled_for(message.topic):
                                    await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None and self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                            await deliver(callback, message)
                            set_read_offset(tp, offset)
                        else:
                            self.log.dev("DROPPED MESSAGE ROFF %r: k=%r v=%r", offset, message.key, message.value)
                    unset_flag(flag_consumer_fetching)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:  # already stopping
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(flag_consumer_fetching)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class RawSchema(faust.Schema):
    """Keys and values as the broker holds them (bytes, or None), without Faust's serializer registry.

    The stages parse every message themselves (a message that does not parse is its dead letter),
    so the app uses the ``raw`` codec throughout; Faust's compiled decode still looked the codec up
    and called four functions per message (~2.5% of a worker's samples), and ``app.create_event``
    read ``app.conf`` each time. This builds the same :class:`faust.Event` from the same bytes.
    """

    def __init__(self) -> None:
        super().__init__(key_serializer="raw", value_serializer="raw")

    def compile(self, app: Any, *, on_key_decode_error: Any = None, on_value_decode_error: Any = None,
                default_propagate: bool = False) -> Callable[..., Awaitable[Any]]:
        event_class = app.conf.Event

        async def decode(message: Any, *, propagate: bool = default_propagate) -> Any:
            return event_class(app, message.key, message.value, message.headers, message)

        return decode


def raw_topic(app: faust.App, name: str, partitions: int) -> Any:
    """``app.topic`` for a topic whose agent reads the messages' bytes (:class:`RawSchema`)."""
    return app.topic(name, partitions=partitions, schema=RawSchema())


class DriftlineApp(faust.App):
    """A Faust app whose worker consumer uses ``fetch_max_wait_ms``, with hooks that write what is
    pending when the worker stops or gives partitions up.

    The learner and the drift monitor acknowledge their events only once a snapshot or a
    checkpoint in Redis holds them, from timers. Before Faust lets partitions go (a stop, or a
    rebalance) it waits until every event the agents took is acknowledged:

    - on a stop the timers are stopped first, so ``before_stop`` hooks write what is pending, and
      events the agents took after those hooks (Faust suspends the flow later) would wait forever:
      the stop hung until it was killed;
    - in a rebalance the timers still run, but the worker waited for the next snapshot (up to
      ``DRIFTLINE_SNAPSHOT_EVERY_SECONDS``) before it rejoined the group, and the whole group with it.

    So while Faust waits, the ``while_draining`` hooks (idempotent: a snapshot, a checkpoint) run
    every :data:`DRAIN_HOOK_SECONDS` until every event is acknowledged.
    """

    fetch_max_wait_ms: int = 1500

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.before_stop: list[Callable[[], Awaitable[None]]] = []
        self.while_draining: list[Callable[[], Awaitable[None]]] = []

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)

    async def _run_hooks(self, hooks: list[Callable[[], Awaitable[None]]], when: str) -> None:
        for hook in hooks:
            try:
                await asyncio.wait_for(hook(), STOP_HOOK_SECONDS)
            except Exception as exc:  # what is not acked is delivered again after the restart
                self.log.warning("%s, %s failed: %s: %s", when, getattr(hook, "__name__", hook), type(exc).__name__, exc)

    async def on_stop(self) -> None:
        await self._run_hooks(self.before_stop, "on stop")
        await super().on_stop()

    async def _consumer_wait_empty(self, consumer: Any, logger: Any) -> None:
        if not self.while_draining:
            return await super()._consumer_wait_empty(consumer, logger)
        drained = asyncio.ensure_future(super()._consumer_wait_empty(consumer, logger))
        try:
            while not drained.done():
                await asyncio.wait({drained}, timeout=DRAIN_HOOK_SECONDS)
                if not drained.done():
                    await self._run_hooks(self.while_draining, "while draining")
        finally:
            if not drained.done():
                drained.cancel()
        await drained


def on_partitions_moved(app: faust.App, topic: str, lock: asyncio.Lock, drop: Callable[[set[int]], Any]) -> None:
    """Call ``drop(partitions)``, under ``lock``, when partitions of ``topic`` are taken from this
    worker in a rebalance (their state moves to the new owner, which restores it from Redis)."""

    @app.on_partitions_revoked.connect
    async def drop_moved(app_: Any, revoked: Any, **kwargs: Any) -> None:
        moved = {tp.partition for tp in revoked if tp.topic == topic}
        if moved:
            async with lock:
                drop(moved)
