"""Alert deliveries in Redis: queued, collapsed, claimed, retried, logged. Nothing only in memory,
so a delivery not yet done survives a worker's crash, restart or rebalance.

Keys (all under ``driftline:APP_ID:alerts:``)::

    queue:ENDPOINT     ZSET   delivery id -> when it is due (a claimed one: when its lease ends)
    delivery:ID        HASH   endpoint, model, kind, record (JSON), count, first_id, last_id,
                              state, attempts, created, due, last_status, last_error, ...
    deliveries         ZSET   delivery id -> created (the index the API lists; bounded)
    seen:ENDPOINT      ZSET   model and drift record id -> when (a record delivered twice on the
                              topic is queued once; bounded)
    cooldown:ENDPOINT:MODEL:KIND  HASH  until, collecting (the id of the delivery collecting the
                              records that arrive before ``until``)
    log                LIST   every attempt, newest first (bounded)
    disabled           HASH   endpoint -> why and when (410 Gone), with the URL it had

States: ``collecting`` (a collapsed delivery still gathering records, due when its cooldown
ends), ``pending`` (due at ``due``), ``delivered``, ``failed`` (given up after the retry schedule,
or the endpoint answered 410 Gone).

Queueing and claiming are Lua scripts, so that a record arriving while its collapsed delivery is
claimed can neither be lost nor counted in a delivery already sent.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis.asyncio as aioredis

KEEP_DELIVERIES = 10_000
KEEP_ATTEMPTS = 10_000
KEEP_SEEN = 50_000
STATES = ("collecting", "pending", "delivered", "failed")

_dumps = json.JSONEncoder(separators=(",", ":"), default=str).encode

# KEYS: seen, cooldown, queue, index, delivery (single), delivery prefix
# ARGV: record id, now, cooldown seconds, single delivery id, record JSON, endpoint, model, kind, collapse (0/1),
#       the record's key in ``seen`` (model and id: a record id is unique per model only)
_QUEUE = """
if redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[10]) == 0 then return {'duplicate', ''} end
local now = tonumber(ARGV[2])
local cooldown = tonumber(ARGV[3])
if ARGV[9] == '1' and cooldown > 0 then
  local untilt = tonumber(redis.call('HGET', KEYS[2], 'until') or '0')
  if now < untilt then
    local cid = redis.call('HGET', KEYS[2], 'collecting') or ''
    if cid ~= '' and redis.call('HGET', KEYS[6] .. cid, 'state') == 'collecting' then
      redis.call('HINCRBY', KEYS[6] .. cid, 'count', 1)
      redis.call('HSET', KEYS[6] .. cid, 'last_id', ARGV[1], 'record', ARGV[5], 'updated', ARGV[2])
      return {'collapsed', cid}
    end
    cid = ARGV[4] .. '-c'
    redis.call('HSET', KEYS[6] .. cid, 'id', cid, 'endpoint', ARGV[6], 'model', ARGV[7], 'kind', ARGV[8],
               'record', ARGV[5], 'count', 1, 'first_id', ARGV[1], 'last_id', ARGV[1], 'state', 'collecting',
               'attempts', 0, 'created', ARGV[2], 'updated', ARGV[2], 'due', untilt)
    redis.call('ZADD', KEYS[3], untilt, cid)
    redis.call('ZADD', KEYS[4], now, cid)
    redis.call('HSET', KEYS[2], 'collecting', cid)
    return {'collapsed', cid}
  end
  redis.call('HSET', KEYS[2], 'until', now + cooldown, 'collecting', '')
  redis.call('EXPIRE', KEYS[2], math.ceil(cooldown) + 86400)
end
redis.call('HSET', KEYS[5], 'id', ARGV[4], 'endpoint', ARGV[6], 'model', ARGV[7], 'kind', ARGV[8],
           'record', ARGV[5], 'count', 1, 'first_id', ARGV[1], 'last_id', ARGV[1], 'state', 'pending',
           'attempts', 0, 'created', ARGV[2], 'updated', ARGV[2], 'due', ARGV[2])
redis.call('ZADD', KEYS[3], now, ARGV[4])
redis.call('ZADD', KEYS[4], now, ARGV[4])
return {'queued', ARGV[4]}
"""

# KEYS: queue, delivery prefix; ARGV: now, lease seconds. Claims the earliest due delivery.
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1)
if #due == 0 then return false end
local id = due[1]
local key = KEYS[2] .. id
local state = redis.call('HGET', key, 'state')
if state ~= 'collecting' and state ~= 'pending' then
  redis.call('ZREM', KEYS[1], id)
  return false
end
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), id)
redis.call('HSET', key, 'state', 'pending', 'claimed_at', ARGV[1])
return id
"""


class AlertStore:
    def __init__(self, client: aioredis.Redis, app_id: str):
        self.redis = client
        self.prefix = f"driftline:{app_id}:alerts:"
        self._queue = client.register_script(_QUEUE)
        self._claim = client.register_script(_CLAIM)

    def _k(self, *parts: Any) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    async def queue(self, endpoint: str, record: dict, delivery: str, *, collapse: bool, cooldown: float,
                    now: float | None = None) -> tuple[str, str]:
        """Queue ``record`` for ``endpoint``: ``("queued", id)``, ``("collapsed", id)`` into the
        delivery collecting this model's records of this kind, or ``("duplicate", "")``."""
        now = time.time() if now is None else now
        model, kind = str(record.get("model")), str(record.get("kind"))
        keys = [self._k("seen", endpoint), self._k("cooldown", endpoint, model, kind), self._k("queue", endpoint),
                self._k("deliveries"), self._k("delivery", delivery), self._k("delivery", "")]
        args = [record["id"], repr(now), repr(cooldown), delivery, _dumps(record), endpoint, model, kind, "1" if collapse else "0",
                f"{model}\x00{record['id']}"]
        outcome, delivered_as = await self._queue(keys=keys, args=args)
        return outcome.decode(), delivered_as.decode()

    async def claim(self, endpoint: str, lease: float, now: float | None = None) -> dict | None:
        """The earliest due delivery of ``endpoint``, leased for ``lease`` seconds (a worker that
        dies while sending leaves it to be claimed again when the lease ends), or None."""
        now = time.time() if now is None else now
        claimed = await self._claim(keys=[self._k("queue", endpoint), self._k("delivery", "")], args=[repr(now), repr(lease)])
        if not claimed:
            return None
        return await self.delivery(claimed.decode())

    async def delivery(self, delivery: str) -> dict | None:
        raw = await self.redis.hgetall(self._k("delivery", delivery))
        return _decode(raw) if raw else None

    async def finish(self, delivery: dict, attempt: dict, *, state: str, due: float | None = None) -> None:
        """Record one attempt's outcome: ``state`` delivered or failed (off the queue), or pending
        again at ``due``. ``attempt`` goes to the log as it is."""
        key, queue = self._k("delivery", delivery["id"]), self._k("queue", delivery["endpoint"])
        fields = {"state": state, "attempts": attempt["attempt"], "updated": attempt["ts"],
                  "last_status": "" if attempt.get("status") is None else attempt["status"],
                  "last_error": attempt.get("error") or "", "last_latency": attempt.get("latency") or 0.0}
        history = json.loads(delivery.get("history") or "[]")
        history.append({k: attempt.get(k) for k in ("attempt", "ts", "status", "error", "latency")})
        fields["history"] = _dumps(history[-50:])
        pipe = self.redis.pipeline(transaction=True)
        if state == "pending":
            fields["due"] = due
            pipe.zadd(queue, {delivery["id"]: due})
        else:
            pipe.zrem(queue, delivery["id"])
            if state == "delivered":
                fields["delivered_at"] = attempt["ts"]
        pipe.hset(key, mapping=fields)
        pipe.lpush(self._k("log"), _dumps(attempt))
        pipe.ltrim(self._k("log"), 0, KEEP_ATTEMPTS - 1)
        await pipe.execute()

    async def log_attempt(self, attempt: dict) -> None:
        """An attempt that belongs to no queued delivery (``driftline alerts test``)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.lpush(self._k("log"), _dumps(attempt))
        pipe.ltrim(self._k("log"), 0, KEEP_ATTEMPTS - 1)
        await pipe.execute()

    async def trim(self) -> int:
        """Forget the oldest finished deliveries beyond the bound (and old ``seen`` ids)."""
        index = self._k("deliveries")
        excess = await self.redis.zcard(index) - KEEP_DELIVERIES
        removed = 0
        if excess > 0:
            for raw in await self.redis.zrange(index, 0, excess - 1):
                delivery = raw.decode()
                state = await self.redis.hget(self._k("delivery", delivery), "state")
                if state in (b"delivered", b"failed", None):
                    await self.redis.delete(self._k("delivery", delivery))
                    await self.redis.zrem(index, delivery)
                    removed += 1
        async for key in self.redis.scan_iter(match=self._k("seen", "*")):
            await self.redis.zremrangebyrank(key, 0, -KEEP_SEEN - 1)
        return removed

    async def list(self, *, endpoint: str | None = None, model: str | None = None, state: str | None = None,
                   limit: int = 100) -> list[dict]:
        """Recent deliveries, newest first, with their attempts."""
        out: list[dict] = []
        start, page = 0, max(limit, 200)
        while len(out) < limit:
            ids = await self.redis.zrevrange(self._k("deliveries"), start, start + page - 1)
            if not ids:
                break
            start += page
            pipe = self.redis.pipeline(transaction=False)
            for raw in ids:
                pipe.hgetall(self._k("delivery", raw.decode()))
            for raw in await pipe.execute():
                if not raw:
                    continue
                delivery = public(_decode(raw))
                if (endpoint and delivery["endpoint"] != endpoint) or (model and delivery["model"] != model) \
                        or (state and delivery["state"] != state):
                    continue
                out.append(delivery)
                if len(out) >= limit:
                    break
        return out

    async def attempts(self, *, endpoint: str | None = None, model: str | None = None, limit: int = 100) -> list[dict]:
        """The attempt log, newest first."""
        out = []
        for raw in await self.redis.lrange(self._k("log"), 0, KEEP_ATTEMPTS - 1):
            attempt = json.loads(raw)
            if (endpoint and attempt.get("endpoint") != endpoint) or (model and attempt.get("model") != model):
                continue
            out.append(attempt)
            if len(out) >= limit:
                break
        return out

    async def queued(self, endpoint: str) -> int:
        return await self.redis.zcard(self._k("queue", endpoint))

    async def disable(self, endpoint: str, url: str, reason: str) -> None:
        await self.redis.hset(self._k("disabled"), endpoint, _dumps({"reason": reason, "ts": time.time(), "url": url}))

    async def enable(self, endpoint: str) -> bool:
        return bool(await self.redis.hdel(self._k("disabled"), endpoint))

    async def disabled(self) -> dict[str, dict]:
        raw = await self.redis.hgetall(self._k("disabled"))
        return {k.decode(): json.loads(v) for k, v in raw.items()}


def _decode(raw: dict) -> dict:
    delivery = {k.decode(): v.decode() for k, v in raw.items()}
    for name in ("count", "attempts"):
        delivery[name] = int(delivery.get(name) or 0)
    for name in ("created", "updated", "due", "claimed_at", "delivered_at", "last_latency"):
        if delivery.get(name):
            delivery[name] = float(delivery[name])
    return delivery


def public(delivery: dict) -> dict:
    """A delivery as the API and the CLI show it."""
    record = json.loads(delivery.get("record") or "{}")
    status = delivery.get("last_status")
    return {
        "id": delivery["id"], "endpoint": delivery.get("endpoint"), "model": delivery.get("model"),
        "kind": delivery.get("kind"), "state": delivery.get("state"), "count": delivery.get("count"),
        "first_id": delivery.get("first_id"), "last_id": delivery.get("last_id"), "record_id": record.get("id"),
        "attempts": delivery.get("attempts"), "created": delivery.get("created"), "due": delivery.get("due"),
        "delivered_at": delivery.get("delivered_at"), "last_status": int(status) if status else None,
        "last_error": delivery.get("last_error") or None, "history": json.loads(delivery.get("history") or "[]"),
    }
