"""The wire contract: parsing ``events`` and building ``predictions`` and ``deadletter`` records.

Decoded with :func:`stream.wire.jsonbytes.loads` (msgspec, else the standard library). Field names are a public contract (see the README's wire contract):
extend, never rename.

>>> event = parse_event(b'{"id": 7, "model": "churn", "features": {"x": 1.5}, "ts": 1700000000.0}')
>>> event.id, event.model, event.features, event.ts
('7', 'churn', {'x': 1.5}, 1700000000.0)
>>> parse_event(b'{"features": {}}')
Traceback (most recent call last):
...
stream.model.schema.InvalidInput: missing_id: the event has no 'id'
"""

from __future__ import annotations

import base64
import math
import time
from typing import Any, NamedTuple

from stream.model.decoding import is_finite_number
from stream.model.schema import InvalidInput
from stream.wire.jsonbytes import dumps, loads

#: A dead letter keeps at most this much of the original message (an oversized event would
#: otherwise make a dead letter too large for the broker, and so be lost).
MAX_RAW_BYTES = 65536

_MISSING = object()


class Event(NamedTuple):
    id: str
    model: str | None
    features: dict
    ts: float | None
    label: Any  # None when the event carries no label


def parse_event(raw: bytes | str | None, max_bytes: int | None = None) -> Event:
    """Parse and check one event's envelope (not its features: the model's schema does that)."""
    if raw is None:
        raise InvalidInput("invalid_json", "the message has no value")
    _check_size(raw, max_bytes)
    return event_from_object(loads(raw))


def event_from_object(body: Any) -> Event:
    """Check an already-decoded event (the HTTP view receives JSON objects)."""
    if not isinstance(body, dict):
        raise InvalidInput("not_an_object", f"an event must be a JSON object, got {type(body).__name__}")
    event_id = body.get("id")
    if event_id is None or event_id == "":
        raise InvalidInput("missing_id", "the event has no 'id'")
    if isinstance(event_id, bool) or not isinstance(event_id, (str, int)):
        raise InvalidInput("missing_id", f"'id' must be a string or an integer, got {type(event_id).__name__}")
    model = body.get("model")
    try:
        if model is not None and (not isinstance(model, str) or not model):
            raise InvalidInput("invalid_field", "'model' must be a non-empty string")
        features = body.get("features", _MISSING)
        if features is _MISSING:
            raise InvalidInput("invalid_field", "the event has no 'features'")
        if not isinstance(features, dict):
            raise InvalidInput("invalid_field", f"'features' must be an object, got {type(features).__name__}")
        ts = body.get("ts")
        if ts is not None and not is_finite_number(ts):
            raise InvalidInput("invalid_field", "'ts' must be a number of seconds since the epoch")
        label = body.get("label")
        if label is not None:
            _check_label(label)
    except InvalidInput as error:  # the id was read: the dead letter names it
        error.event_id, error.model = str(event_id), model if isinstance(model, str) and model else None
        raise
    return Event(str(event_id), model, features, None if ts is None else epoch_seconds(float(ts)), label)


def epoch_seconds(ts: float) -> float:
    """An event's ``ts`` in seconds: a value too large for seconds (beyond the year 5000) is read as
    milliseconds, microseconds or nanoseconds, as Kafka, JavaScript's ``Date.now()`` and many
    loggers write them; taken as seconds it would put the drift windows tens of centuries ahead.

    >>> epoch_seconds(1796700848.5), epoch_seconds(1796700848500.0), epoch_seconds(1796700848500000.0)
    (1796700848.5, 1796700848.5, 1796700848.5)
    """
    for scale in (1.0, 1e3, 1e6, 1e9):
        if abs(ts) / scale < 1e11:
            return ts / scale
    return ts / 1e9


def _check_size(raw: bytes | str | None, max_bytes: int | None) -> None:
    if raw is not None and max_bytes is not None and len(raw) > max_bytes:
        raise InvalidInput("oversized", f"{len(raw)} bytes is more than the limit of {max_bytes} (DRIFTLINE_MAX_EVENT_BYTES)")


def _check_label(label: Any) -> None:
    if isinstance(label, str) or type(label) is bool or is_finite_number(label):
        return
    shown = repr(label)
    raise InvalidInput("invalid_label", f"'label' must be a string, a finite number or a boolean, got {shown[:150]}")


class Label(NamedTuple):
    id: str
    label: Any
    model: str | None


def parse_label(raw: bytes | None, max_bytes: int | None = None) -> Label:
    """Parse one ``labels`` message: ``{"id", "label", "model"?}``.

    >>> parse_label(b'{"id": 7, "label": true}')
    Label(id='7', label=True, model=None)
    """
    _check_size(raw, max_bytes)
    return label_from_object(loads(raw))


def label_from_object(body: Any) -> Label:
    """Check an already-decoded label (``POST /labels``)."""
    if not isinstance(body, dict):
        raise InvalidInput("not_an_object", f"a label must be a JSON object, got {type(body).__name__}")
    label_id = body.get("id")
    if label_id is None or label_id == "" or isinstance(label_id, bool) or not isinstance(label_id, (str, int)):
        raise InvalidInput("missing_id", "the label has no usable 'id' (string or integer)")
    model = body.get("model")
    try:
        if body.get("label") is None:
            raise InvalidInput("missing_label", "the message has no 'label'" if "label" not in body else "'label' is null")
        label = body["label"]
        _check_label(label)
        if model is not None and (not isinstance(model, str) or not model):
            raise InvalidInput("invalid_field", "'model' must be a non-empty string")
    except InvalidInput as error:  # the id was read: the dead letter names it
        error.event_id, error.model = str(label_id), model if isinstance(model, str) and model else None
        raise
    return Label(str(label_id), label, model)


class Example(NamedTuple):
    """One ``training`` message: a label joined with the features and prediction of its event."""

    id: str
    model: str
    version: Any
    features: dict
    label: Any
    prediction: Any
    ts_label: float | None = None  # when the label was joined (the adaptation lag starts there)


def training_example(event_id: str, model: str, version: Any, features: dict, label: Any, prediction: Any,
                     ts_event: float | None) -> bytes:
    """One ``training`` value (keyed by model name)."""
    return dumps({
        "id": event_id, "model": model, "version": version, "features": features, "label": label,
        "prediction": prediction, "ts_event": ts_event, "ts_label": time.time(),
    })


def parse_training_example(raw: bytes | None) -> Example:
    """Parse one ``training`` message (written by workers, but read as untrusted input all the same).

    >>> example = parse_training_example(training_example("e1", "churn", 3, {"x": 1.0}, True, False, None))
    >>> example[:6], example.ts_label > 1.7e9
    (('e1', 'churn', 3, {'x': 1.0}, True, False), True)
    """
    body = loads(raw)
    if not isinstance(body, dict):
        raise InvalidInput("not_an_object", f"a training example must be a JSON object, got {type(body).__name__}")
    example_id, model = body.get("id"), body.get("model")
    if not isinstance(example_id, str) or not example_id:
        raise InvalidInput("missing_id", "the training example has no 'id' string")
    if not isinstance(model, str) or not model:
        raise InvalidInput("invalid_field", "the training example has no 'model' string")
    features = body.get("features")
    if not isinstance(features, dict):
        raise InvalidInput("invalid_field", f"'features' must be an object, got {type(features).__name__}")
    if "label" not in body or body["label"] is None:
        raise InvalidInput("missing_label", "the training example has no 'label'")
    _check_label(body["label"])
    ts_label = body.get("ts_label")
    if not isinstance(ts_label, (int, float)) or isinstance(ts_label, bool) or not math.isfinite(ts_label):
        ts_label = None
    return Example(example_id, model, body.get("version"), features, body["label"], body.get("prediction"), ts_label)


def prediction_record(event: Event, model: str, version: Any, result: dict, ts_scored: float, snapshot: int | None = None) -> dict:
    """One ``predictions`` value; ``result`` is what :meth:`Predictor.score` returned."""
    record = {"id": event.id, "model": model, "version": version, "snapshot": snapshot, "prediction": result["prediction"]}
    if "proba" in result:
        record["proba"] = result["proba"]
    record["ts_event"] = event.ts
    record["ts_scored"] = ts_scored
    return record


def deadletter_record(
    error: InvalidInput,
    *,
    topic: str,
    partition: int | None,
    offset: int | None,
    raw: bytes | None,
    ts: float,
    event_id: str | None = None,
    model: str | None = None,
) -> dict:
    """One ``deadletter`` value: the reason, where the message came from, and its raw bytes (the
    first :data:`MAX_RAW_BYTES` of them, with ``raw_size`` and ``raw_truncated``, for larger ones)."""
    raw = raw or b""
    record = {
        "reason": error.reason,
        "detail": error.detail,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "raw": base64.b64encode(raw[:MAX_RAW_BYTES]).decode("ascii"),
        "ts": ts,
        "id": event_id if event_id is not None else error.event_id,
        "model": model if model is not None else error.model,
    }
    if len(raw) > MAX_RAW_BYTES:
        record.update(raw_size=len(raw), raw_truncated=True)
    return record
