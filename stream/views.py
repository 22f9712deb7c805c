"""The worker's HTTP endpoints: ``GET /health`` and ``POST /predict``.

``POST /predict`` accepts one event object (answered with one prediction, or HTTP 422 and the
dead-letter reason) or a JSON list of events (answered with ``{"results": [...]}``, one entry per
event, each a prediction or ``{"id", "error": {"reason", "detail"}}``). It validates and predicts
exactly as the stream does.
"""

from __future__ import annotations

import asyncio
import json
import time

import faust
from faust.web import Request, Response, View

from .registry import Registry

MAX_BATCH = 10_000


def register_views(app: faust.App, runtime) -> None:
    registry_holder: dict[str, Registry] = {}
    started = time.time()

    def registry() -> Registry:
        if "r" not in registry_holder:
            registry_holder["r"] = Registry.from_url(runtime.settings.redis_url, timeout=1.0)
        return registry_holder["r"]

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            broker = await _check(_broker_ok(app))
            redis_state = await _check(asyncio.to_thread(registry().ping))
            cache = runtime.cache
            body = {
                "status": "ok" if broker["ok"] and redis_state["ok"] else "degraded",
                "broker": broker,
                "redis": redis_state,
                "registry_refresh": {"ok": cache.redis_ok, "error": cache.last_error, "refreshes": cache.refreshes},
                "models": cache.describe(),
                "assigned_partitions": sorted(f"{tp.topic}:{tp.partition}" for tp in _assignment(app)),
                "learners": sorted(f"{name}/{alias}" for name, alias in runtime.learners.learners),
                "pending": {"not_remembered_here": runtime.pending.not_remembered, "open": runtime.pending.open_entries},
                "scored": runtime.scorer.scored,
                "deadlettered": dict(runtime.scorer.deadlettered),
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
                return self.json({"error": {"reason": "unknown_model", "detail": f"no model named {name!r}"}}, status=404)
            return self.json(await asyncio.to_thread(registry().show, name))

    @app.page("/predict")
    class Predict(View):
        async def post(self, request: Request) -> Response:
            raw = await request.read()
            try:
                body = json.loads(raw)
            except ValueError as exc:
                return self.json({"error": {"reason": "invalid_json", "detail": f"not JSON: {exc}"}}, status=400)
            if isinstance(body, list):
                if len(body) > MAX_BATCH:
                    return self.json({"error": {"reason": "too_many", "detail": f"at most {MAX_BATCH} events per request"}}, status=413)
                await _refresh_for(runtime, body)
                return self.json({"results": runtime.scorer.score_objects(body)})
            await _refresh_for(runtime, [body])
            [result] = runtime.scorer.score_objects([body])
            return self.json(result, status=422 if "error" in result else 200)


async def _refresh_for(runtime, bodies: list) -> None:
    names = (b.get("model") for b in bodies if isinstance(b, dict))
    missing = runtime.scorer.missing_model_names(names)
    if missing:
        await runtime.cache.ensure_loaded(missing)


def _assignment(app: faust.App) -> set:
    try:
        return app.consumer.assignment()
    except Exception:  # consumer not started yet
        return set()


async def _broker_ok(app: faust.App) -> bool:
    producer = app.producer._ensure_producer()  # aiokafka producer: a metadata round trip proves the broker answers
    await producer.client.fetch_all_metadata()
    return True


async def _check(awaitable, timeout: float = 2.0) -> dict:
    try:
        await asyncio.wait_for(awaitable, timeout)
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
