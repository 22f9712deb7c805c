"""Evidently reports of drift decisions, rendered in a process of their own and stored in Redis.

What the rendering process runs is :mod:`stream.monitoring.rendering` (kept apart so that the
process imports no more than it needs).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from .monitor import BaselineLookup

log = logging.getLogger(__name__)


class ReportRenderer:
    """Evidently reports of drift decisions: rendered one at a time in a process of their own
    (started on the first report, at a lower priority), stored in Redis.

    Never on the score path, nor in a thread of the worker: Evidently takes one to four seconds
    of CPU per report, which a thread would take from scoring (the GIL).
    """

    def __init__(self, store, lookup: BaselineLookup, keep: int, interval: float = 0.0, queue_size: int = 100):
        self.store = store
        self.lookup = lookup
        self.keep = keep
        self.interval = interval
        self.queue: deque[tuple[str, str]] = deque(maxlen=queue_size)
        self._last: dict[str, tuple[float, Any]] = {}  # model -> (when, what) of its last drift decision rendered
        self.rendered = 0
        self.skipped = 0
        self.dropped = 0
        self.errors = 0
        self.last_error: str | None = None
        self._lock = asyncio.Lock()
        self._draining: asyncio.Future | None = None
        self._pool = None  # a ProcessPoolExecutor of one process, started when first needed

    def submit(self, model: str, window_id: str, drift_records: list[dict] = (), now: float | None = None) -> bool:
        """Queue the report of a window's drift decision; True if queued.

        Every drift decision by default (``interval`` 0). A drift that lasts makes every window
        drift, and a report costs seconds of CPU: with an ``interval``, a model's decision is
        rendered when its drift (kinds and drifted columns) differs from the last one rendered,
        else at most once per ``interval`` seconds. The other windows' reports render on demand
        (API, ``driftline report``), as do those dropped from a full queue (``dropped``).
        """
        now = time.monotonic() if now is None else now
        what = tuple(sorted((r["kind"], tuple(r["drifted_columns"])) for r in drift_records))
        last = self._last.get(model)
        if last is not None and last[1] == what and now - last[0] < self.interval:
            self.skipped += 1
            return False
        self._last[model] = (now, what)
        if len(self.queue) == self.queue.maxlen:  # rendering falls behind: the oldest waits for a request
            self.dropped += 1
        self.queue.append((model, window_id))
        return True

    def kick(self) -> None:
        """Start rendering what is queued in the background, unless that is already going on."""
        if self.queue and (self._draining is None or self._draining.done()):
            self._draining = asyncio.ensure_future(self.drain())

    async def drain(self) -> None:
        while self.queue:
            model, window_id = self.queue.popleft()
            try:
                await self.get(model, window_id)
            except Exception as exc:  # the report can still be rendered on demand
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("cannot render the drift report of %s window %s: %s", model, window_id, self.last_error)

    async def get(self, model: str, window_id: str, fmt: str = "html") -> bytes | None:
        """A window's report: the stored one, else rendered now (and stored); None without such a window."""
        from .rendering import render_reports, report_inputs

        async with self._lock:
            stored = await asyncio.to_thread(self.store.report, model, window_id, fmt)
            if stored is not None:
                return stored
            inputs = await asyncio.to_thread(report_inputs, self.store, self.lookup, model, window_id)
            if inputs is None:
                return None
            record, baseline, summary_json = inputs
            loop = asyncio.get_running_loop()
            try:
                reports = await loop.run_in_executor(self._executor(), render_reports, baseline, summary_json, record["config"])
            except BrokenProcessPool:  # the rendering process died (out of memory?): a new one next time
                self._pool = None
                raise
            await asyncio.to_thread(self.store.save_report, model, window_id, reports, self.keep)
            self.rendered += 1
            return reports[fmt]

    def _executor(self):
        if self._pool is None:
            import multiprocessing

            from .rendering import start_renderer

            # spawn, not fork: the worker has threads (aiokafka's, Redis clients') that a fork would copy mid-flight.
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=start_renderer, initargs=(os.getpid(),))
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def describe(self) -> dict:
        rendering = self._draining is not None and not self._draining.done()
        return {"rendered": self.rendered, "queued": len(self.queue), "rendering": rendering, "not_rendered_same_drift": self.skipped,
                "dropped_queue_full": self.dropped,
                "errors": self.errors, "last_error": self.last_error}
