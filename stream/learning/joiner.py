"""The label join: ``labels`` ──► matched with the remembered prediction ──► ``training``.

Examples are keyed by model name, so every example of a model lands on one partition and exactly
one worker learns it. Labels that come before their event are held in the pending store and
retried under a lease; bad labels are dead-lettered with their reason.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from stream.metrics import METRICS
from stream.model.schema import InvalidInput
from stream.transport.isolation import processing_error_record
from stream.wire.events import Label, deadletter_record, parse_label, training_example

from .pending import PendingStore
from .progress import ScoringProgress


class LabelJoiner:
    """Turns labels into training examples; holds early labels; dead-letters bad ones."""

    def __init__(self, pending: PendingStore, max_bytes: int, progress: ScoringProgress | None = None,
                 labels_topic: str = "labels", label_check: Callable[[str, Any], Any] | None = None):
        self.pending = pending
        # (model, label) -> the label as the model takes it, or InvalidInput: checked before the
        # prediction it joins is used up, so that a bad label leaves the event to a good one.
        self.label_check = label_check
        self.max_bytes = max_bytes
        self.labels_topic = labels_topic  # a held label's dead letter names the topic it came from, prefix and all
        # How far the scorers have got: a held label past its grace still waits while its event
        # may be in the scorers' backlog (None: the grace alone decides).
        self.progress = progress
        self.deadlettered: Counter[str] = Counter()
        self.replayed = 0  # labels delivered again after their example was made (passed over)

    async def join(self, messages) -> "Joined":
        """Join a batch of ``labels`` messages. Safe to call again with the same messages (the
        pending entries stay until :meth:`PendingStore.forget`, and holding a label twice holds it once)."""
        labels: list[Label] = []
        parsed = []  # the message of each label
        deadletters = []
        now = time.time()
        for message in messages:
            try:
                labels.append(parse_label(message.value, self.max_bytes))
                parsed.append(message)
            except InvalidInput as error:
                self.deadlettered[error.reason] += 1
                METRICS.deadletters.labels(reason=error.reason).inc()
                record = deadletter_record(error, topic=message.topic, partition=message.partition,
                                           offset=message.offset, raw=message.value, ts=now)
                deadletters.append((message.key, json.dumps(record).encode()))
        entries = await self.pending.lookup([label.id for label in labels])
        replayed = await self.pending.joined([label.id for label, entry in zip(labels, entries) if entry is None])
        examples, matched, early = [], [], []
        for message, label, entry in zip(parsed, labels, entries):
            if entry is None:
                if label.id in replayed:  # already an example: delivered again after a crash
                    self.replayed += 1
                    continue
                early.append({"id": label.id, "label": label.label, "model": label.model})
                continue
            where = dict(topic=message.topic, partition=message.partition, offset=message.offset, raw=message.value, ts=now)
            if label.model and label.model != entry["m"]:
                # Not this prediction's label: the event stays remembered for the right one.
                deadletters.append((message.key, self._mismatch(label.id, label.model, entry["m"], **where)))
                continue
            value, refused = self._checked(label.id, entry["m"], label.label, where)
            if refused is not None:
                deadletters.append((message.key, refused))
                continue
            examples.append((entry["m"].encode(), training_example(label.id, entry["m"], entry["v"], entry["f"],
                                                                   value, entry["p"], entry["t"])))
            matched.append((label.id, entry))
        await self.pending.hold(early)
        return Joined(examples, matched, deadletters)

    def failed(self, message, exc: Exception) -> "Joined":
        """A label whose join raised (a bug, not Redis): its ``processing_error`` dead letter."""
        self.deadlettered["processing_error"] += 1
        METRICS.deadletters.labels(reason="processing_error").inc()
        return Joined(deadletters=[processing_error_record(message.topic, message.partition, message.offset, message.key,
                                                           message.value, exc)])

    async def retry_held(self) -> "HeldRetry":
        """Join held labels whose event has arrived; give up on those past their deadline. The
        caller sends the outputs, then calls :meth:`finish_held`."""
        give_up_through = self._give_up_through()
        claimed = await self.pending.claim_held(give_up_through=give_up_through)
        retry = HeldRetry()
        if not claimed:
            return retry
        entries = await self.pending.lookup([label["id"] for _, label, _ in claimed])
        replayed = await self.pending.joined([label["id"] for (_, label, _), entry in zip(claimed, entries) if entry is None])
        now = time.time()
        for (member, label, deadline), entry in zip(claimed, entries):
            if entry is not None:
                where = dict(topic=self.labels_topic, partition=None, offset=None, raw=json.dumps(label).encode(), ts=now)
                if label.get("model") and label["model"] != entry["m"]:
                    value, refused = None, self._mismatch(label["id"], label["model"], entry["m"], **where)
                else:
                    value, refused = self._checked(label["id"], entry["m"], label["label"], where)
                if refused is not None:  # dead-lettered, and the event waits for a label it can take
                    retry.unmatched.append((label["id"].encode(), refused))
                    retry.mismatched += 1
                else:
                    retry.examples.append((entry["m"].encode(), training_example(
                        label["id"], entry["m"], entry["v"], entry["f"], value, entry["p"], entry["t"])))
                    retry.matched.append((label["id"], entry))
                retry.done.append(member)
            elif label["id"] in replayed:  # another copy of this label became its example
                self.replayed += 1
                retry.done.append(member)
            elif deadline > give_up_through:
                retry.waiting.append(member)
            else:
                error = InvalidInput("unmatched_label", f"no prediction for event {label['id']!r} within the grace period, "
                                                        "and every event sent before the label has been scored")
                record = deadletter_record(error, topic=self.labels_topic, partition=None, offset=None,
                                           raw=json.dumps(label).encode(), ts=now, event_id=label["id"], model=label.get("model"))
                retry.unmatched.append((label["id"].encode(), json.dumps(record).encode()))
                retry.done.append(member)
                self.deadlettered["unmatched_label"] += 1  # /health's agents.labels.deadlettered
                METRICS.deadletters.labels(reason="unmatched_label").inc()
        return retry

    def _checked(self, event_id: str, model: str, value: Any, where: dict) -> tuple[Any, bytes | None]:
        """(the label as ``model`` takes it, None), or (None, its ``invalid_label`` dead letter)."""
        if self.label_check is None:
            return value, None
        try:
            return self.label_check(model, value), None
        except InvalidInput as error:
            self.deadlettered[error.reason] += 1
            METRICS.deadletters.labels(reason=error.reason).inc()
            return None, json.dumps(deadletter_record(error, **where, event_id=event_id, model=model)).encode()

    def _mismatch(self, event_id: str, named: str, scored_by: str, **where) -> bytes:
        """The dead letter of a label that names another model than the one that scored its event."""
        error = InvalidInput("model_mismatch", f"the label names model {named!r}, but event {event_id!r} was scored by "
                                               f"{scored_by!r}: not learned (event ids must be unique across models)")
        self.deadlettered[error.reason] += 1
        METRICS.deadletters.labels(reason=error.reason).inc()
        return json.dumps(deadletter_record(error, **where, event_id=event_id, model=named)).encode()

    def _give_up_through(self) -> float:
        """The latest deadline of a held label that may be given up now: past its grace, and (with
        a progress watcher) held before the time up to which the scorers have scored everything,
        so every event that was on ``events`` when it was held has been scored."""
        now = time.time()
        if self.progress is None:
            return now
        if self.progress.scored_through is None:
            return 0.0
        return min(now, self.progress.scored_through + self.pending.grace)

    async def finish_held(self, retry: "HeldRetry") -> None:
        """After the retry's examples and dead letters are on the broker: forget the matched
        predictions and take the finished labels off the held list."""
        await self.pending.forget(retry.matched, late=len(retry.matched))
        await self.pending.release_held(retry.done, retry.waiting, unmatched=len(retry.unmatched) - retry.mismatched)


@dataclass
class Joined:
    """What joining labels made: training examples as (key, value), matched entries for
    :meth:`PendingStore.forget` once the examples are on the broker, dead letters as (key, value)."""

    examples: list = field(default_factory=list)
    matched: list = field(default_factory=list)
    deadletters: list = field(default_factory=list)

    @classmethod
    def merge(cls, parts: list["Joined"]) -> "Joined":
        return cls([e for p in parts for e in p.examples], [m for p in parts for m in p.matched],
                   [d for p in parts for d in p.deadletters])


@dataclass
class HeldRetry:
    """One retry of the held labels: what to send, and what to release once it is sent."""

    examples: list = field(default_factory=list)  # (key, value) for ``training``
    unmatched: list = field(default_factory=list)  # (key, value) dead letters for ``deadletter``
    mismatched: int = 0  # of those, labels refused by the model their event's prediction names (not unmatched)
    matched: list = field(default_factory=list)  # (event id, entry) for PendingStore.forget
    done: list = field(default_factory=list)  # held members that are finished
    waiting: list = field(default_factory=list)  # held members to retry later
