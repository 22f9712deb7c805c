"""The worker's HTTP API as an OpenAPI 3.1 document (``GET /api/openapi.json``), written by hand.

Kept exact by a test that runs schemathesis against a live worker (server errors and response
schema conformance) and by one that checks every route the worker serves is described here.
"""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}
OBJECT = {"type": "object"}
NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}, "description": "model name"}
WINDOW = {"name": "window", "in": "path", "required": True, "schema": {"type": "string"}, "description": "window id, or latest"}
BEARER = [{"bearer": []}]


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict:
    words = {400: "bad input, with the reason", 401: "no or wrong bearer token", 403: "no token configured on the worker",
             404: "unknown model, window or route", 409: "refused, with why", 413: "body or list too large",
             422: "the event or label cannot be used, with the dead-letter reason", 503: "Redis or the broker away"}
    return {str(code): _json(ERROR, words[code]) for code in codes}


PREDICTION = {
    "type": "object", "required": ["id", "model", "version", "prediction"],
    "properties": {"id": {"type": "string"}, "model": {"type": "string"}, "version": {"type": ["integer", "null"]},
                   "snapshot": {"type": ["integer", "null"]}, "prediction": {}, "proba": {"type": "object"},
                   "ts_event": {"type": ["number", "null"]}, "ts_scored": {"type": "number"}},
}
ITEM_ERROR = {"type": "object", "required": ["error"],
              "properties": {"id": {"type": ["string", "integer", "null"]}, "error": {"$ref": "#/components/schemas/Reason"}}}
EVENT = {
    "type": "object", "required": ["features"],
    "properties": {"id": {"type": ["string", "integer"], "description": "optional over HTTP: a UUID is given when missing"},
                   "model": {"type": "string"}, "features": {"type": "object"}, "ts": {"type": "number"},
                   "label": {"description": "optional: scored first, then learned from (needs the bearer token, as POST /labels)"}},
}
LABEL = {"type": "object", "required": ["id", "label"],
         "properties": {"id": {"type": ["string", "integer"]}, "label": {}, "model": {"type": "string"}}}
# A list is checked item by item (one bad event must not refuse the others): any value is taken,
# and an item that is not a valid event or label gets its own error in ``results``.
BATCH_ITEM = {"description": "an event (or label) as in the single form; an invalid one gets its own error in results"}
COMMAND_BODY = {"type": "object", "properties": {"version": {"type": "integer", "minimum": 1}, "reason": {"type": "string", "maxLength": 500}}}


def _command(action: str, summary: str) -> dict:
    return {"post": {
        "summary": summary, "security": BEARER, "tags": ["deployment"],
        "parameters": [NAME, {"name": "wait", "in": "query", "schema": {"type": "number", "minimum": 0, "maximum": 60},
                              "description": "seconds to wait for the outcome (default 10)"}],
        "requestBody": {"required": False, "content": {"application/json": {"schema": COMMAND_BODY}}},
        "responses": {"200": _json(OBJECT, "done: the outcome and its record"), "202": _json(OBJECT, "queued, not carried out yet"),
                      **_errors(400, 401, 403, 404, 409, 503)},
    }}


def openapi() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Driftline worker API", "version": "1",
                 "description": "Online prediction, learning from labels, drift monitoring and continuous deployment. "
                                "Mutating endpoints need `Authorization: Bearer DRIFTLINE_API_TOKEN`."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Reason": {"type": "object", "required": ["reason", "detail"],
                           "properties": {"reason": {"type": "string"}, "detail": {"type": "string"}}},
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"$ref": "#/components/schemas/Reason"}}},
            },
        },
        "paths": {
            "/": {"get": {"summary": "The drift dashboard", "tags": ["dashboard"],
                          "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}}}},
            "/static/plotly.min.js": {"get": {"summary": "plotly.js, from the plotly package", "tags": ["dashboard"], "responses": {
                "200": {"description": "JavaScript", "content": {"application/javascript": {"schema": {"type": "string"}}}},
                **_errors(404)}}},
            "/api/dashboard": {"get": {"summary": "Everything the dashboard shows", "tags": ["dashboard"], "responses": {
                "200": _json({"type": "object", "required": ["ts", "worker", "models"],
                              "properties": {"ts": {"type": "number"}, "worker": OBJECT, "models": {"type": "array", "items": OBJECT},
                                             "alerts": {"type": ["object", "null"]}, "token_configured": {"type": "boolean"}}},
                             "the worker's throughput and latency, and per model its versions, learning, drift and events")}}},
            "/health": {"get": {"summary": "Broker, Redis and every stage of this worker", "tags": ["operations"], "responses": {
                "200": _json({"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}, "healthy"),
                "503": _json({"type": "object", "required": ["status"], "properties": {"status": {"const": "degraded"}}}, "degraded")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics of this worker", "tags": ["operations"], "responses": {
                "200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/api/openapi.json": {"get": {"summary": "This document", "tags": ["operations"],
                                          "responses": {"200": _json(OBJECT, "OpenAPI 3.1")}}},
            "/predict": {"post": {
                "summary": "Score one event or a list", "tags": ["serving"], "security": [{}, *BEARER],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "oneOf": [EVENT, {"type": "array", "maxItems": 10000, "items": BATCH_ITEM}]}}}},
                "responses": {
                    "200": _json({"oneOf": [PREDICTION, {"type": "object", "required": ["results"], "properties": {
                        "results": {"type": "array", "items": {"oneOf": [PREDICTION, ITEM_ERROR]}}}}]},
                        "the prediction (its id given when the event had none), or one result per event"),
                    "422": _json(ITEM_ERROR, "the event cannot be scored: the dead-letter reason"),
                    **_errors(400, 401, 403, 413, 503)}}},
            "/labels": {"post": {
                "summary": "Labels for earlier predictions (the labels topic's schema)", "tags": ["serving"], "security": BEARER,
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "oneOf": [LABEL, {"type": "array", "maxItems": 10000, "items": BATCH_ITEM}]}}}},
                "responses": {
                    "202": _json({"type": "object"}, "accepted: sent to the labels topic"),
                    "422": _json(ITEM_ERROR, "the label cannot be used"),
                    **_errors(400, 401, 403, 413, 503)}}},
            "/api/models": {"get": {"summary": "Models, versions, aliases and live learning", "tags": ["models"],
                                    "responses": {"200": _json({"type": "object", "required": ["models"]}, "every model"),
                                                  **_errors(503)}}},
            "/api/models/{name}": {"get": {"summary": "One model", "tags": ["models"], "parameters": [NAME],
                                           "responses": {"200": _json(OBJECT, "versions, metadata, learning, audit"), **_errors(404, 503)}}},
            "/api/models/{name}/deployment": {"get": {"summary": "The deployment loop of one model", "tags": ["deployment"],
                                                      "parameters": [NAME],
                                                      "responses": {"200": _json(OBJECT, "state, records, triggers, history"),
                                                                    **_errors(404, 503)}}},
            "/api/models/{name}/promote": _command("promote", "Promote a version to champion"),
            "/api/models/{name}/rollback": _command("rollback", "Roll back to the previous champion"),
            "/api/models/{name}/retrain": _command("retrain", "Retrain a challenger now"),
            "/api/models/{name}/baseline": {"post": {
                "summary": "Replace the champion's drift baseline (a new version)", "tags": ["models"], "security": BEARER,
                "parameters": [NAME],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "rows": {"type": "array", "items": {"type": "object"}, "minItems": 1, "maxItems": 100000},
                    "window": {"type": "string", "description": "a drift window's id, or latest: its row sample"},
                    "reason": {"type": "string", "maxLength": 500}}}}}},
                "responses": {"200": _json(OBJECT, "the new version"), **_errors(400, 401, 403, 404, 409, 503)}}},
            "/api/drift/{name}": {"get": {"summary": "Drift status, windows, concept drifts, reports", "tags": ["drift"],
                                          "parameters": [NAME], "responses": {"200": _json(OBJECT, "status"), **_errors(404, 503)}}},
            "/api/drift/{name}/windows/{window}": {"get": {"summary": "One window's verdicts per column", "tags": ["drift"],
                                                           "parameters": [NAME, WINDOW],
                                                           "responses": {"200": _json(OBJECT, "the window"), **_errors(404, 503)}}},
            "/api/drift/{name}/reports/{window}": {"get": {
                "summary": "A window's Evidently report", "tags": ["drift"],
                "parameters": [NAME, WINDOW, {"name": "format", "in": "query", "schema": {"enum": ["html", "json"]}}],
                "responses": {"200": {"description": "the report", "content": {"text/html": {"schema": {"type": "string"}},
                                                                               "application/json": {"schema": OBJECT}}},
                              **_errors(400, 404, 409, 503)}}},
            "/api/alerts": {"get": {
                "summary": "Alert endpoints, deliveries and attempts", "tags": ["alerts"],
                "parameters": [{"name": "endpoint", "in": "query", "schema": {"type": "string"}},
                               {"name": "model", "in": "query", "schema": {"type": "string"}},
                               {"name": "state", "in": "query", "schema": {"enum": ["collecting", "pending", "delivered", "failed"]}},
                               {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10000}}],
                "responses": {"200": _json({"type": "object", "required": ["enabled", "endpoints", "deliveries"]}, "the log"),
                              **_errors(400, 503)}}},
        },
    }
