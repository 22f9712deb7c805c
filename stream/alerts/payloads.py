"""What an alert looks like on the wire: the body, and the Standard Webhooks signature headers.

Standard Webhooks 1.0 (standardwebhooks.com): ``webhook-id`` is the same on every retry of one
delivery (receivers de-duplicate by it), ``webhook-timestamp`` is the attempt's Unix time in
seconds, ``webhook-signature`` is ``v1,`` and the base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}``
under the secret's key. The body is ``{"type": KIND, "timestamp": ISO-8601, "data": RECORD}``
plus, because records of one kind and model within a cooldown are collapsed into one delivery,
``count``, ``first_id`` and ``last_id`` (``count`` is 1 and both ids are the record's own when
nothing was collapsed).

>>> key = decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
>>> signature("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}', key)
'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
>>> body = alert_body({"model": "churn", "kind": "data_drift", "id": "w1:data_drift", "ts": 0.0}, 3, "w0:data_drift", "w1:data_drift")
>>> json.loads(body)["type"], json.loads(body)["timestamp"], json.loads(body)["count"]
('data_drift', '1970-01-01T00:00:00Z', 3)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import datetime, timezone
from typing import Any

from .config import decode_secret  # noqa: F401  (re-exported for receivers' tests and the doctest)


def delivery_id(*parts: str) -> str:
    """A stable ``webhook-id``: the same for the same endpoint and record (or collapsed batch).

    >>> delivery_id("ops", "w1:data_drift") == delivery_id("ops", "w1:data_drift") != delivery_id("dev", "w1:data_drift")
    True
    """
    digest = hashlib.sha256("\0".join(parts).encode()).digest()
    return "msg_" + base64.b32encode(digest[:20]).decode().rstrip("=").lower()


def signature(msg_id: str, timestamp: int, body: bytes, key: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(msg_id: str, body: bytes, key: bytes | None, now: float | None = None) -> dict[str, str]:
    """The request's headers; signed when there is a key (``json`` endpoints)."""
    out = {"content-type": "application/json", "user-agent": "Driftline-Webhooks/1"}
    if key is None:
        return out
    timestamp = int(time.time() if now is None else now)
    out.update({"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
                "webhook-signature": signature(msg_id, timestamp, body, key)})
    return out


class SignatureError(ValueError):
    """A request whose Standard Webhooks signature does not verify."""


def verify(secret: str, request_headers: dict, body: bytes, tolerance: float = 300.0, now: float | None = None) -> dict:
    """A receiver's check of a signed request (what the ``standardwebhooks`` package does): the
    parsed body, or :class:`SignatureError`. Used by the demo's receiver.

    >>> secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    >>> sent = headers("msg_1", b'{"type": "test"}', decode_secret(secret), now=1e9)
    >>> verify(secret, sent, b'{"type": "test"}', now=1e9 + 5)
    {'type': 'test'}
    >>> verify(secret, sent, b'{"type": "forged"}', now=1e9 + 5)
    Traceback (most recent call last):
    ...
    stream.alerts.payloads.SignatureError: no matching v1 signature
    """
    got = {k.lower(): v for k, v in request_headers.items()}
    try:
        msg_id, timestamp = got["webhook-id"], int(got["webhook-timestamp"])
    except (KeyError, ValueError):
        raise SignatureError("missing or malformed webhook-id / webhook-timestamp") from None
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise SignatureError("timestamp outside the tolerance (a replayed request?)")
    expected = signature(msg_id, timestamp, body, decode_secret(secret)).encode()
    if not any(hmac.compare_digest(given.encode(), expected) for given in got.get("webhook-signature", "").split()):
        raise SignatureError("no matching v1 signature")
    return json.loads(body)


def iso(ts: Any) -> str:
    """The record's time in ISO 8601 (UTC); now when it has none a clock can show.

    >>> iso(0)
    '1970-01-01T00:00:00Z'
    >>> now = lambda text: abs(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() - time.time()) < 60
    >>> now(iso(1e300)), now(iso(None))  # beyond year 9999, or missing: now (two calls can differ by a millisecond)
    (True, True)
    """
    try:
        when = datetime.fromtimestamp(float(ts), tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):  # missing, not a number, beyond year 9999
        when = datetime.fromtimestamp(time.time(), tz=timezone.utc)
    return when.isoformat(timespec="milliseconds" if when.microsecond else "seconds").replace("+00:00", "Z")


def alert_body(record: dict, count: int, first_id: str, last_id: str) -> bytes:
    """The Standard Webhooks body of a delivery; ``record`` is the latest record it carries."""
    body = {"type": record.get("kind"), "timestamp": iso(record.get("ts")), "data": record,
            "count": count, "first_id": first_id, "last_id": last_id}
    return json.dumps(body, separators=(",", ":"), default=str).encode()


def slack_body(record: dict, count: int, first_id: str, last_id: str) -> bytes:
    """A Slack or Mattermost incoming-webhook message: one line of text.

    >>> json.loads(slack_body({"model": "churn", "kind": "feature_drift", "version": 3, "drifted_columns": ["age"],
    ...                        "n_drifted": 1, "n_columns": 9, "id": "w1:feature_drift"}, 1, "w1", "w1"))["text"]
    'Driftline: churn v3 feature_drift: 1 of 9 features drifted (age)'
    """
    return json.dumps({"text": describe(record, count)}).encode()


def _metric(value: float) -> str:
    """A metric with three decimals; an integer too large for a float (a record from outside) as
    +/-inf instead of an error.

    >>> _metric(0.81234), _metric(3), _metric(10 ** 400)
    ('0.812', '3.000', 'inf')
    """
    try:
        return f"{float(value):.3f}"
    except OverflowError:
        return "inf" if value > 0 else "-inf"


def describe(record: dict, count: int = 1) -> str:
    """One human line for a record (Slack text, logs, the demo)."""
    kind, model, version = record.get("kind"), record.get("model"), record.get("version")
    head = f"Driftline: {model} v{version} {kind}"
    if kind in ("data_drift", "feature_drift", "prediction_drift"):
        columns = record.get("drifted_columns")
        columns = [str(c) for c in columns] if isinstance(columns, list) else []
        what = "features" if kind != "prediction_drift" else "prediction columns"
        detail = f"{record.get('n_drifted')} of {record.get('n_columns')} {what} drifted ({', '.join(columns)})"
    elif kind == "concept_drift":
        metrics = record.get("metrics")
        metrics = metrics if isinstance(metrics, dict) else {}
        shown = ", ".join(f"{k} {_metric(v)}" for k, v in metrics.items() if isinstance(v, (int, float)))
        detail = f"the {record.get('detector')} detector fired at example {record.get('position')}" + (f" ({shown})" if shown else "")
    elif kind in ("deployed", "rolled_back", "challenger_discarded"):
        detail = f"version {record.get('from_version')} -> {record.get('to_version')}: {record.get('reason')}"
    elif kind == "challenger_registered":
        detail = f"challenger version {record.get('version')} ({record.get('spec')})"
    else:
        detail = str(record.get("id"))
    more = f" [{count} records in the cooldown]" if count > 1 else ""
    return f"{head}: {detail}{more}"


def probe_record(endpoint: str, now: float | None = None) -> dict:
    """The record of ``driftline alerts test``: kind ``test``, no model."""
    now = time.time() if now is None else now
    return {"model": None, "version": None, "kind": "test", "ts": now, "id": f"test:{endpoint}:{now:.6f}",
            "message": "a test alert from Driftline"}
