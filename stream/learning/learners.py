"""The learners a worker owns: one per deployed model alias, fed from ``training``.

``training`` ──► Learners (test-then-train champion and challenger, snapshots to the registry).
The label join that writes ``training`` is :mod:`stream.learning.joiner`.

Exactly-once learning on top of at-least-once Kafka: a training event is acknowledged only once a
snapshot that includes it is in the registry, so after a crash Faust redelivers exactly the
examples learned since the last snapshot; the learner restores that snapshot and skips what it
already holds (by training offset, and by event id for duplicated examples).

The champion's learner feeds its per-example errors to a concept-drift detector (saved with its
snapshots, so a replay finds the same drifts); its detections wait in :attr:`Learners.drift_events`
for the agent to send to ``drift-events``. Snapshots do not repeat the version's drift baseline
(tens to hundreds of kB): it stays in the version's artifact, once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from typing import Any, Callable

from stream.metrics import METRICS
from stream.model import artifact as artifacts
from stream.model.schema import InvalidInput
from stream.registry.registry import ALIASES, Registry
from stream.transport.isolation import DeadLetterBuffer
from stream.wire.events import deadletter_record, parse_training_example

from .learner import ExampleBuffer, ModelLearner
from .rate import RateMeter

log = logging.getLogger(__name__)

#: At most this share of a learner's time goes to publishing its model: a forest that takes 150 ms
#: to serialise publishes every 1.5 s, a linear model (under a millisecond) every
#: ``publish_min_seconds``.
PUBLISH_SHARE = 0.1
#: A learn batch gives the event loop back this often (examples): a forest learns ~1,000 a second,
#: and a batch of 500 would hold every other agent for half a second.
YIELD_EVERY = 20


class Learners:
    """The learners this worker owns, their snapshots, and the acks that wait for them."""

    def __init__(self, registry_factory, key: bytes | None, allow_unsigned: bool, *, every_examples: int,
                 every_seconds: float, window: int, concept_detector: str | None = None, concept_params: dict | None = None,
                 publish_min_examples: int = 1, publish_min_seconds: float = 0.25, buffer_size: int = 20_000):
        self._registry_factory = registry_factory
        self._registry: Registry | None = None
        self.key = key
        self.allow_unsigned = allow_unsigned
        self.every_examples = every_examples
        self.every_seconds = every_seconds
        self.window = window
        self.learners: dict[tuple[str, str], ModelLearner] = {}
        self.partition_of: dict[str, int] = {}  # model -> the training partition its examples come from
        self.unacked: dict[str, list] = {}  # model -> Faust events learned but not yet in a snapshot
        self.since_snapshot: dict[str, int] = {}
        self.last_snapshot: dict[str, float] = {}
        # Publishing (the model for the scorers) goes much faster than checkpointing (model, state, acks).
        self.publish_min_examples = publish_min_examples
        self.publish_min_seconds = publish_min_seconds
        self.since_publish: dict[str, int] = {}
        self.next_publish: dict[str, float] = {}  # model -> monotonic time it may publish again
        self.skipped = 0
        self.deadletters = DeadLetterBuffer()  # sent by the agent after each batch
        self.handled: dict[int, int] = {}  # training partition -> last offset handled here
        # Offsets of an assigned training partition that the learn agent never received (a jump
        # forward between two events it did receive): their examples are not learned here.
        self.offsets_missed = 0
        self.concept_detector = concept_detector  # None: no concept-drift detection
        self.concept_params = dict(concept_params or {})
        self.drift_events: list[dict] = []  # concept_drift records waiting to be sent
        self.buffer_size = buffer_size  # recent examples kept per model for retraining
        self.rates: dict[str, RateMeter] = {}  # model -> how fast its champion learns (what a challenger must keep up with)
        # Set by the deployment stage: would a look at the model now move it on (its paired test passed)?
        self.decision_due: Callable[[str], bool] | None = None

    def _concept_monitor(self, task: str):
        """A fresh detector for a champion's errors (None when detection is off or does not fit)."""
        if self.concept_detector is None:
            return None
        from monitors import ConceptDriftMonitor

        monitor = ConceptDriftMonitor(self.concept_detector, seed=42, **self.concept_params)
        if monitor.spec.binary and task == "regression":
            log.warning("concept-drift detector %s takes 0/1 errors only: no concept-drift detection for regressors",
                        self.concept_detector)
            return None
        return monitor

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = self._registry_factory()
        return self._registry

    def _load(self, name: str) -> dict[str, ModelLearner]:
        """Learners for a model's champion and challenger: from their checkpoints, else from the
        artifact; the champion's with the model's recent examples for retraining."""
        loaded = {alias: self._load_one(name, alias, version)
                  for alias, version in self.registry.aliases(name).items() if alias in ALIASES}
        champion = loaded.get("champion")
        if champion is not None:
            rows = self.registry.recent_examples(name)
            seen = champion.restored_buffer_seen
            if seen is None:  # a champion without a checkpoint of its own: what the registry holds
                seen = max((int(row[0]) for row in rows), default=-1) + 1
            champion.buffer = ExampleBuffer(self.buffer_size)
            champion.buffer.restore(rows, seen)
        return loaded

    def _load_one(self, name: str, alias: str, version: int) -> ModelLearner:
        """The learner of one alias. A promotion or rollback moves a version to the other alias:
        its learner goes on from that alias's checkpoint if it has none under the new one."""
        snapshot, moved = self.registry.fetch_checkpoint(name, alias), False
        if snapshot is None or snapshot[0]["version"] != version:
            snapshot, moved = self.registry.fetch_checkpoint(name, _other(alias)), True
            if snapshot is not None and snapshot[0]["version"] != version:
                snapshot = None
        state = None
        if snapshot is not None:
            _, data, state_blob = snapshot
            state = artifacts.loads(state_blob, self.key, allow_unsigned=self.allow_unsigned).model if state_blob else None
        else:
            data = self.registry.fetch(name, version)
        art = artifacts.loads(data, self.key, allow_unsigned=self.allow_unsigned)
        metadata = {k: v for k, v in art.metadata.items() if k != "learned"}
        concept = self._concept_monitor(metadata["task"]) if alias == "champion" else None
        learner = ModelLearner(name, alias, version, metadata, art.model, window=self.window, concept=concept)
        if state is not None:
            learner.restore(state)
            learner.checkpoint_at = snapshot[0].get("written_at")
        if moved or alias == "champion" or learner.paired is None:
            self._take_role(learner, alias)
        log.info("learner %s/%s v%s starts at %d examples (%s)", name, alias, version, learner.n_learned,
                 "checkpoint" if state is not None else "deployed artifact")
        return learner

    def _take_role(self, learner: ModelLearner, alias: str, buffer: ExampleBuffer | None = None) -> None:
        """What a learner keeps besides its model in each role: a champion detects concept drift and
        keeps the recent examples; a challenger is tested against it from scratch."""
        learner.alias = alias
        learner.failures = 0
        learner.concept_drifts = []
        if alias == "champion":
            learner.paired = None
            learner.buffer = buffer
            if learner.concept is None:
                learner.concept = self._concept_monitor(learner.metadata["task"])
        else:
            from monitors import paired_test

            learner.paired = paired_test(learner.metadata["task"])
            learner.buffer = None
            learner.concept = None

    @staticmethod
    def _catch_up(learner: ModelLearner, buffer: ExampleBuffer, position: int, offsets: dict[int, int]) -> int:
        """The challenger learns the examples it was not trained on, each tested first: where the
        champion's test-then-train error on it is known, the pair goes to the paired test (both
        models predicted the example before learning it), so the test starts with the evidence of
        the seconds the retrain took instead of waiting for as many new labels. Returns how many
        it learned."""
        examples = buffer.since_with_errors(position)
        for x, y, champion_error in examples:
            error = learner.test_then_train(x, y)
            if champion_error is not None and learner.paired is not None:
                learner.paired.observe(champion_error, error)
        learner.offsets = dict(offsets)  # it has learned what the champion has: a replay skips the same
        return len(examples)

    async def move(self, name: str, champion: int, challenger: int | None, catch_up_from: int | None = None,
                   checkpoint: bool = True) -> None:
        """Rearrange a model's learners after its aliases moved (promotion, rollback, a challenger
        added or removed): a version that keeps serving keeps everything it learned, in its new
        role. Then checkpoint and publish them at once, so the scorers follow without waiting.

        ``catch_up_from``: a challenger loaded now (a retrain's) first learns the champion's
        examples from that buffer position on, those that arrived while it was being trained, so
        it joins knowing what the champion knows.

        ``checkpoint=False`` (a challenger joining): the checkpoint is left to the next learn batch
        instead. Nothing served changes, and a test that passes on the examples caught up on
        promotes, with a checkpoint of its own, without waiting for this one (a forest's takes a
        tenth of a second or more)."""
        current = {alias: self.learners.pop((name, alias)) for alias in ALIASES if (name, alias) in self.learners}
        buffer = current["champion"].buffer if "champion" in current else None
        by_version = {learner.version: learner for learner in current.values()}
        for alias, version in (("champion", champion), ("challenger", challenger)):
            if version is None:
                continue
            learner = by_version.pop(version, None)
            if learner is None:
                learner = await asyncio.to_thread(self._load_one, name, alias, version)
                if alias == "challenger":
                    self._take_role(learner, alias)  # tested from the examples it catches up on
                    if catch_up_from is not None and buffer is not None and "champion" in current:
                        started = time.monotonic()
                        caught_up = await asyncio.to_thread(self._catch_up, learner, buffer, catch_up_from,
                                                            current["champion"].offsets)
                        # The champion's learning waits meanwhile (the caller holds the learning lock).
                        log.info("%s: challenger v%d caught up on %d examples in %.2f s", name, version, caught_up,
                                 time.monotonic() - started)
            elif learner.alias != alias:
                self._take_role(learner, alias, buffer)
            if alias == "champion" and learner.buffer is None:
                learner.buffer = buffer if buffer is not None else ExampleBuffer(self.buffer_size)
            self.learners[(name, alias)] = learner
        if checkpoint:
            await self.snapshot(name)
        else:
            self.since_snapshot[name] = max(self.since_snapshot.get(name, 0), self.every_examples)  # due at the next look

    async def ensure(self, name: str, partition: int) -> bool:
        """Make sure this worker has learners for ``name``; False if the model has no champion."""
        if any(key[0] == name for key in self.learners):
            return True
        loaded = await asyncio.to_thread(self._load, name)
        for alias, learner in loaded.items():
            self.learners[(name, alias)] = learner
        self.partition_of[name] = partition
        self.last_snapshot.setdefault(name, time.monotonic())
        return "champion" in loaded

    async def learn_batch(self, events, stop_when_due: bool = False) -> set[str]:
        """Learn a batch of training events. Safe to call again with the same batch after a failure
        (Redis away while loading a learner): events handled already are passed over.

        ``stop_when_due``: stop after the example that made a model's paired test ready to decide
        (:attr:`decision_due`) and return that model's name; the caller lets the deployment loop
        act, then calls again for the rest. Returns no name when the whole batch was learned."""
        learned: Counter[str] = Counter()
        try:
            stopped_for = await self._learn_batch(events, learned, stop_when_due)
            return {stopped_for} if stopped_for is not None else set()
        finally:
            now = time.monotonic()
            for name, n in learned.items():
                METRICS.examples_learned.labels(model=name).inc(n)
                meter = self.rates.get(name)
                if meter is None:
                    meter = self.rates[name] = RateMeter()
                meter.add(n, now)

    def label_rate(self, name: str) -> float | None:
        """Labeled examples per second the model's champion learned lately (None: not measured yet)."""
        meter = self.rates.get(name)
        return meter.rate() if meter is not None else None

    def label_rates(self) -> dict[str, float]:
        """:meth:`label_rate` of every model learned here that has one, rounded (for ``/health``)."""
        rates = {name: meter.rate() for name, meter in sorted(self.rates.items())}
        return {name: round(rate, 1) for name, rate in rates.items() if rate is not None}

    async def _learn_batch(self, events, learned: Counter, stop_when_due: bool = False) -> str | None:
        for i, event in enumerate(events):
            if i and not i % YIELD_EVERY:
                await asyncio.sleep(0)  # let the score and labels agents in between: learning is slow
            message = event.message
            last = self.handled.get(message.partition, -1)
            if message.offset <= last:
                continue
            if last >= 0 and message.offset > last + 1:
                self._missed(message.partition, last + 1, message.offset - 1)
            try:
                example = parse_training_example(message.value)
            except InvalidInput as error:
                self.reject(event, error)
                continue
            name = example.model
            if not await self.ensure(name, message.partition):
                self.skipped += 1  # no champion (any more): nothing to learn
                event.ack()
                self.handled[message.partition] = message.offset
                continue
            errors = {}
            for alias in ALIASES:
                learner = self.learners.get((name, alias))
                if learner is None:
                    continue
                try:
                    errors[alias] = learner.learn(example.features, example.label, example.id, message.partition, message.offset,
                                                  ts=_timestamp(message))
                    if errors[alias] is not None:
                        learner.note_label(example.ts_label)
                        if alias == "champion":
                            learned[name] += 1
                    if learner.concept_drifts:
                        self.drift_events.extend(learner.concept_drifts)
                        learner.concept_drifts = []
                except Exception as error:
                    if not isinstance(error, InvalidInput):  # the model's failure (a bad label is the sender's)
                        learner.failures += 1
                        error = InvalidInput("invalid_label", f"{type(error).__name__}: {error}")
                    if alias == "champion":
                        self._deadletter(message, error, event_id=example.id, model=name)
            due = False
            if errors.get("champion") is not None and errors.get("challenger") is not None:
                # Paired: both models predicted this example before learning it (test-then-train).
                challenger = self.learners[(name, "challenger")]
                if challenger.paired is not None:
                    challenger.paired.observe(errors["champion"], errors["challenger"])
                    due = (stop_when_due and errors["challenger"] < errors["champion"]
                           and self.decision_due is not None and self.decision_due(name))
            self.unacked.setdefault(name, []).append(event)
            self.since_snapshot[name] = self.since_snapshot.get(name, 0) + 1
            self.since_publish[name] = self.since_publish.get(name, 0) + 1
            self.handled[message.partition] = message.offset
            if due:
                return name
        return None

    def _missed(self, partition: int, first: int, last: int) -> None:
        """Offsets ``first``..``last`` of a training partition never reached the learn agent,
        although it holds the partition and received the events around them. Driftline's
        producers write no transaction markers and its topics are not compacted, so every offset
        is a message, and an event the agent passes over (a bad one, another model's, a replayed
        one) still counts as received: a jump means examples this worker will not learn. Said
        loudly and counted (``/health``'s ``training_offsets_missed``) rather than silently."""
        self.offsets_missed += last - first + 1
        log.warning("training partition %d: offsets %d to %d never reached the learn agent, which received the events "
                    "around them: the examples among them are not learned here", partition, first, last)

    def reject(self, event, error: Exception) -> None:
        """Dead-letter a training event that cannot be learned (acked once its dead letter is sent).
        Also the isolation fallback for an event whose learning raised."""
        if not isinstance(error, InvalidInput):
            error = InvalidInput("processing_error", f"{type(error).__name__}: {error}"[:500])
        self._deadletter(event.message, error, event=event)
        self.handled[event.message.partition] = max(event.message.offset, self.handled.get(event.message.partition, -1))

    def _deadletter(self, message, error: InvalidInput, *, event=None, event_id: str | None = None, model: str | None = None) -> None:
        record = deadletter_record(error, topic=message.topic, partition=message.partition, offset=message.offset,
                                   raw=message.value, ts=time.time(), event_id=event_id, model=model)
        self.deadletters.add(message.key, json.dumps(record, default=str).encode(), error.reason, event)

    def due(self, force_time: bool = False) -> list[str]:
        now = time.monotonic()
        return [
            name for name, events in self.unacked.items()
            if events and (self.since_snapshot.get(name, 0) >= self.every_examples
                           or now - self.last_snapshot.get(name, now) >= self.every_seconds or force_time)
        ]

    def publish_due(self) -> list[str]:
        """Models that learned something since their last publish and may publish again."""
        now = time.monotonic()
        return [name for name, n in self.since_publish.items()
                if n >= self.publish_min_examples and now >= self.next_publish.get(name, 0.0) and name in self.partition_of]

    async def publish(self, name: str) -> None:
        """Publish the model's champion to the scorers (no state, no acks: that is a checkpoint).

        The model in shadow (a challenger, or the previous champion on probation) is published with
        each checkpoint only: its answers are never served, and the paired test uses its label-time
        predictions, not them. A forest in shadow takes ~200 ms to serialise, holding the learners'
        lock and the interpreter; published as often as the champion, it delayed the controller's
        look at the test (and so the promotion) by seconds."""
        await self._write(name, checkpoint=False)

    async def snapshot(self, name: str) -> None:
        """Checkpoint the model's learners (model and state) in the registry, publishing them too,
        then ack the events they include."""
        await self._write(name, checkpoint=True)
        for event in self.unacked.pop(name, []):
            event.ack()
        self.since_snapshot[name] = 0
        self.last_snapshot[name] = time.monotonic()

    async def _write(self, name: str, checkpoint: bool) -> None:
        learners = [learner for (n, alias), learner in self.learners.items() if n == name and (checkpoint or alias == "champion")]
        cost = await asyncio.to_thread(self._write_snapshots, learners, checkpoint)
        self.since_publish[name] = 0
        self.next_publish[name] = time.monotonic() + max(self.publish_min_seconds, cost / PUBLISH_SHARE)

    def _write_snapshots(self, learners: list[ModelLearner], checkpoint: bool = True) -> float:
        """Write the snapshots; returns the CPU seconds it took (a busy event loop inflates the wall time)."""
        started = time.thread_time()
        for learner in learners:
            if checkpoint and learner.buffer is not None:
                # Before the checkpoint that counts them: a restart rebuilds the buffer up to it.
                unsaved = learner.buffer.take_unsaved()
                try:
                    self.registry.append_examples(learner.name, unsaved, keep=self.buffer_size)
                except Exception:
                    learner.buffer.give_back(unsaved)
                    raise
            # No baseline: it is the version's, kept once in the version's artifact. Not compressed:
            # snapshots are written several times a second and read back on a fast network.
            data = artifacts.dumps(learner.snapshot_artifact(), self.key, compress=False)
            state = None
            if checkpoint:
                state = artifacts.dumps(artifacts.Artifact({"name": learner.name, "kind": "learner_state"}, learner.state()),
                                        self.key, compress=False)
            info, learner.oldest_new_label_ts = learner.info(), None
            revision = self.registry.publish_snapshot(learner.name, learner.alias, learner.version, data, info, state)
            log.debug("%s %s/%s revision %d at %d examples", "checkpoint" if checkpoint else "published", learner.name,
                      learner.alias, revision, learner.n_learned)
        return time.thread_time() - started

    def drop_partitions(self, partitions: set[int]) -> None:
        """Forget learners whose training partition moved to another worker (it restores the snapshot)."""
        for partition in partitions:
            self.handled.pop(partition, None)
        for name, partition in list(self.partition_of.items()):
            if partition in partitions:
                for alias in ALIASES:
                    self.learners.pop((name, alias), None)
                self.unacked.pop(name, None)
                self.since_publish.pop(name, None)
                self.partition_of.pop(name, None)
                self.rates.pop(name, None)

    async def check_versions(self) -> None:
        """Restart a model's learners when its champion or challenger changed in the registry."""
        for name in {n for n, _ in self.learners}:
            aliases = await asyncio.to_thread(self.registry.aliases, name)
            mine = {alias: learner.version for (n, alias), learner in self.learners.items() if n == name}
            if {a: v for a, v in aliases.items() if a in ALIASES} != mine:
                if self.unacked.get(name):
                    await self.snapshot(name)
                partition = self.partition_of.get(name, 0)
                for alias in ALIASES:
                    self.learners.pop((name, alias), None)
                await self.ensure(name, partition)


def _other(alias: str) -> str:
    return "challenger" if alias == "champion" else "champion"


def _timestamp(message: Any) -> float | None:
    """A Faust message's timestamp in seconds (None when the broker gave none)."""
    ts = getattr(message, "timestamp", None)
    return float(ts) if isinstance(ts, (int, float)) and ts > 0 else None
