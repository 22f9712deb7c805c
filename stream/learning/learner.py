"""Test-then-train for one deployed model, with prequential metrics, concept-drift detection and
snapshot state.

No Kafka or Redis here: the learning agent feeds examples in training-topic order and decides
when to snapshot; this class does the learning and keeps what a restart needs to continue exactly
where the snapshot left off (the model, the metrics, the training-topic offsets it includes and
the ids it has learned recently, to skip the duplicates that at-least-once delivery brings).

>>> from river import linear_model, preprocessing
>>> meta = {"name": "m", "task": "binary_classification", "classes": [False, True],
...         "schema": {"features": {"x": "number"}}}
>>> learner = ModelLearner("m", "champion", 1, meta, preprocessing.StandardScaler() | linear_model.LogisticRegression())
>>> for i in range(200):
...     _ = learner.learn({"x": float(i % 10)}, i % 10 > 4, f"e{i}", partition=0, offset=i)
>>> learner.n_learned, round(learner.metrics.overall()["accuracy"], 2)
(200, 0.97)
>>> learner.learn({"x": 1.0}, False, "e3", partition=0, offset=3) is None  # already learned
True

With a concept-drift detector on its errors, a learner reports where the concept changed (the
labels flip at example 2000); when its errors fall back, once it has learned the new concept, that
is counted as an improvement, not reported as drift:

>>> from monitors import ConceptDriftMonitor
>>> learner = ModelLearner("m", "champion", 1, meta, preprocessing.StandardScaler() | linear_model.LogisticRegression(),
...                        concept=ConceptDriftMonitor("adwin"))
>>> for i in range(3000):
...     _ = learner.learn({"x": float(i % 10)}, (i % 10 > 4) != (i >= 2000), f"e{i}", partition=0, offset=i)
>>> [(d["kind"], d["position"], d["change_position"], d["event_id"]) for d in learner.concept_drifts]
[('concept_drift', 2015, 2000, 'e2015')]
>>> learner.concept.n_improvements
1
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from typing import Any

from river import metrics, utils

from stream.model.artifact import Artifact
from stream.model.predictor import Predictor
from stream.model.schema import InvalidInput
from stream.wire.drift import concept_record

from .recent_ids import RecentIds

REGRESSION = "regression"
_NOT_A_CLASS = object()
BINARY = "binary_classification"


def positive_class(classes: list) -> Any:
    """The class a binary F1 counts as positive: True if present, else the second by ``str``."""
    if True in classes and all(isinstance(c, bool) for c in classes):
        return True
    return sorted(classes, key=str)[-1]


def checked_label(y: Any, task: str, classes: list, by_value: dict | None = None) -> Any:
    """The label as one of the model's classes (``1`` or ``"True"`` for ``True``, ``"3"`` for
    ``3``), or a finite number for a regressor; ``InvalidInput("invalid_label")`` otherwise.
    River would learn an unknown class as a new one, and a binary model would then answer it.
    ``by_value``: ``{c: c for c in classes}``, when the caller keeps one.

    >>> checked_label(1, "binary_classification", [False, True]), checked_label("False", "binary_classification", [False, True])
    (True, False)
    >>> checked_label(5, "binary_classification", [False, True])
    Traceback (most recent call last):
        ...
    stream.model.schema.InvalidInput: invalid_label: label 5 is not one of the model's classes (False, True); a new class needs a model trained with it
    """
    if task == REGRESSION:
        if isinstance(y, bool) or not isinstance(y, (int, float)) or not math.isfinite(y):
            raise InvalidInput("invalid_label", f"a regression label must be a finite number, got {y!r:.100}")
        return y
    if not classes:
        return y
    table = by_value if by_value is not None else {c: c for c in classes}
    known = table.get(y, _NOT_A_CLASS)  # a hash lookup: 1 finds True, 3.0 finds 3
    if known is not _NOT_A_CLASS:
        return known
    for c in classes:
        if str(c) == str(y):
            return c
    shown = ", ".join(repr(c) for c in classes[:20]) + (", ..." if len(classes) > 20 else "")
    raise InvalidInput("invalid_label", f"label {y!r:.100} is not one of the model's classes ({shown}); "
                                        "a new class needs a model trained with it")


class PrequentialMetrics:
    """Metrics of predictions made before learning each example: overall and over a recent window."""

    def __init__(self, task: str, classes: list, window: int = 1000):
        if window < 1:
            raise ValueError("window must be >= 1")
        self.task = task
        self.window = window
        self.positive = (positive_class(classes) if classes else True) if task == BINARY else None
        self._overall = self._make(None)
        self._recent = self._make(window)

    def _make(self, window: int | None) -> dict:
        def m(cls, **kw):
            return cls(**kw) if window is None else utils.Rolling(cls, window_size=window, **kw)

        if self.task == REGRESSION:
            return {"mae": m(metrics.MAE), "rmse": m(metrics.RMSE)}
        if self.task == BINARY:
            # F1 of booleans (is it the positive class?): River's F1 turns labels into booleans and
            # then compares them with pos_val, so a positive class like "yes" would always read 0.
            return {"accuracy": m(metrics.Accuracy), "f1": m(metrics.F1), "log_loss": m(metrics.LogLoss)}
        return {"accuracy": m(metrics.Accuracy), "f1": m(metrics.MacroF1), "log_loss": m(metrics.CrossEntropy)}

    def update(self, y_true: Any, y_pred: Any, proba: dict | None) -> None:
        for group in (self._overall, self._recent):
            for name, metric in group.items():
                if name == "f1" and self.task == BINARY:
                    metric.update(y_true == self.positive, y_pred == self.positive)
                elif name == "log_loss":
                    if self.task == BINARY:
                        metric.update(y_true == self.positive, (proba or {}).get(self.positive, 0.0))
                    else:
                        metric.update(y_true, proba or {})
                else:
                    metric.update(y_true, y_pred)

    def overall(self) -> dict:
        return {k: _finite(m.get()) for k, m in self._overall.items()}

    def recent(self) -> dict:
        return {k: _finite(m.get()) for k, m in self._recent.items()}


log = logging.getLogger(__name__)

#: Clock difference between workers tolerated when comparing a message's time with a checkpoint's.
CLOCK_SLACK_SECONDS = 5.0


class ExampleBuffer:
    """The most recent labeled examples of a model (validated features, label), for retraining.

    ``seen`` counts every example ever given (positions in the model's stream of examples);
    ``take_unsaved`` hands over those added since the last call, with their positions, for the
    registry to keep (a checkpoint stores only ``seen``: the buffer is rebuilt from the registry's
    copy, up to that position, and the replay after a restart adds the rest again).

    >>> buffer = ExampleBuffer(3)
    >>> for i in range(5):
    ...     buffer.append({"x": i}, i > 2)
    >>> buffer.seen, buffer.since(3)
    (5, [({'x': 3}, True), ({'x': 4}, True)])
    >>> saved = buffer.take_unsaved()
    >>> [position for position, _, _ in saved], buffer.take_unsaved()
    ([0, 1, 2, 3, 4], [])
    >>> restored = ExampleBuffer(3)
    >>> restored.restore(saved + [(5, {"x": 5}, True)], seen=5)  # position 5 is not in the checkpoint
    >>> restored.seen, restored.since(0)
    (5, [({'x': 2}, False), ({'x': 3}, True), ({'x': 4}, True)])

    Each example also keeps the champion's test-then-train error on it (in memory only: after a
    restart it is unknown), so a challenger that learns the example later can be tested on it first:

    >>> buffer.append({"x": 5}, True, champion_error=1.0)
    >>> buffer.since_with_errors(4)
    [({'x': 4}, True, None), ({'x': 5}, True, 1.0)]
    """

    def __init__(self, size: int):
        self.examples: deque = deque(maxlen=size)
        self.champion_errors: deque = deque(maxlen=size)  # aligned with ``examples``; None: unknown
        self.seen = 0
        self.unsaved: list[tuple[int, dict, Any]] = []

    def append(self, x: dict, y: Any, champion_error: float | None = None) -> None:
        self.examples.append((x, y))
        self.champion_errors.append(champion_error)
        self.unsaved.append((self.seen, x, y))
        self.seen += 1

    def _held_since(self, position: int) -> int:
        return min(len(self.examples), max(0, self.seen - position))

    def since(self, position: int) -> list[tuple[dict, Any]]:
        """The examples from ``position`` on (those still held)."""
        keep = self._held_since(position)
        return list(self.examples)[len(self.examples) - keep:] if keep else []

    def since_with_errors(self, position: int) -> list[tuple[dict, Any, float | None]]:
        """:meth:`since`, each example with the champion's test-then-train error on it."""
        keep = self._held_since(position)
        if not keep:
            return []
        errors = list(self.champion_errors)[len(self.champion_errors) - keep:]
        return [(x, y, error) for (x, y), error in zip(self.since(position), errors)]

    def take_unsaved(self) -> list[tuple[int, dict, Any]]:
        unsaved, self.unsaved = self.unsaved, []
        return unsaved

    def give_back(self, unsaved: list[tuple[int, dict, Any]]) -> None:
        """Examples whose saving failed: saved with the next ones."""
        self.unsaved[:0] = unsaved

    def restore(self, rows: Any, seen: int) -> None:
        """Rebuild from saved ``(position, x, y)`` rows, up to (not including) position ``seen``."""
        by_position = {int(position): (x, y) for position, x, y in rows if 0 <= int(position) < seen}
        self.examples.clear()
        self.examples.extend(by_position[p] for p in sorted(by_position)[-self.examples.maxlen:])
        self.champion_errors.clear()
        self.champion_errors.extend([None] * len(self.examples))
        self.seen = seen
        self.unsaved = []


class ModelLearner:
    """Learns one alias (champion or challenger) of one model, example by example.

    A champion's learner keeps the model's recent examples (:class:`ExampleBuffer`) for
    retraining; a challenger's (or, on probation, the previous champion's) keeps the paired test
    against the champion (``paired``, see :mod:`monitors.promotion`), fed by
    :class:`~stream.learning.learners.Learners` with both models' errors on the same examples.
    Both live in the learner's state, so a restart from a checkpoint replays them exactly.
    """

    def __init__(self, name: str, alias: str, version: int, metadata: dict, model: Any, *, window: int = 1000,
                 remember_ids: int = 100_000, concept: Any = None):
        self.name, self.alias, self.version = name, alias, version
        self.metadata = metadata
        self.model = model
        self.predictor = Predictor.from_artifact(Artifact(metadata=metadata, model=model), version=version)
        self.classes = list(metadata.get("classes") or [])
        self.by_str = {str(c): c for c in self.classes}
        self.metrics = PrequentialMetrics(metadata["task"], self.classes, window)
        self.n_learned = 0
        self.duplicates = 0
        self.offsets: dict[int, int] = {}  # training partition -> last offset learned
        self.recent_ids = RecentIds(remember_ids)
        self.remember_ids = remember_ids
        self.concept = concept  # a monitors.ConceptDriftMonitor fed this learner's errors, or None
        self.concept_drifts: list[dict] = []  # concept_drift records not yet taken by the stream
        self.buffer: ExampleBuffer | None = None  # the champion's: recent examples for retraining
        self.paired: Any = None  # a challenger's: the paired test against the champion
        self.failures = 0  # examples this learner could not predict or learn (the probation's hard limit)
        self.restored_buffer_seen: int | None = None  # from a checkpoint: how far the buffer went
        # When the oldest label learned since the last snapshot was joined: the scorers measure
        # the adaptation lag from it (driftline_adaptation_lag_seconds).
        self.oldest_new_label_ts: float | None = None
        self.checkpoint_at: float | None = None  # when the checkpoint it resumed from was written

    def learn(self, x: dict, y: Any, event_id: str, partition: int, offset: int, ts: float | None = None) -> float | None:
        """Test, then train. Returns the example's error (0/1, or absolute error), None if skipped.

        ``ts`` is the training message's timestamp: a message at an offset the checkpoint already
        covers but written after the checkpoint belongs to a recreated topic (the embedded broker
        restarted), whose offsets start again: that partition's offset is forgotten.
        """
        if offset <= self.offsets.get(partition, -1):
            if ts is None or self.checkpoint_at is None or ts <= self.checkpoint_at + CLOCK_SLACK_SECONDS:
                return None  # already in the snapshot this learner started from
            log.warning("learner %s/%s: training partition %d starts again at offset %d (a recreated topic): "
                        "its checkpoint's offset %d forgotten", self.name, self.alias, partition, offset, self.offsets[partition])
            self.offsets[partition] = offset - 1
            self.checkpoint_at = None
        self.offsets[partition] = offset
        if event_id in self.recent_ids:
            self.duplicates += 1
            return None
        y = self.checked_label(y)
        self.recent_ids.add(event_id)
        x = self.predictor.schema.validate(x)
        result = self.predictor.predict(x)
        y_pred = result["prediction"]
        proba = {self.by_str.get(k, k): p for k, p in result["proba"].items()} if "proba" in result else None
        self.metrics.update(y, y_pred, proba)
        self.model.learn_one(x, y)
        self.n_learned += 1
        error = self._error(y, y_pred)
        if self.buffer is not None:
            self.buffer.append(x, y, champion_error=error)
        if self.concept is not None and self.concept.update(error):
            self.concept_drifts.append(concept_record(
                self.name, self.version, self.alias, self.concept.to_dict(), self.concept.last_drift, event_id=event_id,
                partition=partition, offset=offset, metrics=self.metrics.recent(), ts=time.time(),
                change_position=self.concept.last_change,
            ))
        return error

    def checked_label(self, y: Any) -> Any:
        """The label as one of the model's classes (:func:`checked_label`)."""
        table = self.__dict__.get("_by_value")  # built here: learners restored from older checkpoints lack it
        if table is None:
            table = self._by_value = {c: c for c in self.classes}
        return checked_label(y, self.metrics.task, self.classes, table)

    def _error(self, y: Any, y_pred: Any) -> float:
        """What the concept detector and the paired test compare: 0/1, or the absolute error."""
        if self.metrics.task == REGRESSION:
            return abs(float(y) - float(y_pred))
        return 0.0 if y_pred == y else 1.0

    def test_then_train(self, x: dict, y: Any) -> float:
        """Learn an example the champion has already been tested on (validated features), first
        predicting it: the error, for the paired test. No ids, offsets or metrics: a catch-up."""
        error = self._error(y, self.predictor.predict(x)["prediction"])
        self.model.learn_one(x, y)
        return error

    def note_label(self, ts_label: float | None) -> None:
        if ts_label is not None and (self.oldest_new_label_ts is None or ts_label < self.oldest_new_label_ts):
            self.oldest_new_label_ts = ts_label

    def info(self) -> dict:
        """What ``driftline models show`` and ``/api/models`` report (JSON)."""
        return {
            "alias": self.alias,
            "version": self.version,
            "n_learned": self.n_learned,
            "duplicates_skipped": self.duplicates,
            "offsets": {str(p): o for p, o in self.offsets.items()},
            "oldest_new_label_ts": self.oldest_new_label_ts,
            "metrics": {"overall": self.metrics.overall(), "recent": self.metrics.recent(), "window": self.metrics.window},
            **({"paired_test": self.paired.to_dict()} if self.paired is not None else {}),
        }

    # Snapshots ---------------------------------------------------------------------------------
    def snapshot_artifact(self, baseline: dict | None = None) -> Artifact:
        """The model as scorers load it: the deployed metadata plus what it has learned since.

        The service passes no ``baseline``: a snapshot's metadata names its version's baseline
        (``baseline.id``), which stays in the version's artifact rather than in every snapshot.
        """
        metadata = dict(self.metadata, version=self.version, learned=self.info())
        return Artifact(metadata=metadata, model=self.model, baseline=baseline or {})

    def state(self) -> dict:
        """Everything besides the model that a restart needs (pickled inside a signed artifact)."""
        return {"metrics": self.metrics, "n_learned": self.n_learned, "duplicates": self.duplicates,
                "offsets": dict(self.offsets), "recent_ids": self.recent_ids, "concept": self.concept,
                "buffer_seen": self.buffer.seen if self.buffer is not None else None, "paired": self.paired,
                "failures": self.failures}

    def restore(self, state: dict) -> None:
        self.metrics = state["metrics"]
        self.n_learned = state["n_learned"]
        self.duplicates = state["duplicates"]
        self.offsets = dict(state["offsets"])
        ids = state["recent_ids"]
        # A checkpoint from before RecentIds holds an OrderedDict of the ids.
        self.recent_ids = ids if isinstance(ids, RecentIds) else RecentIds.from_ids(ids, self.remember_ids)
        self.failures = state.get("failures", 0)
        if state.get("paired") is not None:
            self.paired = state["paired"]
        self.restored_buffer_seen = state.get("buffer_seen")  # the learners rebuild the buffer up to it
        # The detector goes on from where the snapshot left it (so a replay after a crash finds
        # the same drifts), unless the configured detector changed since.
        restored = state.get("concept")
        if restored is not None and self.concept is not None and \
                (restored.detector, restored.params) == (self.concept.detector, self.concept.params):
            self.concept = restored


def _finite(value: float) -> float | None:
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None
