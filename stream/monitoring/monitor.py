"""The monitor: windows of summaries, judged against the baseline, for each model this worker owns.

Score path (every worker): :class:`~stream.monitoring.summaries.BatchSummarizer` sends one
summary per model per scored batch to ``monitoring``, keyed by model.

Monitor (whichever worker owns the model's ``monitoring`` partition): :class:`DriftMonitor`
merges the summaries into windows (:class:`monitors.DriftWindow`), judges each closed window
against the baseline the summaries were made with (the champion's, by baseline id) and hands out
the window's record, to store in Redis (:class:`~stream.monitoring.store.DriftStore`), and its
``data_drift`` / ``prediction_drift`` records, for ``drift-events``.

At-least-once, like the learner: a summary is acknowledged only once the window holding it is in
Redis, as a checkpoint of the open window (every ``drift_checkpoint_seconds``) or as a closed
window whose records are on the broker. A crash or a rebalance loses nothing: the model's next
owner resumes the open window from its checkpoint plus the redelivered summaries. A window's id
comes from its first summary (``START-PARTITION-OFFSET``), so a window judged again after a crash
replaces itself in Redis and its records carry the same ids.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from stream.model.schema import InvalidInput
from stream.serving.model_cache import load_baseline
from stream.transport.isolation import DeadLetterBuffer
from stream.wire.drift import encode, jsonable, parse_monitoring_message, window_records
from stream.wire.events import deadletter_record

from .prediction_reference import PredictionReference
from .store import report_path
from .summaries import settings_drift_config

log = logging.getLogger(__name__)

#: Seconds of clock difference between workers tolerated when checking a checkpoint's age.
CLOCK_SLACK = 5.0


class BaselineLookup:
    """Baselines by id: the loaded champions' first, then the registry's versions (a window of
    summaries made with a previous champion is still judged against its own baseline)."""

    def __init__(self, registry_factory, key: bytes | None, allow_unsigned: bool, cache=None, keep: int = 16):
        self._registry_factory = registry_factory
        self._registry = None
        self.key = key
        self.allow_unsigned = allow_unsigned
        self.cache = cache
        self.keep = keep
        self._found: OrderedDict[str, Any] = OrderedDict()
        self._missing: dict[tuple[str, str], float] = {}

    @property
    def registry(self):
        if self._registry is None:
            self._registry = self._registry_factory()
        return self._registry

    def cached(self, baseline_id: str) -> Any:
        """The baseline if it is at hand (no I/O), else None."""
        if self.cache is not None:
            for entry in self.cache.baselines.values():
                if entry.baseline.id == baseline_id:
                    return entry.baseline
        return self._found.get(baseline_id)

    def find(self, model: str, baseline_id: str, version: Any = None, retry_after: float = 30.0) -> Any:
        """The baseline ``baseline_id`` of one of ``model``'s versions, or None (blocking: run it in a thread)."""
        hit = self.cached(baseline_id)
        if hit is not None:
            return hit
        missed = self._missing.get((model, baseline_id))
        if missed is not None and time.monotonic() - missed < retry_after:
            return None
        records = self.registry.versions(model)
        candidates = [r for r in records if ((r.get("metadata") or {}).get("baseline") or {}).get("id") == baseline_id]
        candidates.sort(key=lambda r: r["version"] != version)  # the version the summary names first
        for record in candidates:
            baseline = load_baseline(self.registry.fetch(model, record["version"]), self.key, self.allow_unsigned)
            if baseline is not None and baseline.id == baseline_id:
                self._found[baseline_id] = baseline
                while len(self._found) > self.keep:
                    self._found.popitem(last=False)
                return baseline
        self._missing[(model, baseline_id)] = time.monotonic()
        return None


@dataclass
class OpenWindow:
    model: str
    partition: int
    first_offset: int
    baseline: Any
    window: Any  # monitors.DriftWindow
    version: Any = None
    last_offset: int = -1
    opened_wall: float = 0.0  # wall-clock time of its first summary (time-based windows survive a move)
    events: list = field(default_factory=list)  # Faust events merged in since the last checkpoint (unacked)
    reference: Any = None  # PredictionReference: the answers of the snapshots that scored the window
    checkpointed_at: float = float("-inf")

    @property
    def key(self) -> str:
        return f"{self.partition}-{self.first_offset}"


@dataclass
class ClosedWindow:
    model: str
    partition: int
    key: str  # the open window's key, to drop its checkpoint
    record: dict | None  # what DriftStore keeps (bounds, version, method config, verdicts); None: too small, dropped
    summary_json: str  # the merged window, with its bounded row sample
    drift_records: list[dict]  # data_drift / prediction_drift records (empty: nothing drifted)
    events: list


class DriftMonitor:
    """Windows of the models whose ``monitoring`` partitions this worker holds.

    The agent feeds it batches of events (:meth:`add_batch`) and calls :meth:`publish` (store the
    closed windows, send their records, ack their summaries) and, from a timer, :meth:`poll`
    (time-based windows) and :meth:`checkpoint`: an open window is written to Redis every
    ``drift_checkpoint_seconds`` and the summaries it holds are acked then, so that offsets are
    committed (and a rebalance, which waits for acks, is not held up) while a window fills up.
    Whoever owns the model's partition next resumes the window from its checkpoint.
    """

    def __init__(self, settings, lookup: BaselineLookup, store):
        self.settings = settings
        self.lookup = lookup
        self.store = store  # DriftStore (used from threads)
        self.open: dict[str, OpenWindow] = {}
        self.closed: deque[ClosedWindow] = deque()
        self.handled: dict[int, int] = {}  # monitoring partition -> last offset handled here
        self.partition_of: dict[str, int] = {}  # model -> its monitoring partition (checkpoint looked up)
        self.resumed_until: dict[str, int] = {}  # model -> last offset in the checkpoint it resumed from
        self._configs: dict[str, Any] = {}  # baseline id -> DriftConfig
        self.windows_closed = 0
        self.drift_records = 0
        self.invalid = 0
        self.deadletters = DeadLetterBuffer()  # invalid summaries, sent by the agent after each batch
        self.unknown_baseline = 0
        self.discarded_rows = 0
        self.resumed = 0
        self.seconds = 0.0  # CPU seconds spent decoding, merging and judging summaries

    def config_for(self, baseline: Any):
        config = self._configs.get(baseline.id)
        if config is None:
            config = self._configs[baseline.id] = settings_drift_config(baseline, self.settings)
        return config

    def _new_window(self):
        from monitors import DriftWindow

        s = self.settings
        return DriftWindow(size=s.drift_window_size, max_seconds=s.drift_window_seconds or None, min_rows=s.drift_window_min_rows)

    async def add_batch(self, events, now: float | None = None) -> None:
        """Merge a batch of ``monitoring`` events into their models' windows. Safe to call again
        with the same batch after a failure (events handled already are passed over)."""
        from monitors import Summary

        for event in events:
            message = event.message
            if message.offset <= self.handled.get(message.partition, -1):
                continue
            started = time.thread_time()  # CPU, as the summaries' builder counts it
            try:
                body = parse_monitoring_message(message.value)
                summary = Summary.from_dict(body["summary"])
            except Exception as exc:  # the message's dead letter; Summary.from_dict raises what it meets
                self.reject(event, exc if isinstance(exc, InvalidInput) else
                            InvalidInput("invalid_field", f"not a summary: {type(exc).__name__}: {exc}"[:500]))
                continue
            model = body["model"]
            if self.partition_of.get(model) != message.partition:  # a model new to this worker
                await self._resume(model, message, body.get("ts"), now)
                self.partition_of[model] = message.partition
            if message.offset <= self.resumed_until.get(model, -1):
                self._done(event)  # already in the checkpoint this window resumed from
                continue
            # Redis away (a baseline to fetch): raises, and the agent tries this event again.
            baseline = await self._baseline(model, summary.baseline_id, body.get("version"))
            if baseline is None:
                self.unknown_baseline += 1
                log.warning("model %s: no version has baseline %s; summary skipped", model, summary.baseline_id)
                self._done(event)
                continue
            self._add(model, body.get("version"), body.get("snapshot"), event, summary, baseline, now)
            self.handled[message.partition] = message.offset
            self.seconds += time.thread_time() - started

    async def _baseline(self, model: str, baseline_id: str, version: Any) -> Any:
        baseline = self.lookup.cached(baseline_id)
        if baseline is None:
            baseline = await asyncio.to_thread(self.lookup.find, model, baseline_id, version)
        return baseline

    async def _resume(self, model: str, message, sent_at: float | None, now: float | None) -> None:
        """Take up the model's open window from its checkpoint, if one was left on this partition."""
        from monitors import Summary

        saved = await asyncio.to_thread(self.store.load_open, model)
        if saved is None:
            return
        meta, summary_json = saved
        partition = message.partition
        if meta["partition"] != partition or model in self.open:
            return
        if message.offset <= meta["last_offset"] and sent_at is not None and sent_at > meta["saved_at"] + CLOCK_SLACK:
            # A summary the checkpoint should hold, sent after it was written: the topic was
            # recreated (offsets start again), and the checkpoint belongs to the old one.
            log.warning("model %s: drift checkpoint from an older monitoring topic, not resumed", model)
            return
        baseline = await self._baseline(model, meta["baseline_id"], meta.get("version"))
        if baseline is None:
            return
        window = self._new_window()
        window.current = Summary.from_dict(json.loads(summary_json))
        age = max(0.0, time.time() - meta["opened_wall"])
        window.opened_at = (time.monotonic() if now is None else now) - age
        saved_reference = meta.get("prediction_reference")
        reference = (self._new_reference(baseline) if saved_reference is None
                     else PredictionReference.from_dict(saved_reference, baseline, self.settings.drift_window_size))
        if saved_reference is None:  # a checkpoint from before references were kept: the deployed answers
            reference.add(window.n_rows, None, baseline)
        self.open[model] = OpenWindow(model, partition, meta["first_offset"], baseline, window, meta.get("version"),
                                      meta["last_offset"], meta["opened_wall"], reference=reference)
        self.resumed_until[model] = meta["last_offset"]
        self.resumed += 1
        log.info("model %s: resumed its drift window (%d events) from the checkpoint", model, window.n_rows)

    def _done(self, event) -> None:
        event.ack()
        self.handled[event.message.partition] = event.message.offset

    def reject(self, event, error: Exception) -> None:
        """Dead-letter a ``monitoring`` message (acked once the dead letter is sent). Also the
        isolation fallback for a summary whose merging raised."""
        if not isinstance(error, InvalidInput):
            error = InvalidInput("processing_error", f"{type(error).__name__}: {error}"[:500])
        message = event.message
        self.invalid += 1
        log.warning("monitoring message %s:%s dead-lettered: %s", message.partition, message.offset, error)
        record = deadletter_record(error, topic=message.topic, partition=message.partition, offset=message.offset,
                                   raw=message.value, ts=time.time())
        self.deadletters.add(message.key, json.dumps(record).encode(), error.reason, event)
        self.handled[message.partition] = max(message.offset, self.handled.get(message.partition, -1))

    def _add(self, model: str, version: Any, snapshot: Any, event, summary, baseline, now: float | None) -> None:
        current = self.open.get(model)
        if current is not None and current.baseline.id != baseline.id:
            # A new champion with another baseline: a window never mixes two references.
            enough = current.window.n_rows >= self.settings.drift_window_min_rows
            self._close(current, current.window.flush(), judge=enough)
            current = None
        message = event.message
        if current is None:
            current = self.open[model] = OpenWindow(model, message.partition, message.offset, baseline, self._new_window(),
                                                    opened_wall=time.time(), reference=self._new_reference(baseline))
        current.reference.add(summary.n_rows, self._learned_predictor(model, version, snapshot, baseline), baseline)
        current.events.append(event)
        current.version = version
        current.last_offset = message.offset
        closed = current.window.add(summary, time.monotonic() if now is None else now)
        if closed is not None:
            self._close(current, closed)

    def _new_reference(self, baseline: Any) -> PredictionReference:
        return PredictionReference(baseline, self.settings.drift_window_size)

    def _learned_predictor(self, model: str, version: Any, snapshot: Any, baseline: Any) -> Any:
        """The learned snapshot this worker serves for ``model``, when the summary's events were
        scored by a learned snapshot of the same version (else None: the deployed artifact's own
        answers are the reference). Workers refresh snapshots together, so it is the snapshot
        that scored them or a close one."""
        if snapshot is None or not baseline.predictions:
            return None
        cache = getattr(self.lookup, "cache", None)
        predictor = cache.predictors.get(model) if cache is not None else None
        if predictor is None or predictor.snapshot is None or predictor.version != version:
            return None
        return predictor

    def poll(self, now: float | None = None) -> int:
        """Close time-based windows whose time is up; returns how many closed."""
        now = time.monotonic() if now is None else now
        closed = 0
        for current in list(self.open.values()):
            window = current.window.poll(now)
            if window is not None:
                self._close(current, window)
                closed += 1
        return closed

    def _close(self, current: OpenWindow, window, judge: bool = True) -> None:
        if self.open.get(current.model) is current:
            del self.open[current.model]
        if window is None:
            return
        if not judge:  # too few rows to judge without false alarms: dropped (with its checkpoint)
            self.discarded_rows += window.n_rows
            self.closed.append(ClosedWindow(current.model, current.partition, current.key, None, "", [], current.events))
            return
        from monitors import compare

        config = self.config_for(current.baseline)
        verdicts = jsonable(compare(window, current.reference.baseline(current.baseline), config).to_dict())
        window_id = f"{int(window.start or 0)}-{current.partition}-{current.first_offset}"
        closed_at = time.time()
        record = {
            "id": window_id, "model": current.model, "version": current.version, "baseline_id": current.baseline.id,
            "start": window.start, "end": window.end, "n_rows": window.n_rows, "closed_at": closed_at,
            "partition": current.partition, "first_offset": current.first_offset, "last_offset": current.last_offset,
            "config": config.to_dict(), "verdicts": verdicts,
        }
        drift = window_records(current.model, current.version, window_id, verdicts, ts=closed_at,
                               report_path=report_path(current.model, window_id))
        self.closed.append(ClosedWindow(current.model, current.partition, current.key, record, window.to_json(), drift,
                                        current.events))

    async def publish(self, send: Callable[[list], Awaitable[None]]) -> list[ClosedWindow]:
        """Store each closed window, send its drift records, then acknowledge its summaries.

        ``send`` takes ``(key, value)`` records for ``drift-events``. On a failure the window stays
        queued (and its summaries unacknowledged) for the next call.
        """
        published = []
        while self.closed:
            window = self.closed[0]
            if window.record is not None:
                await asyncio.to_thread(self.store.save_window, window.model, window.record, window.summary_json,
                                        self.settings.drift_keep_windows)
                if window.drift_records:
                    await send([(window.model.encode(), encode(r)) for r in window.drift_records])
            await asyncio.to_thread(self.store.drop_open, window.model, window.key)
            for event in window.events:
                event.ack()
            self.closed.popleft()
            if window.record is not None:
                self.windows_closed += 1
                self.drift_records += len(window.drift_records)
                published.append(window)
        return published

    async def checkpoint(self, now: float | None = None, every: float | None = None) -> int:
        """Write open windows holding unacked summaries older than ``every`` seconds (default
        ``drift_checkpoint_seconds``) to Redis, then ack those summaries; returns how many were
        written. Closed windows are published first (by the caller), so that a checkpoint never
        outlives the window it belongs to."""
        now = time.monotonic() if now is None else now
        every = self.settings.drift_checkpoint_seconds if every is None else every
        written = 0
        for current in list(self.open.values()):
            if not current.events or now - current.checkpointed_at < every:
                continue
            meta = {"partition": current.partition, "first_offset": current.first_offset, "last_offset": current.last_offset,
                    "version": current.version, "baseline_id": current.baseline.id, "opened_wall": current.opened_wall,
                    "window": current.key, "saved_at": time.time(), "prediction_reference": current.reference.to_dict()}
            events, current.events = current.events, []
            try:
                await asyncio.to_thread(self.store.save_open, current.model, meta, current.window.current.to_json())
            except BaseException:
                current.events = events + current.events
                raise
            for event in events:
                event.ack()
            current.checkpointed_at = now
            written += 1
        return written

    def drop_partitions(self, partitions: set[int]) -> None:
        """Forget the windows of partitions that moved to another worker (it resumes them from
        their checkpoints and the summaries not acked yet)."""
        for partition in partitions:
            self.handled.pop(partition, None)
        for model, partition in list(self.partition_of.items()):
            if partition in partitions:
                del self.partition_of[model]
                self.resumed_until.pop(model, None)
                self.open.pop(model, None)
        self.closed = deque(w for w in self.closed if w.partition not in partitions)

    def describe(self) -> dict:
        return {
            "open_windows": {m: w.window.n_rows for m, w in sorted(self.open.items())},
            "windows_closed": self.windows_closed, "drift_records": self.drift_records,
            "waiting_to_publish": len(self.closed), "invalid_summaries": self.invalid,
            "unknown_baseline": self.unknown_baseline, "discarded_rows": self.discarded_rows,
            "resumed_from_checkpoint": self.resumed, "seconds": round(self.seconds, 3),
        }
