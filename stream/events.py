"""The wire contract: parsing ``events`` and building ``predictions`` and ``deadletter`` records.

Standard library only. Field names are a public contract (see the README's wire contract):
extend, never rename.

>>> event = parse_event(b'{"id": 7, "model": "churn", "features": {"x": 1.5}, "ts": 1700000000.0}')
>>> event.id, event.model, event.features, event.ts
('7', 'churn', {'x': 1.5}, 1700000000.0)
>>> parse_event(b'{"features": {}}')
Traceback (most recent call last):
...
stream.schema.InvalidInput: missing_id: the event has no 'id'
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any, NamedTuple

from .schema import InvalidInput

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
    if max_bytes is not None and len(raw) > max_bytes:
        raise InvalidInput("oversized", f"{len(raw)} bytes is more than the limit of {max_bytes} (DRIFTLINE_MAX_EVENT_BYTES)")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("invalid_json", f"not JSON: {exc}") from None
    return event_from_object(body)


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
    if model is not None and (not isinstance(model, str) or not model):
        raise InvalidInput("invalid_field", "'model' must be a non-empty string")
    features = body.get("features", _MISSING)
    if features is _MISSING:
        raise InvalidInput("invalid_field", "the event has no 'features'")
    if not isinstance(features, dict):
        raise InvalidInput("invalid_field", f"'features' must be an object, got {type(features).__name__}")
    ts = body.get("ts")
    if ts is not None and (isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts)):
        raise InvalidInput("invalid_field", "'ts' must be a number of seconds since the epoch")
    return Event(str(event_id), model, features, None if ts is None else float(ts), body.get("label"))


class Label(NamedTuple):
    id: str
    label: Any
    model: str | None


def parse_label(raw: bytes | None, max_bytes: int | None = None) -> Label:
    """Parse one ``labels`` message: ``{"id", "label", "model"?}``.

    >>> parse_label(b'{"id": 7, "label": true}')
    Label(id='7', label=True, model=None)
    """
    if raw is not None and max_bytes is not None and len(raw) > max_bytes:
        raise InvalidInput("oversized", f"{len(raw)} bytes is more than the limit of {max_bytes} (DRIFTLINE_MAX_EVENT_BYTES)")
    try:
        body = json.loads(raw) if raw is not None else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("invalid_json", f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidInput("not_an_object", f"a label must be a JSON object, got {type(body).__name__}")
    label_id = body.get("id")
    if label_id is None or label_id == "" or isinstance(label_id, bool) or not isinstance(label_id, (str, int)):
        raise InvalidInput("missing_id", "the label has no usable 'id' (string or integer)")
    if "label" not in body or body["label"] is None:
        raise InvalidInput("missing_label", "the message has no 'label'")
    label = body["label"]
    if not isinstance(label, (str, int, float, bool)) or (isinstance(label, float) and not math.isfinite(label)):
        raise InvalidInput("invalid_label", f"'label' must be a string, number or boolean, got {label!r}"[:200])
    model = body.get("model")
    if model is not None and (not isinstance(model, str) or not model):
        raise InvalidInput("invalid_field", "'model' must be a non-empty string")
    return Label(str(label_id), label, model)


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
    """One ``deadletter`` value: the reason, where the message came from, and its raw bytes."""
    return {
        "reason": error.reason,
        "detail": error.detail,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "raw": base64.b64encode(raw or b"").decode("ascii"),
        "ts": ts,
        "id": event_id,
        "model": model,
    }
