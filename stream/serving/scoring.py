"""The score path without Kafka: a batch of raw messages in, predictions and dead letters out.

The Faust agent and ``POST /predict`` both call this, so the stream and HTTP give the same
answers and the same errors. Every input message yields exactly one output: a prediction or a
dead letter with its reason.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, NamedTuple, Sequence

from stream.metrics import METRICS
from stream.model.schema import InvalidInput
from stream.transport.isolation import processing_error_record
from stream.transport.messages import Message
from stream.wire.events import (
    Event,
    deadletter_record,
    event_from_object,
    parse_event,
    prediction_record,
    training_example,
)
from stream.wire.jsonbytes import dumps

from .model_cache import ModelCache


class Scored(NamedTuple):
    """What the learning path and drift monitoring need of a scored event: the features the model
    saw (validated) and what it said."""

    event_id: str
    model: str
    version: int
    snapshot: int | None
    features: dict
    prediction: Any
    ts_event: float | None
    label: Any  # an inline label on the event, or None
    result: dict | None = None  # what Predictor.predict returned (prediction and proba)


class Output(NamedTuple):
    key: bytes | None
    value: bytes
    ok: bool  # True: a prediction; False: a dead letter
    scored: Scored | None = None
    example: bytes | None = None  # the ``training`` value when the event carried its label


@dataclass
class Answered:
    """The HTTP path's answers, and what to remember or learn from them."""

    results: list = field(default_factory=list)
    scored: list = field(default_factory=list)  # predictions waiting for a label
    examples: list = field(default_factory=list)  # (key, training value) of events that carried their label


class Scorer:
    def __init__(self, cache: ModelCache, default_model: str = "", max_event_bytes: int | None = None):
        self.cache = cache
        self.default_model = default_model or None
        self.max_event_bytes = max_event_bytes
        self.scored = 0
        self.deadlettered: Counter[str] = Counter()
        self.shadowed = 0  # events a challenger also answered (shadow-predictions)
        self.shadow_failures = 0  # events a challenger could not answer (never the event's answer)
        self.lag_seen: dict[str, int] = {}  # model -> the snapshot whose adaptation lag was measured

    def parse(self, messages: Sequence[Message]) -> list[Event | InvalidInput]:
        """One parsed event or dead-letter reason per message; never raises."""
        parsed: list[Event | InvalidInput] = []
        for message in messages:
            try:
                parsed.append(parse_event(message.value, self.max_event_bytes))
            except InvalidInput as error:
                parsed.append(error)
            except Exception as exc:  # a parser bug: this message's dead letter, not the agent's end
                parsed.append(InvalidInput("processing_error", f"{type(exc).__name__}: {exc}"[:500]))
        return parsed

    def missing_models(self, parsed: Sequence[Event | InvalidInput]) -> set[str]:
        """Models named in the batch that this worker has not loaded (worth one registry refresh)."""
        return self.missing_model_names(e.model for e in parsed if isinstance(e, Event))

    def missing_model_names(self, names: Iterable[Any]) -> set[str]:
        predictors = self.cache.predictors
        wanted = {name if isinstance(name, str) else self.default_model for name in names}
        return {n for n in wanted if n and n not in predictors}

    def score(self, messages: Sequence[Message], parsed: Sequence[Event | InvalidInput]) -> list[Output]:
        """One output per message, in order. An event that carries its label also gets its
        ``training`` example (test-then-train: scored first, then learned from)."""
        now = time.time()
        predictors = self.cache.predictors  # one snapshot for the whole batch
        outputs = []
        # Counted when the batch is done: a batch that raises is scored again one event at a time.
        made: Counter = Counter()  # (model, version) -> predictions
        rejected: Counter = Counter()  # reason -> dead letters
        for message, event in zip(messages, parsed):
            model = None
            try:
                if isinstance(event, InvalidInput):
                    raise event
                model = event.model or self.default_model
                record, scored, example = self._score_event(event, model, predictors, now)
                outputs.append(Output(event.id.encode(), dumps(record), True, scored, example))
                self.scored += 1
                made[(model, scored.version)] += 1
            except InvalidInput as error:
                self.deadlettered[error.reason] += 1
                rejected[error.reason] += 1
                record = deadletter_record(
                    error,
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                    raw=message.value,
                    ts=now,
                    event_id=event.id if isinstance(event, Event) else None,
                    model=model,
                )
                outputs.append(Output(message.key, dumps(record), False))
        for (model, version), n in made.items():
            METRICS.predictions.labels(model=model, version=str(version)).inc(n)
            self._served(predictors.get(model), now)
        for reason, n in rejected.items():
            METRICS.deadletters.labels(reason=reason).inc(n)
        return outputs

    def _served(self, predictor: Any, now: float) -> None:
        """The adaptation lag of a snapshot's first predictions on this worker: from the join of
        the oldest label it newly learned (its learner noted it) to now."""
        if predictor is None or predictor.snapshot is None or self.lag_seen.get(predictor.name) == predictor.snapshot:
            return
        self.lag_seen[predictor.name] = predictor.snapshot
        oldest = (predictor.metadata.get("learned") or {}).get("oldest_new_label_ts")
        if isinstance(oldest, (int, float)) and oldest <= now:
            METRICS.adaptation_lag.observe(now - oldest)

    def shadow(self, scored: Sequence[Scored]) -> list[tuple[bytes, bytes]]:
        """The challengers' answers to events their champions answered, as ``shadow-predictions``
        records (the ``predictions`` schema plus ``"alias": "challenger"``). Never raises: a
        challenger that fails on an event is counted, and the event keeps its champion's answer."""
        challengers = self.cache.challengers
        if not challengers:
            return []
        now = time.time()
        records = []
        for event in scored:
            challenger = challengers.get(event.model)
            if challenger is None:
                continue
            try:
                result = challenger.predict(event.features)
                record = {"id": event.event_id, "model": event.model, "version": challenger.version,
                          "snapshot": challenger.snapshot, "prediction": result["prediction"]}
                if "proba" in result:
                    record["proba"] = result["proba"]
                record.update(ts_event=event.ts_event, ts_scored=now, alias="challenger")
                records.append((event.event_id.encode(), dumps(record)))
            except Exception:
                self.shadow_failures += 1
        self.shadowed += len(records)
        return records

    def score_items(self, items: Sequence[tuple[Message, Event | InvalidInput]]) -> list[Output]:
        """:meth:`score` on ``(message, parsed)`` pairs: the unit of work the score agent isolates."""
        return self.score([m for m, _ in items], [p for _, p in items])

    def failed(self, item: tuple[Message, Event | InvalidInput], exc: Exception) -> list[Output]:
        """The one output of a message whose scoring raised: a ``processing_error`` dead letter."""
        message, parsed = item
        key, value = processing_error_record(message.topic, message.partition, message.offset, message.key, message.value, exc,
                                             model=parsed.model if isinstance(parsed, Event) else None)
        self.deadlettered["processing_error"] += 1
        METRICS.deadletters.labels(reason="processing_error").inc()
        return [Output(key, value, False)]

    def score_objects(self, bodies: Sequence[Any]) -> list[dict]:
        """Score decoded JSON events (the HTTP path): a prediction or ``{"error": ...}`` each."""
        return self.score_requests(bodies).results

    def score_requests(self, bodies: Sequence[Any], assign_ids: bool = False, body_bytes: int = 0) -> "Answered":
        """Score decoded JSON events (the HTTP path). With ``assign_ids`` an event without ``id``
        gets a UUID (returned in its answer), so that its label can follow. Also returns what the
        stream would do next: the predictions to remember for their labels, and the training
        examples of events that carried their label. ``body_bytes``: the request's size; when it
        is over the stream's limit on one event, each event's size is checked against it too."""
        answered = Answered()
        predictors = self.cache.predictors
        now = time.time()
        check_sizes = self.max_event_bytes is not None and body_bytes > self.max_event_bytes
        for body in bodies:
            if assign_ids and isinstance(body, dict) and body.get("id") is None:
                body = dict(body, id=str(uuid.uuid4()))
            try:
                if check_sizes:  # as the stream measures it: the event's JSON
                    size = body_bytes if len(bodies) == 1 else len(json.dumps(body, separators=(",", ":")).encode())
                    if size > self.max_event_bytes:
                        raise InvalidInput("oversized", f"{size} bytes is more than the limit of {self.max_event_bytes} "
                                                        "(DRIFTLINE_MAX_EVENT_BYTES)")
                event = event_from_object(body)
                model = event.model or self.default_model
                record, scored, example = self._score_event(event, model, predictors, now)
                answered.results.append(record)
                if example is None:
                    answered.scored.append(scored)
                else:
                    answered.examples.append((model.encode(), example))
            except InvalidInput as error:
                answered.results.append(_error_result(body, error.reason, error.detail))
            except Exception as exc:  # a bug must not answer 500 to one event: its error, like a dead letter
                self.deadlettered["processing_error"] += 1
                answered.results.append(_error_result(body, "processing_error", f"{type(exc).__name__}: {exc}"[:500]))
        return answered

    def _score_event(self, event: Event, model: str | None, predictors: dict, now: float) -> tuple[dict, Scored, bytes | None]:
        """One event's prediction record, what learning and monitoring need of it, and its
        ``training`` example when it carried its label (the stream and HTTP alike)."""
        predictor = self._predictor(model, predictors)
        x = predictor.schema.validate(event.features)
        result = predictor.predict(x)
        record = prediction_record(event, model, predictor.version, result, now, predictor.snapshot)
        scored = Scored(event.id, model, predictor.version, predictor.snapshot, x, result["prediction"], event.ts, event.label, result)
        example = None if event.label is None else training_example(
            event.id, model, predictor.version, x, event.label, result["prediction"], event.ts)
        return record, scored, example

    def _predictor(self, model: str | None, predictors: dict):
        predictor = predictors.get(model) if model else None
        if predictor is None:
            raise self._why_no_model(model)
        return predictor

    def _why_no_model(self, model: str | None) -> InvalidInput:
        if not model:
            return InvalidInput("unknown_model", "the event names no model and DRIFTLINE_DEFAULT_MODEL is not set")
        if model in self.cache.known:
            if model in self.cache.load_errors:
                return InvalidInput("no_champion", f"model {model!r}'s champion cannot be loaded: {self.cache.load_errors[model]}")
            return InvalidInput("no_champion", f"model {model!r} has no champion deployed")
        return InvalidInput("unknown_model", f"no model named {model!r} is registered")


def _error_result(body: Any, reason: str, detail: str) -> dict:
    event_id = body.get("id") if isinstance(body, dict) else None
    if not isinstance(event_id, (str, int)) or isinstance(event_id, bool):
        event_id = None
    return {"id": event_id, "error": {"reason": reason, "detail": detail}}
