"""Drift monitoring in the stream: batch summaries on the score path, windows in each model's monitor.

Score path (every worker): :class:`BatchSummarizer` turns a scored batch into one small summary
per model with :func:`monitors.summarize`, from the validated features and the predictions the
:class:`~stream.scoring.Scorer` already holds (nothing is validated or predicted twice), and the
agent sends it to ``monitoring``, keyed by model.

Monitor (whichever worker owns the model's ``monitoring`` partition): :class:`DriftMonitor`
merges the summaries into windows (:class:`monitors.DriftWindow`), judges each closed window
against the baseline the summaries were made with (the champion's, by baseline id) and hands out
the window's record, to store in Redis (:class:`~stream.drift_store.DriftStore`), and its
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
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Sequence

from .baseline import monitored_columns
from .drift_records import encode, jsonable, monitoring_message, parse_monitoring_message, window_records
from .drift_store import report_path
from .events import deadletter_record
from .isolation import DeadLetterBuffer
from .model_cache import load_baseline
from .prediction_reference import PredictionReference
from .schema import InvalidInput

log = logging.getLogger(__name__)

#: Seconds of clock difference between workers tolerated when checking a checkpoint's age.
CLOCK_SLACK = 5.0
#: Evidently's rule treats numeric columns with at most this many distinct values as categories.
FEW_VALUES = 5


def drift_config(baseline: Any, rule: str = "distances", numeric_method: str = "", categorical_method: str = "",
                 drift_share: float = 0.5):
    """The :class:`monitors.DriftConfig` for a baseline.

    ``distances`` applies Evidently's rule for large references whatever the reference size:
    normed Wasserstein for numeric columns with more than 5 distinct values, Jensen-Shannon for
    the others. Evidently's own rule (``evidently``) switches to p-value tests for references of
    at most 1,000 rows, which alarm on stationary streams (docs/monitoring.md, "False alarms").
    ``numeric_method`` / ``categorical_method`` override the rule for every column of a family.
    """
    from monitors import DriftConfig

    methods = {}
    if rule == "distances":
        for group in (baseline.features, baseline.predictions):
            for name, column in group.items():
                if column.numeric and not numeric_method:
                    methods[name] = "wasserstein" if column.n_unique > FEW_VALUES else "jensenshannon"
                elif not column.numeric and not categorical_method:
                    methods[name] = "jensenshannon"
    elif rule != "evidently":
        raise ValueError(f"unknown drift method rule {rule!r}: expected distances or evidently")
    return DriftConfig(methods=methods, drift_share=drift_share, numeric_method=numeric_method or None,
                       categorical_method=categorical_method or None)


def settings_drift_config(baseline: Any, settings) -> Any:
    return drift_config(baseline, settings.drift_method_rule, settings.drift_numeric_method,
                        settings.drift_categorical_method, settings.drift_share)


class Columns:
    """A table as columns of equal length, with the part of a DataFrame's interface that
    :func:`monitors.summarize` reads (``columns``, ``table[name]``, ``len``)."""

    __slots__ = ("data", "columns", "n")

    def __init__(self, data: dict[str, list], n: int):
        self.data, self.columns, self.n = data, list(data), n

    def __getitem__(self, name: str) -> list:
        return self.data[name]

    def __len__(self) -> int:
        return self.n


class BatchSummarizer:
    """The score path's part: one ``monitoring`` message per model per scored batch.

    Never raises: a summary that cannot be built is counted (``errors``, ``last_error``, shown in
    ``/health``) and the batch's predictions go out regardless.
    """

    def __init__(self, cache, sample_rows: int = 1000, window_size: int = 5000):
        self.cache = cache  # ModelCache: its ``baselines`` follow its predictors
        # Each event enters the window's row sample (for reports) with this probability, so that
        # a full window's sample holds about ``sample_rows`` events.
        self.sample_rows = sample_rows
        self.sample_rate = min(1.0, sample_rows / window_size)
        self.sent = 0  # summaries built
        self.rows = 0  # events they summarise
        self.unmonitored = 0  # scored events of models without a usable baseline
        self.errors = 0
        self.last_error: str | None = None
        self._last_logged = float("-inf")
        self.seconds = 0.0  # spent building summaries (the score path's share of monitoring)

    def summaries(self, scored: Sequence, now: float) -> list[tuple[bytes, bytes]]:
        """``(key, value)`` messages for a batch's :class:`~stream.scoring.Scored` events."""
        started = time.perf_counter()
        by_model: dict[str, list] = {}
        for event in scored:
            by_model.setdefault(event.model, []).append(event)
        baselines = self.cache.baselines
        messages = []
        for model, events in by_model.items():
            entry = baselines.get(model)
            if entry is None or entry.version != events[0].version:
                self.unmonitored += len(events)
                continue
            try:
                messages.append((model.encode(), self._message(model, events, entry, now)))
            except Exception as exc:  # monitoring must never stop scoring
                self.failed(exc)
                continue
            self.sent += 1
            self.rows += len(events)
        self.seconds += time.perf_counter() - started
        return messages

    def _message(self, model: str, events: list, entry, now: float) -> bytes:
        from monitors import summarize

        baseline = entry.baseline
        # Column by column: monitors.summarize reads tables column-wise, and building the columns
        # here directly saves a dict per event and a scan for dicts (a third of its cost).
        rows = [e.features for e in events]
        features = Columns({name: [row.get(name) for row in rows] for name in baseline.features}, len(rows))
        predictions = Columns(monitored_columns([e.result for e in events], entry.positive), len(rows))
        stamps = [e.ts_event for e in events if e.ts_event is not None]
        start, end = (min(stamps), max(stamps)) if stamps else (now, now)
        summary = summarize(features, baseline, predictions, start=start, end=end,
                            sample_rate=self.sample_rate, sample_size=self.sample_rows)
        return monitoring_message(model, events[0].version, events[0].snapshot, summary.to_json(), now)

    def failed(self, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        if time.monotonic() - self._last_logged > 60:  # at most one log line a minute
            self._last_logged = time.monotonic()
            log.warning("drift summaries failing (%d so far), scoring goes on: %s", self.errors, self.last_error)

    def describe(self) -> dict:
        return {"summaries_sent": self.sent, "rows_summarised": self.rows, "unmonitored_events": self.unmonitored,
                "errors": self.errors, "last_error": self.last_error, "seconds": round(self.seconds, 3)}


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
        self.seconds = 0.0  # spent decoding, merging and judging summaries (not counting Redis)

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
            started = time.perf_counter()
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
            self.seconds += time.perf_counter() - started

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
        from .drift_reports import render_reports, report_inputs

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

            from .drift_reports import lower_priority

            # spawn, not fork: the worker has threads (aiokafka's, Redis clients') that a fork would copy mid-flight.
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=lower_priority)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def describe(self) -> dict:
        return {"rendered": self.rendered, "queued": len(self.queue), "not_rendered_same_drift": self.skipped,
                "dropped_queue_full": self.dropped,
                "errors": self.errors, "last_error": self.last_error}
