"""Predictions waiting for their labels, in Redis, bounded in age and size, with every loss counted.

Why Redis and not a Faust table: a table writes a changelog message per entry (doubling the score
path's produce traffic); Redis takes one pipeline per batch, expires entries by itself, survives
a worker's crash and lets a label be joined by whichever worker reads it.

Keys (under ``driftline:APP_ID:pending:``)::

    e:ID          the entry (JSON: model, version, features, prediction, ts, bucket), with a TTL
    b:BUCKET      HASH written / matched counts of the entries created in that 10-second bucket
    buckets       ZSET of open buckets; a bucket older than the TTL is closed by one worker, and
                  written - matched of it is added to the ``expired`` count
    j:ID          a label of this event id became an example (kept ``JOINED_SECONDS``): the same
                  label delivered again (a batch replayed after a crash) is then passed over, not
                  held and dead-lettered as ``unmatched_label`` (``/health`` counts them per worker)
    held          ZSET of labels that came before their event, scored by their deadline
    held:leases   ZSET of held labels a worker is retrying, scored by when its lease ends; a label
                  leaves ``held`` only after its example or dead letter is on the broker, so a
                  worker killed mid-retry loses nothing (another retries it when the lease ends)
    stats         HASH of counters: stored, matched, expired, dropped_full, labels_held,
                  labels_matched_late, labels_unmatched, repeated_after_label (predictions made
                  again after their label became an example: not remembered again)

``max_entries`` is enforced at the granularity of the accounting timer: when the open entries
reach it, new predictions are not remembered (counted as ``dropped_full``) until some expire or
are matched.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Iterable

import redis.asyncio as aioredis

from stream.serving.scoring import Scored
from stream.wire.jsonbytes import dumps, loads

log = logging.getLogger(__name__)

PROBE_SECONDS = 0.5
#: How long a joined label's id is remembered: longer than a crashed worker's batch takes to be
#: delivered again (session timeout and rebalance), short enough to stay small (~70 bytes each).
JOINED_SECONDS = 120

# One command stores a whole batch of entries, each with its TTL: a pipeline of one SET per entry
# costs the score path ~10% of its CPU in redis-py's per-command packing.
_SET_MANY = """
for i, key in ipairs(KEYS) do redis.call('SET', key, ARGV[i + 1], 'EX', ARGV[1]) end
return #KEYS
"""

# Remember predictions (KEYS: their e:ID keys; ARGV: TTL, the key prefix, the bucket's key, then a
# value per key), except those whose label already became an example (j:ID): a prediction made
# again after a rebalance (at-least-once) would wait for a label that came already and, never
# matched, count as expired. Counts what it stored in the bucket and the stats; returns it.
_REMEMBER = """
local from = string.len(ARGV[2]) + 3
local stored = 0
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', ARGV[2] .. 'j:' .. string.sub(key, from)) == 0 then
    redis.call('SET', key, ARGV[i + 3], 'EX', ARGV[1])
    stored = stored + 1
  end
end
if stored > 0 then
  redis.call('HINCRBY', ARGV[3], 'written', stored)
  redis.call('HINCRBY', ARGV[2] .. 'stats', 'stored', stored)
end
if stored < #KEYS then redis.call('HINCRBY', ARGV[2] .. 'stats', 'repeated_after_label', #KEYS - stored) end
return stored
"""


# Lease up to ARGV[3] held labels that no live lease covers and that a retry can finish, among the
# ARGV[4] from position ARGV[7] in deadline order; returns how many are held, then (member,
# deadline) pairs. A retry can finish a label whose prediction is remembered (``e:ID``), one
# already joined (``j:ID``), or one whose deadline is at or before ARGV[5] (the caller's cutoff for
# giving up); ARGV[6] is the key prefix. The others are passed over here, in Redis: while the
# scorers work through a backlog most held labels wait, and leasing, sending, parsing and looking
# up a thousand of them ten times a second took ~12% of a labelled worker's profile samples.
_LEASE_HELD = """
local out = {redis.call('ZCARD', KEYS[1])}
local first = tonumber(ARGV[7])
local members = redis.call('ZRANGE', KEYS[1], first, first + tonumber(ARGV[4]) - 1, 'WITHSCORES')
local limit, cutoff = tonumber(ARGV[3]), tonumber(ARGV[5])
for i = 1, #members, 2 do
  if #out > 2 * limit then break end
  local lease = redis.call('ZSCORE', KEYS[2], members[i])
  if (not lease) or tonumber(lease) <= tonumber(ARGV[1]) then
    local ready = tonumber(members[i + 1]) <= cutoff
    if not ready then
      -- Members are JSON with sorted keys, "id" first; an id with escapes is decoded in full.
      local id = string.match(members[i], '^{"id":"([^"\\\\]*)"')
      if not id then
        local ok, label = pcall(cjson.decode, members[i])
        id = ok and type(label) == 'table' and label['id']
      end
      ready = (type(id) ~= 'string') or redis.call('EXISTS', ARGV[6] .. 'e:' .. id) == 1
        or redis.call('EXISTS', ARGV[6] .. 'j:' .. id) == 1
    end
    if ready then
      redis.call('ZADD', KEYS[2], ARGV[2], members[i])
      out[#out + 1] = members[i]
      out[#out + 1] = members[i + 1]
    end
  end
end
return out
"""

LEASE_SECONDS = 15.0

# Close the buckets up to ARGV[1] in one step (a worker dying midway must not lose their count):
# each adds its written - matched entries to ``expired``. KEYS: buckets ZSET, stats HASH; ARGV[2]
# is the bucket key prefix.
_CLOSE_BUCKETS = """
local closed = 0
for _, bucket in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do
  redis.call('ZREM', KEYS[1], bucket)
  local counts = redis.call('HMGET', ARGV[2] .. bucket, 'written', 'matched')
  local unmatched = (tonumber(counts[1]) or 0) - (tonumber(counts[2]) or 0)
  if unmatched > 0 then redis.call('HINCRBY', KEYS[2], 'expired', unmatched) end
  redis.call('DEL', ARGV[2] .. bucket)
  closed = closed + 1
end
return closed
"""


async def _execute(pipe) -> list:
    """Run a pipeline and always give its connection back (a timeout would otherwise leak it)."""
    try:
        return await pipe.execute()
    finally:
        await pipe.reset()


class PendingStore:
    def __init__(self, client: aioredis.Redis, app_id: str, ttl_seconds: float, max_entries: int, grace_seconds: float):
        self.redis = client
        self.ns = f"driftline:{app_id}:pending:"  # one app (consumer group) per namespace
        self.ttl = max(1, int(ttl_seconds))
        # Expiry is counted per bucket of creation time: ~5 buckets per TTL, at most 10 s each.
        self.bucket_seconds = max(1, min(10, self.ttl // 5))
        self.max_entries = max_entries
        self.grace = grace_seconds
        self.full = False
        self.open_entries = 0
        self.not_remembered = 0  # predictions scored while Redis was unreachable (cannot be learned from)
        self.down = False  # Redis failed us; predictions are not remembered until a probe answers
        self._probe: asyncio.Future | None = None
        self._set_many = client.register_script(_SET_MANY)
        self._remember_script = client.register_script(_REMEMBER)
        self._lease_held = client.register_script(_LEASE_HELD)
        self._held_from = 0  # where the next claim starts in the held labels (see claim_held)
        self._close_buckets = client.register_script(_CLOSE_BUCKETS)

    # Score path ----------------------------------------------------------------------------------
    async def remember(self, scored: list[Scored]) -> int:
        """Store a batch of predictions (one pipeline); returns how many were stored.

        The score path must not wait on an unreachable Redis batch after batch: after a failure,
        predictions are not remembered (counted in ``not_remembered``) until a ping, off the score
        path, answers again.
        """
        if not scored:
            return 0
        if self.down:
            self.not_remembered += len(scored)
            self._start_probe()
            return 0
        try:
            return await self._remember(scored)
        except Exception:
            self.down = True
            self.not_remembered += len(scored)
            raise

    async def recover(self) -> None:
        """Called by a timer: while Redis is marked down, probe it, so that remembering resumes as
        soon as it answers rather than one dropped batch later."""
        if self.down:
            self._start_probe()
            await asyncio.shield(self._probe)  # this call's probe or the one already in flight

    def _start_probe(self) -> None:
        """Start a probe unless one is in flight."""
        if self._probe is None or self._probe.done():
            self._probe = asyncio.ensure_future(self._probe_redis())

    async def _probe_redis(self) -> None:
        try:
            await asyncio.wait_for(self.redis.ping(), PROBE_SECONDS * 2)
        except Exception:
            await asyncio.sleep(PROBE_SECONDS)  # at most one probe in flight, one per PROBE_SECONDS
        else:
            self.down = False
            log.info("Redis answers again: remembering predictions for their labels")

    async def _remember(self, scored: list[Scored]) -> int:
        pipe = self.redis.pipeline(transaction=False)
        if self.full:
            pipe.hincrby(self.ns + "stats", "dropped_full", len(scored))
            await _execute(pipe)
            return 0
        bucket = int(time.time() // self.bucket_seconds)
        keys = [self.ns + "e:" + s.event_id for s in scored]
        values = [dumps({"m": s.model, "v": s.version, "f": s.features, "p": s.prediction, "t": s.ts_event, "b": bucket})
                  for s in scored]
        await self._remember_script(keys=keys, args=[self.ttl, self.ns, self.ns + f"b:{bucket}", *values], client=pipe)
        pipe.expire(self.ns + f"b:{bucket}", self.ttl + 10 * self.bucket_seconds)
        pipe.zadd(self.ns + "buckets", {str(bucket): bucket})
        return int((await _execute(pipe))[0])

    # Label path ----------------------------------------------------------------------------------
    async def lookup(self, ids: list[str]) -> list[dict | None]:
        """The entries of these event ids (None where there is none); entries stay until :meth:`forget`."""
        if not ids:
            return []
        values = await self.redis.mget([self.ns + "e:" + i for i in ids])
        return [loads(v) if v is not None else None for v in values]

    async def joined(self, ids: list[str]) -> set[str]:
        """Those of ``ids`` whose label already became an example (within ``JOINED_SECONDS``)."""
        if not ids:
            return set()
        values = await self.redis.mget([self.ns + "j:" + i for i in ids])
        return {i for i, v in zip(ids, values) if v is not None}

    async def forget(self, matched: list[tuple[str, dict]], late: int = 0) -> None:
        """Delete entries that became training examples (after the examples are on the broker)."""
        if not matched:
            return
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(*[self.ns + "e:" + event_id for event_id, _ in matched])
        await self._set_many(keys=[self.ns + "j:" + event_id for event_id, _ in matched],
                             args=[JOINED_SECONDS, *("1" for _ in matched)], client=pipe)
        per_bucket: dict[int, int] = {}
        for _, entry in matched:
            per_bucket[entry["b"]] = per_bucket.get(entry["b"], 0) + 1
        for bucket, n in per_bucket.items():
            pipe.hincrby(self.ns + f"b:{bucket}", "matched", n)
        pipe.hincrby(self.ns + "stats", "matched", len(matched))
        if late:
            pipe.hincrby(self.ns + "stats", "labels_matched_late", late)
        await _execute(pipe)

    async def hold(self, labels: Iterable[dict]) -> int:
        """Keep labels whose event has not been scored yet, until ``now + grace``."""
        deadline = time.time() + self.grace
        members = {json.dumps(label, separators=(",", ":"), sort_keys=True): deadline for label in labels}
        if not members:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(self.ns + "held", members)
        pipe.hincrby(self.ns + "stats", "labels_held", len(members))
        await _execute(pipe)
        return len(members)

    async def claim_held(self, limit: int = 1000, give_up_through: float | None = None,
                         scan: int = 1000) -> list[tuple[bytes, dict, float]]:
        """Lease held labels a retry can finish: (member, label, deadline). Each stays held until
        :meth:`release_held` says it is done, so nothing is lost if this worker dies first.

        Only labels whose prediction is remembered, labels already joined, and labels whose
        deadline is at or before ``give_up_through`` (default: now) are leased: up to ``limit``
        among ``scan`` held labels in deadline order. A claim that finds none moves on to the next
        ``scan`` for the following call (round the list), so labels that wait long (events that
        never came, within their grace) cannot hide the ready ones behind them.
        """
        now = time.time()
        cutoff = now if give_up_through is None else give_up_through
        scan = max(scan, limit)
        flat = await self._lease_held(keys=[self.ns + "held", self.ns + "held:leases"],
                                      args=[now, now + LEASE_SECONDS, limit, scan, f"{min(max(cutoff, 0.0), 1e18):.6f}",
                                            self.ns, self._held_from])
        held, flat = int(flat[0]), flat[1:]
        if not flat:
            self._held_from = self._held_from + scan if self._held_from + scan < held else 0
        return [(member, json.loads(member), float(deadline)) for member, deadline in zip(flat[::2], flat[1::2])]

    async def release_held(self, done: list[bytes], waiting: list[bytes], unmatched: int = 0) -> None:
        """End a retry: ``done`` labels (their example or dead letter is on the broker) leave the
        held list; ``waiting`` ones stay held for the next retry."""
        if not done and not waiting:
            return
        pipe = self.redis.pipeline(transaction=False)
        if done:
            pipe.zrem(self.ns + "held", *done)
        pipe.zrem(self.ns + "held:leases", *done, *waiting)
        if unmatched:
            pipe.hincrby(self.ns + "stats", "labels_unmatched", unmatched)
        await _execute(pipe)

    # Accounting ----------------------------------------------------------------------------------
    async def account(self) -> None:
        """Close buckets past the TTL (adding their unmatched entries to ``expired``) and check the size."""
        now_bucket = int(time.time() // self.bucket_seconds)
        cutoff = now_bucket - (self.ttl // self.bucket_seconds) - 2  # every entry of these buckets has expired
        await self._close_buckets(keys=[self.ns + "buckets", self.ns + "stats"], args=[cutoff, self.ns + "b:"])
        # Leases left by a worker that died mid-retry (their labels are still held).
        await self.redis.zremrangebyscore(self.ns + "held:leases", "-inf", time.time() - LEASE_SECONDS)
        buckets = await self.redis.zrange(self.ns + "buckets", 0, -1)
        pipe = self.redis.pipeline(transaction=False)
        for raw in buckets:
            pipe.hmget(self.ns + f"b:{raw.decode()}", ["written", "matched"])
        self.open_entries = sum(int(w or 0) - int(m or 0) for w, m in await _execute(pipe))
        was_full, self.full = self.full, self.open_entries >= self.max_entries
        if self.full and not was_full:
            log.warning("pending predictions reached %d (DRIFTLINE_PENDING_MAX): new ones are not remembered", self.open_entries)

    async def stats(self) -> dict[str, Any]:
        raw = await self.redis.hgetall(self.ns + "stats")
        stats = {k.decode(): int(v) for k, v in raw.items()}
        stats["open"] = self.open_entries
        stats["not_remembered_here"] = self.not_remembered
        stats["held_now"] = int(await self.redis.zcard(self.ns + "held"))
        return stats
