"""Drift state in Redis, next to the registry: each model's recent windows, reports and concept drifts.

Keys (under ``driftline:``, like the registry's)::

    model:NAME:drift:windows        ZSET  window id -> closing time (the most recent ``keep`` windows)
    model:NAME:drift:window:ID      HASH  record (JSON: bounds, version, baseline id, method config, the
                                          verdicts per column), summary (JSON: the merged window summary
                                          with its bounded row sample, to render reports from later)
    model:NAME:drift:reports        ZSET  window id -> rendering time (the most recent ``keep`` reports)
    model:NAME:drift:report:ID      HASH  html, json (zlib-compressed Evidently output), rendered_at
    model:NAME:drift:open           HASH  meta (JSON: partition, offsets, version, baseline id, opening time),
                                          summary (JSON): the checkpoint of the model's open window
    model:NAME:drift:concept        ZSET  concept-drift record id -> time (the most recent ``keep``)
    model:NAME:drift:concept:records HASH record id -> JSON record

One monitor owns a model's windows and one learner its concept drifts, so each key has one
writer; writes are idempotent (a record written again after a crash replaces itself). The
model's drift status is the latest window's verdicts and the latest concept drift.

Synchronous, like :class:`~stream.registry.Registry`: the CLI uses it directly, the worker from a
thread.
"""

from __future__ import annotations

import json
import time
import zlib

import redis

from stream.registry.redis_client import redis_client
from stream.registry.registry import _k
from stream.wire.drift import group_verdict

REPORT_FORMATS = ("html", "json")

# Compare-and-delete: the checkpoint goes only if it still belongs to the window that closed.
_DROP_OPEN = """
local meta = redis.call('HGET', KEYS[1], 'meta')
if meta and cjson.decode(meta)['window'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class DriftStore:
    def __init__(self, client: redis.Redis):
        self.redis = client
        self._drop_open = client.register_script(_DROP_OPEN)

    @classmethod
    def from_url(cls, url: str, timeout: float = 5.0) -> "DriftStore":
        return cls(redis_client(url, timeout))

    # Windows -------------------------------------------------------------------------------------
    def save_window(self, model: str, record: dict, summary_json: str, keep: int) -> None:
        """Store a closed window (its record and merged summary); keep the ``keep`` most recent."""
        window_id = record["id"]
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(_k("model", model, "drift", "window", window_id),
                  mapping={"record": json.dumps(record, default=str), "summary": summary_json})
        pipe.zadd(_k("model", model, "drift", "windows"), {window_id: record["closed_at"]})
        pipe.execute()
        self._trim(model, "windows", "window", keep)

    def window_ids(self, model: str, count: int | None = None) -> list[str]:
        """Window ids, newest first."""
        ids = self.redis.zrevrange(_k("model", model, "drift", "windows"), 0, -1 if count is None else count - 1)
        return [i.decode() for i in ids]

    def windows(self, model: str, count: int | None = None) -> list[dict]:
        """Window records, newest first."""
        ids = self.window_ids(model, count)
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for window_id in ids:
            pipe.hget(_k("model", model, "drift", "window", window_id), "record")
        return [json.loads(raw) for raw in pipe.execute() if raw is not None]

    def window(self, model: str, ref: str = "latest") -> tuple[dict, str] | None:
        """(record, summary JSON) of the window ``ref`` (an id, or ``latest``); None if there is none."""
        if ref == "latest":
            ids = self.window_ids(model, 1)
            if not ids:
                return None
            ref = ids[0]
        record, summary = self.redis.hmget(_k("model", model, "drift", "window", ref), ["record", "summary"])
        if record is None or summary is None:
            return None
        return json.loads(record), summary.decode()

    # The open window's checkpoint --------------------------------------------------------------
    def save_open(self, model: str, meta: dict, summary_json: str) -> None:
        self.redis.hset(_k("model", model, "drift", "open"), mapping={"meta": json.dumps(meta, default=str), "summary": summary_json})

    def load_open(self, model: str) -> tuple[dict, str] | None:
        meta, summary = self.redis.hmget(_k("model", model, "drift", "open"), ["meta", "summary"])
        if meta is None or summary is None:
            return None
        return json.loads(meta), summary.decode()

    def drop_open(self, model: str, window_key: str) -> bool:
        """Delete the checkpoint if it is the one of window ``window_key`` (not of a newer window)."""
        return bool(self._drop_open(keys=[_k("model", model, "drift", "open")], args=[window_key]))

    # Reports -------------------------------------------------------------------------------------
    def save_report(self, model: str, window_id: str, reports: dict[str, bytes], keep: int) -> None:
        """Store a window's rendered reports (``{"html": ..., "json": ...}``); keep the ``keep`` most recent."""
        if keep < 1:
            return
        now = time.time()
        fields = {fmt: zlib.compress(data, 6) for fmt, data in reports.items() if fmt in REPORT_FORMATS}
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(_k("model", model, "drift", "report", window_id), mapping=dict(fields, rendered_at=now))
        pipe.zadd(_k("model", model, "drift", "reports"), {window_id: now})
        pipe.execute()
        self._trim(model, "reports", "report", keep)

    def report(self, model: str, window_id: str, fmt: str = "html") -> bytes | None:
        if fmt not in REPORT_FORMATS:
            raise ValueError(f"fmt must be one of {REPORT_FORMATS}, got {fmt!r}")
        data = self.redis.hget(_k("model", model, "drift", "report", window_id), fmt)
        return zlib.decompress(data) if data is not None else None

    def reports(self, model: str) -> list[dict]:
        """Stored reports, newest first: window id and rendering time."""
        entries = self.redis.zrevrange(_k("model", model, "drift", "reports"), 0, -1, withscores=True)
        return [{"window": window_id.decode(), "rendered_at": rendered_at} for window_id, rendered_at in entries]

    # Concept drift -------------------------------------------------------------------------------
    def save_concept(self, model: str, records: list[dict], keep: int) -> None:
        if not records:
            return
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(_k("model", model, "drift", "concept", "records"),
                  mapping={r["id"]: json.dumps(r, default=str) for r in records})
        pipe.zadd(_k("model", model, "drift", "concept"), {r["id"]: r["ts"] for r in records})
        pipe.execute()
        stale = self.redis.zrange(_k("model", model, "drift", "concept"), 0, -keep - 1)
        if stale:
            pipe = self.redis.pipeline(transaction=True)
            pipe.zrem(_k("model", model, "drift", "concept"), *stale)
            pipe.hdel(_k("model", model, "drift", "concept", "records"), *stale)
            pipe.execute()

    def concept_drifts(self, model: str, count: int | None = None) -> list[dict]:
        """Concept-drift records, newest first."""
        ids = self.redis.zrevrange(_k("model", model, "drift", "concept"), 0, -1 if count is None else count - 1)
        if not ids:
            return []
        raw = self.redis.hmget(_k("model", model, "drift", "concept", "records"), ids)
        return [json.loads(r) for r in raw if r is not None]

    # Status --------------------------------------------------------------------------------------
    def status(self, model: str, windows: int = 20) -> dict:
        """What ``GET /api/drift/NAME`` shows: the current status, recent windows, reports, concept drifts."""
        recent = self.windows(model, windows)
        concept = self.concept_drifts(model, windows)
        stored = self.reports(model)
        with_report = {r["window"] for r in stored}
        latest = recent[0] if recent else None
        return {
            "model": model,
            "status": {
                "data_drift": latest["verdicts"]["features"]["drifted"] if latest else None,
                # Some features drifted, fewer than the drift share (the feature_drift record).
                "feature_drift": (not latest["verdicts"]["features"]["drifted"]
                                  and any(c["drifted"] for c in latest["verdicts"]["features"]["columns"].values()))
                if latest else None,
                "prediction_drift": (latest["verdicts"]["predictions"] or {}).get("drifted") if latest else None,
                "last_window": window_brief(model, latest, with_report) if latest else None,
                "last_concept_drift": concept[0] if concept else None,
            },
            "windows": [window_brief(model, w, with_report) for w in recent],
            "reports": [dict(r, html=report_path(model, r["window"]), json=report_path(model, r["window"], "json"))
                        for r in stored],
            "concept_drifts": concept,
        }

    def _trim(self, model: str, index: str, item: str, keep: int) -> None:
        stale = self.redis.zrange(_k("model", model, "drift", index), 0, -keep - 1)
        if not stale:
            return
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrem(_k("model", model, "drift", index), *stale)
        pipe.delete(*[_k("model", model, "drift", item, s.decode()) for s in stale])
        pipe.execute()


def report_path(model: str, window_id: str, fmt: str = "html") -> str:
    """Where the worker's web server serves a window's report."""
    return f"/api/drift/{model}/reports/{window_id}" + ("?format=json" if fmt == "json" else "")


def window_brief(model: str, record: dict, with_report: set[str] = frozenset()) -> dict:
    """A window in lists: bounds, version, the verdicts in short, and its report's path if stored."""
    verdicts = record["verdicts"]
    return {
        "id": record["id"],
        "version": record["version"],
        "baseline_id": record["baseline_id"],
        "start": record["start"],
        "end": record["end"],
        "n_rows": record["n_rows"],
        "closed_at": record["closed_at"],
        "data_drift": group_verdict(verdicts["features"]),
        "prediction_drift": group_verdict(verdicts["predictions"]),
        "report": report_path(model, record["id"]) if record["id"] in with_report else None,
    }
