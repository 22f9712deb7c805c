"""What the dashboard at ``/`` shows, as one JSON document (``GET /api/dashboard``).

The page polls it every two seconds rather than holding a Server-Sent Events stream: one request
answers everything, any worker can answer it (the state is in Redis, plus the answering worker's
own throughput and latency), it passes through any proxy, and a page left open costs nothing
between polls.
"""

from __future__ import annotations

from typing import Any

from stream.wire.drift import CONCEPT_DRIFT

#: Drift windows shown in the heatmap, newest last.
HEATMAP_WINDOWS = 20
#: Seconds of learning history shown.
HISTORY_SECONDS = 3600.0


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile.

    >>> percentile([3.0, 1.0, 2.0, 4.0], 0.5), percentile([], 0.5)
    (2.0, None)
    """
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))]


def worker_state(serving: Any, started: float, now: float) -> dict:
    latencies = list(serving.latencies)
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    return {
        "throughput": round(serving.throughput(10.0, now), 1),
        "latency_ms": {"p50": None if p50 is None else round(p50 * 1000, 1), "p99": None if p99 is None else round(p99 * 1000, 1),
                       "n": len(latencies)},
        "series": throughput_series(list(serving.batches), now),
        "scored": serving.scorer.scored,
        "deadletters": dict(serving.scorer.deadlettered),
        "uptime_seconds": round(now - started, 1),
    }


def throughput_series(batches: list[tuple[float, int]], now: float, seconds: float = 300.0, step: float = 5.0) -> list[list[float]]:
    """Events per second in ``step``-second buckets over the last ``seconds`` (oldest first).

    >>> throughput_series([(95.0, 50), (99.0, 50)], now=100.0, seconds=10.0, step=5.0)
    [[95.0, 0.0], [100.0, 20.0]]
    """
    buckets = int(seconds // step)
    counts = [0] * buckets
    start = now - buckets * step
    for ts, n in batches:
        index = int((ts - start) // step)
        if 0 <= index < buckets:
            counts[index] += n
    return [[round(start + (i + 1) * step, 3), round(c / step, 1)] for i, c in enumerate(counts)]


def heatmap(windows: list[dict], model: str) -> dict:
    """Per-feature drift scores of recent windows (oldest first) against each column's threshold.

    ``ratio`` is score / threshold for distances and threshold / score for p-values, so that above
    1 is drift either way; each window links to its Evidently report.
    """
    windows = list(reversed(windows[:HEATMAP_WINDOWS]))
    columns = sorted({c for w in windows for c in w["verdicts"]["features"]["columns"]})
    cells = {"score": [], "threshold": [], "ratio": [], "drifted": []}
    for column in columns:
        rows = {k: [] for k in cells}
        for window in windows:
            verdict = window["verdicts"]["features"]["columns"].get(column)
            if verdict is None:
                for k in rows:
                    rows[k].append(None)
                continue
            score, threshold = verdict.get("score"), verdict["threshold"]
            rows["score"].append(score)
            rows["threshold"].append(threshold)
            rows["drifted"].append(bool(verdict["drifted"]))
            rows["ratio"].append(_ratio(verdict["method"], score, threshold))
        for k in cells:
            cells[k].append(rows[k])
    return {"columns": columns, **cells,
            "windows": [{"id": w["id"], "end": w["end"], "closed_at": w["closed_at"], "n_rows": w["n_rows"],
                         "report": f"/api/drift/{model}/reports/{w['id']}"} for w in windows]}


def _ratio(method: str, score: float | None, threshold: float) -> float | None:
    if score is None:
        return None
    p_value = method in ("ks", "chisquare", "z")  # drift when the p-value is below the threshold
    if p_value:
        return round(threshold / max(score, 1e-12), 4)
    return round(score / threshold, 4) if threshold > 0 else None


def events(windows: list[dict], concept: list[dict], deploy_records: list[dict]) -> list[dict]:
    """Drift, retrain and deployment events on one time axis (oldest first)."""
    out = []
    for window in windows:
        for group, kind in (("features", "data_drift"), ("predictions", "prediction_drift")):
            verdict = window["verdicts"].get(group) or {}
            if verdict.get("drifted"):
                out.append({"ts": window["closed_at"], "kind": kind, "id": f"{window['id']}:{kind}",
                            "detail": ", ".join(n for n, c in verdict["columns"].items() if c["drifted"])})
            elif group == "features" and verdict.get("n_drifted"):
                out.append({"ts": window["closed_at"], "kind": "feature_drift", "id": f"{window['id']}:feature_drift",
                            "detail": ", ".join(n for n, c in verdict["columns"].items() if c["drifted"])})
    for record in concept:
        out.append({"ts": record["ts"], "kind": CONCEPT_DRIFT, "id": record["id"], "detail": f"{record.get('detector')} at example {record.get('position')}"})
    for record in deploy_records:
        detail = record.get("reason") or ""
        if record["kind"] in ("deployed", "rolled_back", "challenger_discarded"):
            detail = f"v{record.get('from_version')} -> v{record.get('to_version')}: {detail}"
        elif record["kind"] == "challenger_registered":
            detail = f"v{record.get('version')} ({record.get('spec')})"
        out.append({"ts": record["ts"], "kind": record["kind"], "id": record["id"], "detail": detail})
    return sorted(out, key=lambda e: e["ts"])


def model_state(name: str, registry: Any, drift_store: Any, deploy_store: Any, described: dict, now: float) -> dict:
    """One model's part of the dashboard (blocking: Redis)."""
    aliases = registry.aliases(name)
    info = registry.snapshot_info(name, "champion") or {}
    task = described.get("task")
    metric = "mae" if task == "regression" else "accuracy"
    history = [{"ts": p["ts"], "alias": p["alias"], "version": p["version"], "value": p["recent"].get(metric)}
               for p in registry.learning_history(name, since=now - HISTORY_SECONDS)]
    windows = drift_store.windows(name, HEATMAP_WINDOWS)
    concept = drift_store.concept_drifts(name, 50)
    records = deploy_store.records(name) if deploy_store is not None else []
    return {
        "name": name, "task": task, "metric": metric,
        "champion": aliases.get("champion"), "challenger": aliases.get("challenger"),
        "loaded": {"version": described.get("loaded_version"), "snapshot": described.get("loaded_snapshot"),
                   "challenger": described.get("challenger")},
        "snapshot": {"revision": info.get("revision"), "version": info.get("version"), "n_learned": info.get("n_learned"),
                     "age_seconds": round(now - info["written_at"], 1) if info.get("written_at") else None,
                     "recent": (info.get("metrics") or {}).get("recent")},
        "history": history,
        "events": events(windows, concept, records),
        "deployment_history": registry.history(name)[-20:],
        "heatmap": heatmap(windows, name),
    }
