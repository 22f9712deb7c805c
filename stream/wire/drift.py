"""The drift-monitoring wire contract: ``monitoring`` summaries and ``drift-events`` records.

Standard library only. Field names are a public contract (docs/monitoring.md): extend, never
rename. Both topics are keyed by model name, so that one monitor (one partition owner) sees all
of a model's summaries, and consumers of ``drift-events`` see a model's records in order.

``monitoring``: one message per scored batch per model, ``{"model", "version", "snapshot", "ts",
"summary"}`` where ``summary`` is :meth:`monitors.Summary.to_dict` (counts on the baseline's
bins, moments, a small row sample, the events' first and last timestamps).

``drift-events``: ``{"model", "version", "kind", "ts", "id", ...}``. Delivery is at-least-once
(a worker that crashes may send a record again): ``id`` is the same on every copy, de-duplicate
by it.

>>> report = {"baseline_id": "b1", "n_rows": 5000, "start": 10.0, "end": 20.0,
...           "features": {"drifted": True, "share": 0.5, "drift_share": 0.5, "n_drifted": 1, "n_columns": 2, "skipped": [],
...                        "columns": {"x": {"column": "x", "kind": "number", "method": "wasserstein", "score": 0.31,
...                                          "threshold": 0.1, "drifted": True, "n_reference": 900, "n_current": 5000,
...                                          "missing_current": 0, "second_opinion": 0.4},
...                                    "c": {"column": "c", "kind": "string", "method": "jensenshannon", "score": 0.01,
...                                          "threshold": 0.1, "drifted": False, "n_reference": 900, "n_current": 5000,
...                                          "missing_current": 0, "second_opinion": float("nan")}}},
...           "predictions": None}
>>> [record] = window_records("churn", 3, "10-2-77", report, ts=30.0)
>>> record["kind"], record["id"], record["window"], record["drifted_columns"]
('data_drift', '10-2-77:data_drift', {'id': '10-2-77', 'start': 10.0, 'end': 20.0, 'n_rows': 5000, 'baseline_id': 'b1'}, ['x'])
>>> record["columns"]["c"]
{'kind': 'string', 'method': 'jensenshannon', 'score': 0.01, 'threshold': 0.1, 'verdict': 'no_drift', 'second_opinion': None, 'n_reference': 900, 'n_current': 5000, 'missing_current': 0}
>>> report["features"].update(drifted=False, drift_share=0.75)
>>> [(r["kind"], r["id"], r["drifted_columns"]) for r in window_records("churn", 3, "10-2-77", report, ts=30.0)]
[('feature_drift', '10-2-77:feature_drift', ['x'])]
>>> parse_monitoring_message(monitoring_message("churn", 3, None, '{"n_rows": 1}', 30.0))
{'model': 'churn', 'version': 3, 'snapshot': None, 'ts': 30.0, 'summary': {'n_rows': 1}}
"""

from __future__ import annotations

import json
import math
from typing import Any

from stream.model.schema import InvalidInput
from stream.wire.jsonbytes import loads

DATA_DRIFT, PREDICTION_DRIFT, CONCEPT_DRIFT = "data_drift", "prediction_drift", "concept_drift"
#: Some features drifted, fewer than the drift share: the column-level record beside ``data_drift``.
FEATURE_DRIFT = "feature_drift"
#: The group of a window's verdicts each kind of record reports, and the kind of record for a
#: group in which some columns drifted but not the group's share. Predictions have no column-level
#: kind: a model's prediction columns are at most two (the label and the positive class's
#: probability), so with the default share of one half any drifted column is prediction drift.
GROUPS = ((DATA_DRIFT, "features", FEATURE_DRIFT), (PREDICTION_DRIFT, "predictions", None))
WINDOW_KINDS = (DATA_DRIFT, FEATURE_DRIFT, PREDICTION_DRIFT)

_dumps = json.JSONEncoder(separators=(",", ":")).encode


def monitoring_message(model: str, version: Any, snapshot: int | None, summary_json: str, ts: float) -> bytes:
    """One ``monitoring`` value; ``summary_json`` is :meth:`monitors.Summary.to_json` (spliced in, not re-encoded)."""
    head = _dumps({"model": model, "version": version, "snapshot": snapshot, "ts": ts})
    return (head[:-1] + ',"summary":' + summary_json + "}").encode()


def parse_monitoring_message(raw: bytes | None) -> dict:
    """A ``monitoring`` value as a dict; :class:`InvalidInput` when it is not one."""
    body = loads(raw)
    if not isinstance(body, dict):
        raise InvalidInput("not_an_object", f"a monitoring summary must be a JSON object, got {type(body).__name__}")
    if not isinstance(body.get("model"), str) or not body["model"] or not isinstance(body.get("summary"), dict):
        raise InvalidInput("invalid_field", "not a monitoring summary: expected an object with 'model' and 'summary'")
    return body


def parse_drift_record(raw: bytes | None) -> dict:
    """A ``drift-events`` value as a dict with string ``model``, ``kind`` and ``id``;
    :class:`InvalidInput` when it is not one.

    >>> parse_drift_record(b'{"model": "churn", "kind": "data_drift", "id": "w1:data_drift"}')["kind"]
    'data_drift'
    """
    record = loads(raw)
    if not isinstance(record, dict) or not all(isinstance(record.get(k), str) for k in ("model", "kind", "id")):
        raise InvalidInput("invalid_field", "not a drift-events record: expected an object with 'model', 'kind' and 'id'")
    return record


def finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such scores are sent as null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def jsonable(value: Any) -> Any:
    """``value`` with every NaN or infinity (nested in dicts and lists) replaced by None.

    >>> jsonable({"a": [1.0, float("nan")], "b": {"c": float("inf")}})
    {'a': [1.0, None], 'b': {'c': None}}
    """
    if isinstance(value, float):
        return finite(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def column_record(column: dict) -> dict:
    """One column's verdict on the wire: method, score, threshold and verdict, plus context."""
    return {
        "kind": column["kind"],
        "method": column["method"],
        "score": finite(column["score"]),
        "threshold": column["threshold"],
        "verdict": "drift" if column["drifted"] else "no_drift",
        "second_opinion": finite(column.get("second_opinion")),
        "n_reference": column["n_reference"],
        "n_current": column["n_current"],
        "missing_current": column["missing_current"],
    }


def group_verdict(group: dict | None) -> dict | None:
    """The short form of a group's verdicts (for status lists): drifted, share, drifted columns."""
    if group is None:
        return None
    return {"drifted": group["drifted"], "share": group["share"], "drift_share": group["drift_share"],
            "drifted_columns": [name for name, c in group["columns"].items() if c["drifted"]]}


def window_records(model: str, version: Any, window_id: str, report: dict, ts: float, report_path: str | None = None) -> list[dict]:
    """The ``data_drift`` (or ``feature_drift``) and ``prediction_drift`` records of a closed
    window (none when nothing drifted).

    ``report`` is :meth:`monitors.DriftReport.to_dict`. ``feature_drift`` is the record of a
    window in which at least one feature drifted but fewer than the drift share, so that
    ``data_drift`` keeps Evidently's data-set rule and a strong shift in one feature is still heard.
    """
    records = []
    for group_kind, group_name, column_kind in GROUPS:
        group = report.get(group_name)
        if not group:
            continue
        if group["drifted"]:
            kind = group_kind
        elif column_kind and group["n_drifted"] > 0:
            kind = column_kind
        else:
            continue
        records.append({
            "model": model,
            "version": version,
            "kind": kind,
            "ts": ts,
            "id": f"{window_id}:{kind}",
            "window": {"id": window_id, "start": report["start"], "end": report["end"], "n_rows": report["n_rows"],
                       "baseline_id": report["baseline_id"]},
            "share": group["share"],
            "drift_share": group["drift_share"],
            "n_drifted": group["n_drifted"],
            "n_columns": group["n_columns"],
            "drifted_columns": [name for name, c in group["columns"].items() if c["drifted"]],
            "skipped": group["skipped"],
            "columns": {name: column_record(c) for name, c in group["columns"].items()},
            "report": report_path,
        })
    return records


def concept_record(model: str, version: Any, alias: str, detector: dict, position: int, *, event_id: str | None,
                   partition: int | None, offset: int | None, metrics: dict, ts: float,
                   change_position: int | None = None) -> dict:
    """One ``concept_drift`` record: the detector signalled at the ``position``-th error of this
    alias's version (0-based, in training-topic order); the errors most likely got worse from the
    ``change_position``-th on (estimated from the recent errors, at most ``position``)."""
    return {
        "model": model,
        "version": version,
        "kind": CONCEPT_DRIFT,
        "ts": ts,
        # The model's name too: records of every model share the topic, and consumers de-duplicate by id.
        "id": f"{model}:{version}:{alias}:{position}",
        "alias": alias,
        "detector": detector["detector"],
        "params": detector["params"],
        "position": position,
        "change_position": position if change_position is None else min(position, change_position),
        "n_drifts": detector["n_drifts"],
        "event_id": event_id,
        "training": {"partition": partition, "offset": offset},
        "metrics": metrics,
    }


#: The continuous-deployment loop's records on ``drift-events`` (README: continuous deployment).
RETRAIN_STARTED, CHALLENGER_REGISTERED = "retrain_started", "challenger_registered"
DEPLOYED, ROLLED_BACK, CHALLENGER_DISCARDED = "deployed", "rolled_back", "challenger_discarded"
DEPLOY_KINDS = (RETRAIN_STARTED, CHALLENGER_REGISTERED, DEPLOYED, ROLLED_BACK, CHALLENGER_DISCARDED)


def deploy_record(model: str, version: Any, kind: str, trigger: str, ts: float, **fields: Any) -> dict:
    """One record of the deployment loop. ``id`` is ``MODEL:TRIGGER:KIND``: the same on every copy,
    and one per trigger and kind (a crash and a replay send the same record again, never a second).

    >>> record = deploy_record("churn", 3, "deployed", "w9:data_drift", 50.0, from_version=3, to_version=4,
    ...                        reason="sequential test", test={"b": 40, "c": 10, "n": 900, "e_value": 1e4, "gain": 0.033})
    >>> record["id"], record["kind"], record["from_version"], record["test"]["b"]
    ('churn:w9:data_drift:deployed', 'deployed', 3, 40)
    """
    if kind not in DEPLOY_KINDS:
        raise ValueError(f"unknown deployment record kind {kind!r}")
    return {"model": model, "version": version, "kind": kind, "ts": ts, "id": f"{model}:{trigger}:{kind}",
            "trigger": trigger, **jsonable(fields)}


def encode(record: dict) -> bytes:
    return json.dumps(record, separators=(",", ":"), default=str).encode()
