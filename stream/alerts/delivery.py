"""Sending alerts: one sender per endpoint, each with its own queue, so that an endpoint that hangs
or is down delays no other, and nothing here is on the score path.

An attempt that fails (connection error, timeout, an answer other than 2xx) is tried again after
the endpoint's next delay in ``retry_schedule``, with jitter (±20%, so that many deliveries failed
together do not all come back at once), and no sooner than the endpoint's ``Retry-After``. After the
last delay the delivery is given up (state ``failed``). ``410 Gone`` disables the endpoint until
``driftline alerts enable NAME`` or a new URL for it in the alerts file.

>>> next_delay((0, 5, 300), attempts_made=1, retry_after=None, jitter=0.0)
5.0
>>> next_delay((0, 5, 300), attempts_made=2, retry_after=900.0, jitter=0.0)
900.0
>>> next_delay((0, 5, 300), attempts_made=3, retry_after=None) is None
True
>>> retry_after_seconds("120"), retry_after_seconds("soon"), retry_after_seconds(None)
(120.0, None, None)
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from typing import Any

import aiohttp

from stream.metrics import METRICS

from .config import Endpoint
from .payloads import alert_body, describe, headers, slack_body
from .store import AlertStore

log = logging.getLogger(__name__)

#: A Retry-After longer than this is capped (a receiver asking for a week is asking to be given up on).
MAX_RETRY_AFTER = 86_400.0
#: How often an idle sender looks at its queue (a record queued on this worker wakes it at once).
POLL_SECONDS = 0.5


def next_delay(schedule: tuple[float, ...], attempts_made: int, retry_after: float | None, jitter: float = 0.2) -> float | None:
    """Seconds until the next attempt after ``attempts_made`` attempts, or None: give up."""
    if attempts_made >= len(schedule):
        return None
    delay = float(schedule[attempts_made])
    if jitter and delay:
        delay *= random.uniform(1.0 - jitter, 1.0 + jitter)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds: a number, or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def request_body(endpoint: Endpoint, delivery: dict) -> bytes:
    record = json.loads(delivery["record"])
    make = slack_body if endpoint.format == "slack" else alert_body
    return make(record, delivery["count"], delivery["first_id"], delivery["last_id"])


async def post(session: aiohttp.ClientSession, endpoint: Endpoint, msg_id: str, body: bytes) -> dict:
    """One attempt: ``{"status", "error", "latency", "retry_after", "gone"}``; never raises."""
    started = time.monotonic()
    try:
        async with session.post(endpoint.url, data=body, headers=headers(msg_id, body, endpoint.secret),
                                timeout=aiohttp.ClientTimeout(total=endpoint.timeout), allow_redirects=False) as response:
            await response.read()
            status = response.status
            ok = 200 <= status < 300
            return {"status": status, "error": None if ok else f"HTTP {status}", "latency": time.monotonic() - started,
                    "retry_after": retry_after_seconds(response.headers.get("Retry-After")), "gone": status == 410, "ok": ok}
    except asyncio.CancelledError:
        raise
    except asyncio.TimeoutError:
        error = f"timed out after {endpoint.timeout:g}s"
    except Exception as exc:  # connection refused, DNS, TLS, a reset mid-answer
        error = f"{type(exc).__name__}: {exc}"[:300]
    return {"status": None, "error": error, "latency": time.monotonic() - started, "retry_after": None, "gone": False, "ok": False}


class Sender:
    """The deliveries of one endpoint, one at a time, from its queue in Redis."""

    def __init__(self, endpoint: Endpoint, store: AlertStore, session_factory, counters: dict):
        self.endpoint = endpoint
        self.store = store
        self.session_factory = session_factory
        self.counters = counters
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.disabled: dict | None = None
        self.last_error: str | None = None

    @property
    def lease(self) -> float:
        return self.endpoint.timeout + 30.0

    def start(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self.run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):
                pass

    async def run(self) -> None:
        while True:
            try:
                if self.disabled is None and await self.send_one():
                    continue  # more may be due
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: the delivery stays queued; try again shortly
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("alerts endpoint %s: %s", self.endpoint.name, self.last_error)
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), POLL_SECONDS)
            except asyncio.TimeoutError:
                pass

    async def send_one(self) -> bool:
        """Claim and attempt one due delivery; False when none is due."""
        delivery = await self.store.claim(self.endpoint.name, self.lease)
        if delivery is None:
            return False
        endpoint = self.endpoint
        body = request_body(endpoint, delivery)
        result = await post(self.session_factory(), endpoint, delivery["id"], body)
        attempt_no = delivery["attempts"] + 1
        now = time.time()
        attempt = {"endpoint": endpoint.name, "delivery": delivery["id"], "record_id": delivery["last_id"],
                   "first_id": delivery["first_id"], "count": delivery["count"], "model": delivery.get("model"),
                   "kind": delivery.get("kind"), "attempt": attempt_no, "ts": now, "status": result["status"],
                   "error": result["error"], "latency": round(result["latency"], 4)}
        if result["ok"]:
            attempt["state"] = "delivered"
            await self.store.finish(delivery, attempt, state="delivered")
            self.counters["delivered"] += 1
            METRICS.alert_deliveries.labels(endpoint=endpoint.name, outcome="delivered").inc()
            log.info("alert delivered to %s: %s", endpoint.name, describe(json.loads(delivery["record"]), delivery["count"]))
            return True
        if result["gone"]:
            attempt["state"] = "failed"
            attempt["error"] = "HTTP 410 Gone: the endpoint is disabled until `driftline alerts enable` or a new URL"
            await self.store.finish(delivery, attempt, state="failed")
            await self.store.disable(endpoint.name, endpoint.url, "the endpoint answered 410 Gone")
            self.disabled = {"reason": "the endpoint answered 410 Gone"}
            self.counters["failed"] += 1
            METRICS.alert_deliveries.labels(endpoint=endpoint.name, outcome="gone").inc()
            log.error("alerts endpoint %s answered 410 Gone: disabled (driftline alerts enable %s)", endpoint.name, endpoint.name)
            return False
        delay = next_delay(endpoint.retry_schedule, attempt_no, result["retry_after"])
        if delay is None:
            attempt["state"] = "failed"
            await self.store.finish(delivery, attempt, state="failed")
            self.counters["failed"] += 1
            METRICS.alert_deliveries.labels(endpoint=endpoint.name, outcome="failed").inc()
            log.error("alert %s to %s given up after %d attempts: %s", delivery["id"], endpoint.name, attempt_no, result["error"])
            return True
        attempt["state"] = "pending"
        attempt["next_attempt_in"] = round(delay, 3)
        await self.store.finish(delivery, attempt, state="pending", due=now + delay)
        self.counters["retries"] += 1
        METRICS.alert_deliveries.labels(endpoint=endpoint.name, outcome="retry").inc()
        log.warning("alert %s to %s failed (attempt %d: %s); next attempt in %.0fs", delivery["id"], endpoint.name,
                    attempt_no, result["error"], delay)
        return True


async def send_test(endpoint: Endpoint, record: dict) -> dict:
    """One signed attempt of a test record, outside the queue (``driftline alerts test``)."""
    from .payloads import delivery_id

    delivery = {"record": json.dumps(record), "count": 1, "first_id": record["id"], "last_id": record["id"]}
    msg_id = delivery_id(endpoint.name, record["id"])
    async with aiohttp.ClientSession() as session:
        result = await post(session, endpoint, msg_id, request_body(endpoint, delivery))
    return dict(result, delivery=msg_id)


def session_holder() -> Any:
    """A lazily made ``aiohttp.ClientSession`` (it must be made inside the running loop)."""
    holder: list[aiohttp.ClientSession] = []

    def session() -> aiohttp.ClientSession:
        if not holder or holder[0].closed:
            holder[:] = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True))]
        return holder[0]

    async def close() -> None:
        if holder and not holder[0].closed:
            await holder[0].close()

    session.close = close  # type: ignore[attr-defined]
    return session
