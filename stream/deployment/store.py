"""What the deployment controller keeps in Redis, so that no crash loses a decision.

Keys (all under ``driftline:APP_ID:deploy:``: each Driftline application, one consumer group with
its topics, decides for itself even when several share a Redis)::

    NAME:state      STRING JSON: the model's phase (idle, waiting, training, shadow, promoting,
                           probation, rolling_back) and what that phase needs to go on after a
                           restart (trigger, drift position, challenger, test numbers, cooldown)
    NAME:triggers   HASH   drift record id -> the record's short form (kind, version, ts, position)
    NAME:handled    HASH   drift record id -> what became of it (taken, cooldown, busy, stale, ...)
    NAME:commands   LIST   manual commands waiting for the controller (JSON)
    NAME:records    LIST   the model's latest deployment records, newest last (JSON)
    result:ID       STRING JSON: a manual command's outcome (kept a day)

A trigger is stored once (``HSETNX`` by record id) and handled once: a record delivered twice
(at-least-once) or replayed after a crash starts no second retrain.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import redis

from stream.registry.redis_client import redis_client

KEEP_RECORDS = 200
#: Handled triggers remembered per model (a record delivered again after a crash is recent).
KEEP_TRIGGERS = 1000
RESULT_TTL_SECONDS = 86_400


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


class DeployStore:
    def __init__(self, client: redis.Redis, app_id: str):
        self.redis = client
        self.prefix = f"driftline:{app_id}:deploy:"

    @classmethod
    def from_url(cls, url: str, app_id: str, timeout: float = 2.0) -> "DeployStore":
        return cls(redis_client(url, timeout), app_id)

    def _k(self, *parts: Any) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    # The controller's state ----------------------------------------------------------------------
    def state(self, name: str) -> dict:
        raw = self.redis.get(self._k(name, "state"))
        return json.loads(raw) if raw else {"phase": "idle"}

    def set_state(self, name: str, state: dict) -> None:
        self.redis.set(self._k(name, "state"), _dumps(dict(state, updated_at=time.time())))

    def pending(self, names: list[str]) -> dict[str, tuple[dict, int, int]]:
        """Per model, in one round trip: (state, triggers not handled yet exist?, commands waiting)."""
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.get(self._k(name, "state"))
            pipe.hlen(self._k(name, "triggers"))
            pipe.hlen(self._k(name, "handled"))
            pipe.llen(self._k(name, "commands"))
        replies = pipe.execute()
        out = {}
        for i, name in enumerate(names):
            raw, n_triggers, n_handled, n_commands = replies[4 * i:4 * i + 4]
            out[name] = (json.loads(raw) if raw else {"phase": "idle"}, int(n_triggers) - int(n_handled), int(n_commands))
        return out

    # Triggers --------------------------------------------------------------------------------------
    def add_trigger(self, name: str, record: dict) -> bool:
        """Remember a drift record that may start a retrain; False if it was seen before."""
        short = {k: record.get(k) for k in ("id", "kind", "version", "ts", "position")}
        short["window"] = (record.get("window") or {}).get("id")
        return bool(self.redis.hsetnx(self._k(name, "triggers"), record["id"], _dumps(short)))

    def untaken(self, name: str) -> list[dict]:
        """Triggers not handled yet, oldest first."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(self._k(name, "triggers"))
        pipe.hkeys(self._k(name, "handled"))
        triggers, handled = pipe.execute()
        handled = {h.decode() for h in handled}
        found = [json.loads(v) for k, v in triggers.items() if k.decode() not in handled]
        return sorted(found, key=lambda t: (t.get("ts") or 0.0, t["id"]))

    def handle(self, name: str, trigger_id: str, outcome: str) -> bool:
        """Record what became of a trigger; False if it had been handled already."""
        fresh = bool(self.redis.hsetnx(self._k(name, "handled"), trigger_id, _dumps({"outcome": outcome, "ts": time.time()})))
        if fresh and self.redis.hlen(self._k(name, "handled")) > 2 * KEEP_TRIGGERS:
            self._prune(name)
        return fresh

    def _prune(self, name: str) -> None:
        """Forget the oldest handled triggers beyond :data:`KEEP_TRIGGERS` (a model that drifts for
        days makes a trigger per window)."""
        handled = {k: json.loads(v)["ts"] for k, v in self.redis.hgetall(self._k(name, "handled")).items()}
        oldest = sorted(handled, key=handled.get)[:len(handled) - KEEP_TRIGGERS]
        if oldest:
            pipe = self.redis.pipeline(transaction=True)
            pipe.hdel(self._k(name, "handled"), *oldest)
            pipe.hdel(self._k(name, "triggers"), *oldest)
            pipe.execute()

    def outcomes(self, name: str) -> dict[str, dict]:
        return {k.decode(): json.loads(v) for k, v in self.redis.hgetall(self._k(name, "handled")).items()}

    # Records -----------------------------------------------------------------------------------------
    def add_record(self, name: str, record: dict) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.rpush(self._k(name, "records"), _dumps(record))
        pipe.ltrim(self._k(name, "records"), -KEEP_RECORDS, -1)
        pipe.execute()

    def records(self, name: str) -> list[dict]:
        seen, out = set(), []
        for raw in self.redis.lrange(self._k(name, "records"), 0, -1):
            record = json.loads(raw)
            if record.get("id") not in seen:  # a record sent again after a crash is kept once
                seen.add(record.get("id"))
                out.append(record)
        return out

    # Manual commands -------------------------------------------------------------------------------
    def submit(self, name: str, action: str, by: str, version: int | None = None, reason: str = "") -> str:
        command_id = uuid.uuid4().hex[:12]
        command = {"id": command_id, "model": name, "action": action, "version": version, "by": by,
                   "reason": reason, "ts": time.time()}
        self.redis.rpush(self._k(name, "commands"), _dumps(command))
        return command_id

    def next_command(self, name: str) -> dict | None:
        raw = self.redis.lpop(self._k(name, "commands"))
        return json.loads(raw) if raw else None

    def finish(self, command: dict, ok: bool, detail: str, record: dict | None = None) -> None:
        result = {"id": command["id"], "model": command["model"], "action": command["action"], "ok": ok,
                  "detail": detail, "record": record, "done_at": time.time()}
        self.redis.set(self._k("result", command["id"]), _dumps(result), ex=RESULT_TTL_SECONDS)

    def result(self, command_id: str) -> dict | None:
        raw = self.redis.get(self._k("result", command_id))
        return json.loads(raw) if raw else None

    def wait(self, command_id: str, timeout: float, poll: float = 0.1) -> dict | None:
        """The command's outcome, once the controller has carried it out (None after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.result(command_id)
            if result is not None or time.monotonic() >= deadline:
                return result
            time.sleep(poll)
