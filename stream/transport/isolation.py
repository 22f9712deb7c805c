"""Keeping one message's failure to that message: the batch fallback every agent uses.

An agent handles a batch in one go (that is where its throughput comes from). When that raises,
the cause is either the world or the batch:

- the world (the broker or Redis away, a timeout): :func:`is_infrastructure` says so, the error
  goes up, and the agent retries the whole batch until it succeeds; nothing is acked undone;
- anything else is about something in the batch that the parsers did not foresee (a bug): the
  batch is handled again one message at a time, the message that still raises becomes a dead
  letter with reason ``processing_error`` (the exception's type and message in ``detail``), and the
  agent carries on. A crash loop on one message would stop its whole partition for good.

>>> guard = Isolation("score")
>>> def double(batch):
...     if 3 in batch:
...         raise ZeroDivisionError("a bug")
...     return [x * 2 for x in batch]
>>> parts = guard.run([1, 2, 3, 4], double, lambda item, exc: [f"dead letter for {item}: {type(exc).__name__}"])
>>> [x for part in parts for x in part]
[2, 4, 'dead letter for 3: ZeroDivisionError', 8]
>>> guard.describe()["fallbacks"], guard.describe()["processing_errors"]
(1, 1)
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from typing import Any, Awaitable, Callable, Sequence, TypeVar

from stream.metrics import METRICS
from stream.model.schema import InvalidInput
from stream.wire.events import deadletter_record

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")

PROCESSING_ERROR = "processing_error"


def is_infrastructure(exc: BaseException) -> bool:
    """True for errors that are about the world, not about a message: retry, never dead-letter."""
    if isinstance(exc, (OSError, asyncio.TimeoutError)):  # ConnectionError, TimeoutError
        return True
    import redis.exceptions as redis_errors
    from aiokafka import errors as kafka_errors

    if isinstance(exc, (redis_errors.ConnectionError, redis_errors.TimeoutError, redis_errors.ReadOnlyError)):
        return True
    if isinstance(exc, kafka_errors.KafkaError):
        # A record too large for the broker is about that record, not the broker.
        return not isinstance(exc, (kafka_errors.MessageSizeTooLargeError, kafka_errors.RecordTooLargeError))
    return False


async def until_done(work: Callable[[], Awaitable[Any]], what: str, *, attempt_seconds: float | None = None,
                     redis_client: Any = None) -> None:
    """Run ``work`` until it succeeds: an agent that raised would stop consuming for good, and its
    batch must not be acked undone (Redis or the broker away: wait for them, then carry on).

    ``attempt_seconds`` bounds one attempt (only for work that is safe to cancel): a Redis
    connection caught mid-command by an outage can leave an attempt waiting forever. After a
    failure the Redis client's connections are dropped, so the retry starts on fresh ones.
    """
    delay = 0.5
    while True:
        try:
            if attempt_seconds is None:
                return await work()
            return await asyncio.wait_for(work(), attempt_seconds)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s failed, retrying in %.1fs: %s: %s", what, delay, type(exc).__name__, exc)
            if redis_client is not None:
                try:
                    await redis_client.connection_pool.disconnect()
                except Exception:  # already broken: the pool reconnects on next use
                    pass
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


def processing_error_record(topic: str, partition: int | None, offset: int | None, key: bytes | None, raw: bytes | None,
                            exc: BaseException, *, model: str | None = None) -> tuple[bytes | None, bytes]:
    """A ``processing_error`` dead letter for one message, as ``(key, value)``."""
    error = InvalidInput(PROCESSING_ERROR, f"{type(exc).__name__}: {exc}"[:500])
    record = deadletter_record(error, topic=topic, partition=partition, offset=offset, raw=raw, ts=time.time(), model=model)
    return key, json.dumps(record, separators=(",", ":"), default=str).encode()


class Isolation:
    """One agent's batch fallback and its counters (``/health`` shows :meth:`describe`)."""

    def __init__(self, agent: str):
        self.agent = agent
        self.fallbacks = 0  # batches that raised and were handled again one message at a time
        self.processing_errors = 0  # messages dead-lettered as processing_error
        self.last_fallback: dict | None = None

    def run(self, items: Sequence[Item], work: Callable[[Sequence[Item]], Result],
            failed: Callable[[Item, Exception], Result]) -> list[Result]:
        """``[work(items)]``; if that raises, ``work([item])`` for each item, or ``failed(item, exc)``
        for an item whose own call raises. Infrastructure errors are raised, never dead-lettered."""
        try:
            return [work(items)]
        except Exception as exc:
            self._fell_back(exc, len(items))
        results = []
        for item in items:
            try:
                results.append(work([item]))
            except Exception as exc:
                results.append(self._failed(item, exc, failed))
        return results

    async def run_async(self, items: Sequence[Item], work: Callable[[Sequence[Item]], Awaitable[Result]],
                        failed: Callable[[Item, Exception], Result]) -> list[Result]:
        """:meth:`run` for work that awaits (Redis, the registry). An infrastructure error midway
        through the fallback goes up too: the caller retries the batch, so ``work`` must be safe to
        call again for items it has already handled."""
        try:
            return [await work(items)]
        except Exception as exc:
            self._fell_back(exc, len(items))
        results = []
        for item in items:
            try:
                results.append(await work([item]))
            except Exception as exc:
                results.append(self._failed(item, exc, failed))
        return results

    def _fell_back(self, exc: Exception, n: int) -> None:
        if is_infrastructure(exc):
            raise exc
        self.fallbacks += 1
        self.last_fallback = {"ts": time.time(), "error": f"{type(exc).__name__}: {exc}"[:500], "batch": n}
        log.error("%s agent: a batch of %d raised %s: %s; handling it one message at a time",
                  self.agent, n, type(exc).__name__, exc, exc_info=exc)

    def _failed(self, item: Any, exc: Exception, failed: Callable[[Any, Exception], Result]) -> Result:
        if is_infrastructure(exc):
            raise exc
        self.processing_errors += 1
        log.error("%s agent: dead-lettering one message as processing_error: %s: %s", self.agent, type(exc).__name__, exc)
        return failed(item, exc)

    def describe(self) -> dict:
        return {"fallbacks": self.fallbacks, "processing_errors": self.processing_errors, "last_fallback": self.last_fallback}


def reject_into(buffer: "DeadLetterBuffer", message: Any, error: Exception) -> list:
    """Dead-letter one message of an internal topic into ``buffer`` (sent with the batch's others):
    its :class:`InvalidInput` reason, or ``processing_error`` for anything else. Returns no outputs."""
    if not isinstance(error, InvalidInput):
        error = InvalidInput(PROCESSING_ERROR, f"{type(error).__name__}: {error}"[:500])
    record = deadletter_record(error, topic=message.topic, partition=message.partition, offset=message.offset,
                               raw=message.value, ts=time.time())
    buffer.add(message.key, json.dumps(record, separators=(",", ":"), default=str).encode(), error.reason)
    return []


class DeadLetterBuffer:
    """Dead letters an agent wrote while handling a batch, waiting to be sent; each message they
    belong to is acked only once its dead letter is on the broker (nothing is lost in a crash).

    >>> buffer = DeadLetterBuffer()
    >>> buffer.add(b"k", b"{}", "invalid_json")
    >>> sent = []
    >>> async def send(records):
    ...     sent.extend(records)
    >>> asyncio.run(buffer.flush(send)), sent, dict(buffer.deadlettered)
    (1, [(b'k', b'{}')], {'invalid_json': 1})
    """

    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes]] = []
        self.events: list[Any] = []  # Faust events to ack once their dead letters are sent
        self.deadlettered: Counter[str] = Counter()

    def add(self, key: bytes | None, value: bytes, reason: str, event: Any = None) -> None:
        self.records.append((key, value))
        self.deadlettered[reason] += 1
        METRICS.deadletters.labels(reason=reason).inc()
        if event is not None:
            self.events.append(event)

    def __len__(self) -> int:
        return len(self.records)

    async def flush(self, send: Callable[[list], Awaitable[None]]) -> int:
        """Send what is waiting (``send`` raises if the broker is away: it stays for the next try)."""
        records, events = list(self.records), list(self.events)
        if records:
            await send(records)
        for event in events:
            event.ack()
        del self.records[:len(records)]
        del self.events[:len(events)]
        return len(records)
