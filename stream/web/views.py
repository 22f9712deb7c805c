"""The worker's HTTP endpoints: ``GET /health``, ``POST /predict``, the models and drift APIs.

``GET /api/drift/NAME`` shows a model's drift status (the latest window's data and prediction
drift verdicts, the latest concept drift), its recent windows, concept drifts and stored reports;
``GET /api/drift/NAME/windows/ID`` (or ``latest``) one window's verdicts per column;
``GET /api/drift/NAME/reports/ID`` its Evidently report (HTML, or JSON with ``?format=json``),
rendered on demand when it is not stored.

``POST /predict`` accepts one event object (answered with one prediction, or HTTP 422 and the
dead-letter reason) or a JSON list of events (answered with ``{"results": [...]}``, one entry per
event, each a prediction or ``{"id", "error": {"reason", "detail"}}``). It validates and predicts
exactly as the stream does.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from pathlib import Path
from typing import Any

import faust
from aiohttp import web as aiohttp_web
from faust.web import Request, Response
from faust.web import View as FaustView

from stream.alerts.agents import Alerts
from stream.alerts.store import STATES as ALERT_STATES
from stream.deployment.agents import Deployment
from stream.errors import DriftlineError
from stream.learning.agents import Learning
from stream.metrics import METRICS, PROMETHEUS_CONTENT_TYPE
from stream.model.decoding import decode_json
from stream.model.schema import InvalidInput
from stream.monitoring.agents import Monitoring
from stream.monitoring.store import REPORT_FORMATS, report_path
from stream.registry import Registry
from stream.serving.agents import Serving
from stream.settings import Settings
from stream.training.rebaseline import replace_baseline, window_rows
from stream.transport.isolation import is_infrastructure
from stream.transport.producer import kafka_producer, send_keyed
from stream.transport.topics import TopicNames
from stream.wire.events import label_from_object

from . import dashboard
from .openapi import openapi

log = logging.getLogger(__name__)

MAX_BATCH = 10_000


class View(FaustView):
    """Every endpoint's answer to what it did not foresee: bad input is the client's 400 with its
    reason, Redis or the broker away is a 503, and only a bug is a 500, with JSON and a log line
    (no input may take a worker's endpoint down, nor answer with a traceback)."""

    async def dispatch(self, request: Request) -> Response:
        try:
            return await super().dispatch(request)
        except aiohttp_web.HTTPException as exc:  # aiohttp's own answers (body too large, ...)
            return self.json({"error": {"reason": _http_reason(exc.status), "detail": exc.reason}}, status=exc.status)
        except InvalidInput as error:
            return self.json({"error": {"reason": error.reason, "detail": error.detail}}, status=400)
        except Exception as exc:
            if is_infrastructure(exc):
                return self.json({"error": {"reason": "unavailable", "detail": f"{type(exc).__name__}: {exc}"}}, status=503)
            log.exception("%s %s failed", request.method, request.path)
            return self.json({"error": {"reason": "internal_error", "detail": f"{type(exc).__name__}: {exc}"}}, status=500)


@aiohttp_web.middleware
async def json_errors(request: aiohttp_web.Request, handler: Any) -> aiohttp_web.StreamResponse:
    """aiohttp's own error answers outside the views (a path no endpoint has: 404; a method an
    endpoint does not take: 405) as the documented ``{"error": {"reason", "detail"}}``, not text."""
    try:
        return await handler(request)
    except aiohttp_web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return aiohttp_web.json_response({"error": {"reason": _http_reason(exc.status), "detail": exc.reason}},
                                         status=exc.status, headers=headers)


def _http_reason(status: int) -> str:
    return {413: "oversized", 404: "not_found", 405: "method_not_allowed"}.get(status, "bad_request")


def install(app: faust.App, settings: Settings, *, serving: Serving, learning: Learning, monitoring: Monitoring,
            deployment: Deployment | None = None, alerts: Alerts | None = None) -> None:
    """Register the endpoints on ``app``; they read each stage's state through what it hands in."""
    topics = TopicNames.from_settings(settings)
    registry_holder: dict[str, Registry] = {}
    started = time.time()

    def registry() -> Registry:
        if "r" not in registry_holder:
            registry_holder["r"] = Registry.from_url(settings.redis_url, timeout=1.0)
        return registry_holder["r"]

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            broker = await _check(_broker_ok(app))
            redis_state = await _check(asyncio.to_thread(registry().ping))
            cache, pending, monitor = serving.cache, learning.pending, monitoring.monitor
            # "ok" also needs the score path to be remembering predictions again: the pending store
            # stops after a failure until its own probe answers, a moment after Redis returns.
            remembering = not pending.down
            body = {
                "status": "ok" if broker["ok"] and redis_state["ok"] and remembering else "degraded",
                "broker": broker,
                "redis": redis_state,
                "registry_refresh": {"ok": cache.redis_ok, "error": cache.last_error, "refreshes": cache.refreshes,
                                     "listening": cache.listening, "snapshots_pushed": cache.pushed},
                "models": cache.describe(),
                "assigned_partitions": sorted(f"{tp.topic}:{tp.partition}" for tp in _assignment(app)),
                "delivery": _delivery(app),
                "consumer": _consumer(app),
                "learners": sorted(f"{name}/{alias}" for name, alias in learning.learners.learners),
                "training_offsets_missed": learning.learners.offsets_missed,
                "pending": {"remembering": remembering, "not_remembered_here": pending.not_remembered,
                            "open": pending.open_entries, "labels_replayed_here": learning.joiner.replayed},
                "scored": serving.scorer.scored,
                "deadlettered": dict(serving.scorer.deadlettered),
                "agents": _agents(serving, learning, monitoring),
                "monitoring": {
                    "enabled": monitor is not None,
                    "score_path": monitoring.summarizer.describe(),
                    "monitor": monitor.describe() if monitor is not None else None,
                    "concept_drifts_unsent": len(learning.learners.drift_events),
                    "concept_drifts_not_in_redis": len(learning.concept_unstored),
                    "reports": monitoring.renderer.describe(),
                },
                "deployment": _deployment(deployment),
                "alerts": alerts.describe() if alerts is not None else None,
                "uptime_seconds": round(time.time() - started, 1),
            }
            return self.json(body, status=200 if body["status"] == "ok" else 503)

    @app.page("/api/models")
    class Models(View):
        async def get(self, request: Request) -> Response:
            names = await asyncio.to_thread(registry().models)
            return self.json({"models": [await asyncio.to_thread(registry().summary, n) for n in names]})

    @app.page("/api/models/{name}")
    class Model(View):
        async def get(self, request: Request, name: str) -> Response:
            if name not in await asyncio.to_thread(registry().models):
                return self.json(_unknown_model(name), status=404)
            return self.json(await asyncio.to_thread(registry().show, name))

    @app.page("/api/models/{name}/deployment")
    class ModelDeployment(View):
        async def get(self, request: Request, name: str) -> Response:
            if name not in await asyncio.to_thread(registry().models):
                return self.json(_unknown_model(name), status=404)
            store = deployment.store
            body = {"name": name, "policy": deployment.policy.mode,
                    "aliases": await asyncio.to_thread(registry().aliases, name),
                    "state": await asyncio.to_thread(store.state, name),
                    "records": await asyncio.to_thread(store.records, name),
                    "triggers": await asyncio.to_thread(store.outcomes, name),
                    "history": await asyncio.to_thread(registry().history, name)}
            return self.json(body)

    def command_view(action: str):
        class Command(View):
            async def post(self, request: Request, name: str) -> Response:
                refused = _refuse(request, settings.api_token)
                if refused is not None:
                    return self.json(refused[1], status=refused[0])
                raw = await request.read()
                body = decode_json(raw) if raw.strip() else {}
                if not isinstance(body, dict):
                    raise InvalidInput("not_an_object", "the request body must be a JSON object")
                version = body.get("version")
                if action == "promote" and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
                    raise InvalidInput("invalid_field", "promote needs {\"version\": N}, a version number")
                reason = body.get("reason", "")
                if not isinstance(reason, str) or len(reason) > 500:
                    raise InvalidInput("invalid_field", "reason must be a string of at most 500 characters")
                wait = _wait_seconds(request.query.get("wait", "10"))
                if name not in await asyncio.to_thread(registry().models):
                    return self.json(_unknown_model(name), status=404)
                store = deployment.store
                command_id = await asyncio.to_thread(store.submit, name, action, "api", version, reason)
                deadline = time.monotonic() + wait
                result = None
                while result is None and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                    result = await asyncio.to_thread(store.result, command_id)
                if result is None:
                    return self.json({"command": command_id, "status": "queued",
                                      "detail": f"not carried out within {wait:g}s: the worker holding {name}'s learners "
                                                "takes it when it can (GET /api/models/NAME/deployment)"}, status=202)
                if not result["ok"]:
                    return self.json({"command": command_id, "error": {"reason": "refused", "detail": result["detail"]}}, status=409)
                return self.json(dict(result, command=command_id, status="done"))

        Command.__name__ = f"Command_{action}"
        return Command

    for action in ("promote", "rollback", "retrain"):
        app.page(f"/api/models/{{name}}/{action}")(command_view(action))

    @app.page("/api/models/{name}/baseline")
    class ReplaceBaseline(View):
        async def post(self, request: Request, name: str) -> Response:
            refused = _refuse(request, settings.api_token)
            if refused is not None:
                return self.json(refused[1], status=refused[0])
            body = decode_json(await request.read())
            if not isinstance(body, dict) or ("rows" in body) == ("window" in body):
                raise InvalidInput("invalid_field", 'give {"rows": [feature objects]} or {"window": "latest" or a window id}')
            reason = body.get("reason", "")
            if not isinstance(reason, str) or len(reason) > 500:
                raise InvalidInput("invalid_field", "reason must be a string of at most 500 characters")
            if name not in await asyncio.to_thread(registry().models):
                return self.json(_unknown_model(name), status=404)
            if "rows" in body:
                rows = body["rows"]
                if not isinstance(rows, list) or not rows or len(rows) > MAX_BASELINE_ROWS or not all(isinstance(r, dict) for r in rows):
                    raise InvalidInput("invalid_field", f"rows must be a list of 1 to {MAX_BASELINE_ROWS:,} feature objects")
                source = "api rows"
            else:
                if not isinstance(body["window"], str) or not body["window"]:
                    raise InvalidInput("invalid_field", "window must be a window id or 'latest'")
                rows, source = await asyncio.to_thread(_window_rows, monitoring, serving, name, body["window"])
                if rows is None:
                    return self.json(_no_window(name, body["window"]), status=404)
            try:
                done = await asyncio.to_thread(
                    replace_baseline, registry(), name, rows, settings.signing_key_bytes(), settings.allow_unsigned,
                    source=source, reason=reason or f"baseline replaced over HTTP from {source}")
            except DriftlineError as error:
                return self.json({"error": {"reason": "refused", "detail": str(error)}}, status=409)
            return self.json(done)

    @app.page("/api/dashboard")
    class DashboardState(View):
        async def get(self, request: Request) -> Response:
            now = time.time()
            described = serving.cache.describe()
            names = await asyncio.to_thread(registry().models)
            store = deployment.store if deployment is not None else None
            models = [await asyncio.to_thread(dashboard.model_state, n, registry(), monitoring.store, store, described.get(n, {}), now)
                      for n in sorted(names)]
            alerts_part = None
            if alerts is not None:
                alerts_part = {"deliveries": await alerts.store.list(limit=20),
                               "endpoints": [e.describe() for e in alerts.endpoints.values()]}
            return self.json({"ts": now, "worker": dashboard.worker_state(serving, started, now), "models": models,
                              "alerts": alerts_part, "token_configured": bool(settings.api_token),
                              "policy": deployment.policy.mode if deployment is not None else None})

    document = openapi()

    @app.page("/api/openapi.json")
    class OpenAPI(View):
        async def get(self, request: Request) -> Response:
            return self.json(document)

    @app.page("/")
    class Page(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(DASHBOARD_HTML.read_bytes(), content_type="text/html")

    @app.page("/static/plotly.min.js")
    class Plotly(View):
        async def get(self, request: Request) -> Response:
            path = _plotly_path()
            if path is None:
                return self.json({"error": {"reason": "not_found", "detail": "plotly is not installed"}}, status=404)
            return self.bytes(path.read_bytes(), content_type="application/javascript",
                              headers={"Cache-Control": "public, max-age=86400"})

    METRICS.state.watch("models", serving.cache.describe)

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            try:  # the group's pending predictions (Redis); the rest is this worker's own
                METRICS.state.pending = await asyncio.wait_for(learning.pending.stats(), 2.0)
            except Exception as exc:
                METRICS.state.pending = {}
                log.debug("metrics without the pending store's counts: %s", exc)
            return self.bytes(METRICS.render(), content_type=PROMETHEUS_CONTENT_TYPE)

    @app.page("/api/alerts")
    class AlertLog(View):
        async def get(self, request: Request) -> Response:
            query = request.query  # checked even with no alerts file: the same request, the same answer
            state = query.get("state") or None
            if state is not None and state not in ALERT_STATES:
                raise InvalidInput("invalid_field", f"state must be one of {', '.join(ALERT_STATES)}")
            limit = _limit(query.get("limit", "100"))
            if alerts is None:
                return self.json({"enabled": False, "endpoints": [], "deliveries": [], "attempts": [],
                                  "detail": "no alerts file (DRIFTLINE_ALERTS_FILE)"})
            endpoint, model = query.get("endpoint") or None, query.get("model") or None
            disabled = await alerts.store.disabled()
            endpoints = [dict(e.describe(), disabled=disabled.get(e.name), queued=await alerts.store.queued(e.name))
                         for e in alerts.endpoints.values()]
            return self.json({
                "enabled": True, "config_error": alerts.file.error, "endpoints": endpoints,
                "deliveries": await alerts.store.list(endpoint=endpoint, model=model, state=state, limit=limit),
                "attempts": await alerts.store.attempts(endpoint=endpoint, model=model, limit=limit),
            })

    @app.page("/api/drift/{name}")
    class Drift(View):
        async def get(self, request: Request, name: str) -> Response:
            if name not in await asyncio.to_thread(registry().models):
                return self.json(_unknown_model(name), status=404)
            body = await asyncio.to_thread(monitoring.store.status, name)
            body["champion"] = (await asyncio.to_thread(registry().aliases, name)).get("champion")
            body["monitoring"] = monitoring.monitor is not None
            return self.json(body)

    @app.page("/api/drift/{name}/windows/{window}")
    class DriftWindow(View):
        async def get(self, request: Request, name: str, window: str) -> Response:
            found = await asyncio.to_thread(monitoring.store.window, name, window)
            if found is None:
                return self.json(_no_window(name, window), status=404)
            record, _ = found
            return self.json(dict(record, report=report_path(name, record["id"])))

    @app.page("/api/drift/{name}/reports/{window}")
    class DriftReport(View):
        async def get(self, request: Request, name: str, window: str) -> Response:
            fmt = request.query.get("format", "html")
            if fmt not in REPORT_FORMATS:
                return self.json({"error": {"reason": "invalid_field", "detail": f"format must be one of {', '.join(REPORT_FORMATS)}"}},
                                 status=400)
            try:
                data = await monitoring.renderer.get(name, window, fmt)
            except Exception as exc:  # e.g. the window's baseline is gone from the registry
                if is_infrastructure(exc):
                    raise
                return self.json({"error": {"reason": "report_failed", "detail": f"{type(exc).__name__}: {exc}"}}, status=409)
            if data is None:
                return self.json(_no_window(name, window), status=404)
            content_type = "text/html" if fmt == "html" else "application/json"
            return self.bytes(data, content_type=content_type)

    @app.page("/predict")
    class Predict(View):
        async def post(self, request: Request) -> Response:
            raw = await request.read()
            body = decode_json(raw)  # InvalidInput: 400 with the reason
            many = isinstance(body, list)
            bodies = body if many else [body]
            if len(bodies) > MAX_BATCH:
                return self.json({"error": {"reason": "too_many", "detail": f"at most {MAX_BATCH} events per request"}}, status=413)
            if any(isinstance(item, dict) and "label" in item for item in bodies):
                # An event's label teaches the served model, as POST /labels does: the same token.
                refused = _refuse(request, settings.api_token, "an event with a 'label' teaches the served model, so it needs "
                                                                 "'Authorization: Bearer TOKEN' (or send the events without labels)")
                if refused is not None:
                    return self.json(refused[1], status=refused[0])
            await _refresh_for(serving, bodies)
            # An event without an id gets one (returned), so that its label can follow (POST /labels).
            answered = serving.scorer.score_requests(bodies, assign_ids=True, body_bytes=len(raw))
            await _learn_from_http(app, topics, learning, answered)
            if many:
                return self.json({"results": answered.results})
            [result] = answered.results
            return self.json(result, status=422 if "error" in result else 200)

    @app.page("/labels")
    class Labels(View):
        async def post(self, request: Request) -> Response:
            refused = _refuse(request, settings.api_token)  # labels change the served model
            if refused is not None:
                return self.json(refused[1], status=refused[0])
            body = decode_json(await request.read())
            many = isinstance(body, list)
            bodies = body if many else [body]
            if len(bodies) > MAX_BATCH:
                return self.json({"error": {"reason": "too_many", "detail": f"at most {MAX_BATCH} labels per request"}}, status=413)
            results, records = [], []
            for item in bodies:
                try:
                    label = label_from_object(item)
                    if label.model and learning.joiner.label_check is not None:  # refused now if its model cannot take it
                        learning.joiner.label_check(label.model, label.label)
                except InvalidInput as error:
                    results.append(_label_error(item, error))
                    continue
                record = {"id": label.id, "label": label.label, **({"model": label.model} if label.model else {})}
                records.append((label.id.encode(), json.dumps(record, separators=(",", ":")).encode()))
                results.append({"id": label.id, "status": "accepted"})
            await send_keyed(kafka_producer(app), topics.labels, records)
            if many:
                return self.json({"accepted": len(records), "results": results}, status=202)
            [result] = results
            return self.json(result, status=422 if "error" in result else 202)


MAX_BASELINE_ROWS = 100_000
DASHBOARD_HTML = Path(__file__).parent / "static" / "dashboard.html"


def _plotly_path() -> Path | None:
    """plotly.js as the ``plotly`` wheel (installed with Evidently) ships it: no CDN."""
    try:
        import plotly
    except ImportError:
        return None
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return path if path.exists() else None


def _window_rows(monitoring: Monitoring, serving: Serving, name: str, ref: str) -> tuple[list[dict] | None, str]:
    found = monitoring.store.window(name, ref)
    if found is None:
        return None, ""
    record, summary_json = found
    entry = serving.cache.baselines.get(name)
    if entry is None or entry.baseline.id != record["baseline_id"]:
        raise InvalidInput("invalid_field", f"window {record['id']} was judged against another baseline than the champion's")
    return window_rows(summary_json, entry.baseline), f"drift window {record['id']}"


def _label_error(item: Any, error: InvalidInput) -> dict:
    label_id = item.get("id") if isinstance(item, dict) else None
    if not isinstance(label_id, (str, int)) or isinstance(label_id, bool):
        label_id = None
    return {"id": label_id, "error": {"reason": error.reason, "detail": error.detail}}


async def _learn_from_http(app: faust.App, topics: Any, learning: Learning, answered: Any) -> None:
    """What the stream does after scoring: remember predictions for their labels, send the
    examples of events that carried theirs."""
    if answered.scored:
        await learning.pending.remember(answered.scored)
    if answered.examples:
        await send_keyed(kafka_producer(app), topics.training, answered.examples)


def _refuse(request: Request, token: str, needs: str = "this endpoint needs 'Authorization: Bearer TOKEN'") -> tuple[int, dict] | None:
    """(status, body) when the request may not change anything; None when its bearer token is right.
    ``needs`` says what asked for the token."""
    if not token:
        return 403, {"error": {"reason": "no_token_configured",
                               "detail": f"{needs}; set DRIFTLINE_API_TOKEN on the worker to allow changes over HTTP"}}
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        return 401, {"error": {"reason": "unauthorized", "detail": needs}}
    return None


def _limit(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 10_000:
        raise InvalidInput("invalid_field", "limit must be a whole number from 1 to 10000")
    return int(raw)


def _wait_seconds(raw: str) -> float:
    try:
        wait = float(raw)
    except ValueError:
        raise InvalidInput("invalid_field", "wait must be a number of seconds") from None
    if not 0.0 <= wait <= 60.0:
        raise InvalidInput("invalid_field", "wait must be between 0 and 60 seconds")
    return wait


def _deployment(deployment: Deployment | None) -> dict | None:
    if deployment is None:
        return None
    return {"policy": deployment.policy.mode, "triggers_stored_here": deployment.triggers_stored,
            "decisions_here": deployment.controller.decisions, "retraining": sorted(deployment.controller.training),
            "errors": deployment.errors, "last_error": deployment.last_error, "model_errors": deployment.model_errors,
            # What a retrained challenger must keep up with (DRIFTLINE_RETRAIN_MAX_LEARN_SHARE).
            "label_rates": deployment.controller.learners.label_rates(), "triggers_agent": deployment.isolation.describe()}


def _agents(serving: Serving, learning: Learning, monitoring: Monitoring) -> dict:
    """Per agent: dead letters by reason, and batches that fell back to one message at a time."""
    monitor = monitoring.monitor
    agents = {
        "score": (serving.isolation, serving.scorer.deadlettered),
        "labels": (learning.isolation["labels"], learning.joiner.deadlettered),
        "learn": (learning.isolation["learn"], learning.learners.deadletters.deadlettered),
        "monitor": (monitoring.isolation, monitor.deadletters.deadlettered if monitor is not None else {}),
    }
    return {name: dict(isolation.describe(), deadlettered=dict(counts)) for name, (isolation, counts) in agents.items()}


def _unknown_model(name: str) -> dict:
    return {"error": {"reason": "unknown_model", "detail": f"no model named {name!r}"}}


def _no_window(name: str, window: str) -> dict:
    return {"error": {"reason": "unknown_window", "detail": f"model {name!r} has no stored drift window {window!r}"}}


async def _refresh_for(serving: Serving, bodies: list) -> None:
    names = (b.get("model") for b in bodies if isinstance(b, dict))
    missing = serving.scorer.missing_model_names(names)
    if missing:
        await serving.cache.ensure_loaded(missing)


def _delivery(app: faust.App) -> dict:
    """How the consumer handed messages to the agents (stream.transport.faust_app._Consumer)."""
    consumer = app.consumer
    return {"inline": getattr(consumer, "delivered_inline", 0), "waiting": getattr(consumer, "delivered_waiting", 0)}


def _consumer(app: faust.App) -> dict:
    """Where the consumer stands per partition, and what holds it back: partitions paused because
    their stream buffer filled (Faust's flow control), and whether flow is suspended (a rebalance).
    ``behind`` is the broker's high-water mark less the next offset to hand over."""
    consumer = app.consumer
    try:
        read, committed = dict(consumer._read_offset), dict(consumer._committed_offset)
        partitions = {}
        for tp in sorted(_assignment(app)):
            highwater = consumer.highwater(tp)
            next_offset = read[tp] + 1 if read.get(tp) is not None else committed.get(tp)
            partitions[f"{tp.topic}:{tp.partition}"] = {
                "read": read.get(tp), "committed": committed.get(tp), "highwater": highwater,
                "behind": highwater - next_offset if highwater is not None and next_offset is not None else None}
        fetch_wait = getattr(consumer, "fetch_wait", None)
        return {"flow_active": bool(consumer.flow_active),
                "fetch_wait": fetch_wait.describe() if fetch_wait is not None else None,
                "buffer_full": sorted(f"{tp.topic}:{tp.partition}" for tp in consumer._buffered_partitions),
                "paused": sorted(f"{tp.topic}:{tp.partition}" for tp in consumer._paused_partitions),
                "unacked": len(consumer._unacked_messages), "partitions": partitions}
    except Exception as exc:  # consumer not started yet
        return {"error": f"{type(exc).__name__}: {exc}"}


def _assignment(app: faust.App) -> set:
    try:
        return app.consumer.assignment()
    except Exception:  # consumer not started yet
        return set()


async def _broker_ok(app: faust.App) -> bool:
    await kafka_producer(app).client.fetch_all_metadata()  # a metadata round trip proves the broker answers
    return True


async def _check(awaitable, timeout: float = 2.0) -> dict:
    try:
        await asyncio.wait_for(awaitable, timeout)
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
