"""The pending store against a real redis-server: entries with their TTL, lookup, forget, counters."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from stream.pending import PendingStore
from stream.scoring import Scored


def scored(i: int, model: str = "pending-test") -> Scored:
    return Scored(f"pend-{i}", model, 3, None, {"x": float(i), "c": "a"}, i % 2, 1000.0 + i, None)


def run(coro_factory, redis_url: str):
    async def main():
        client = aioredis.Redis.from_url(redis_url)
        try:
            return await coro_factory(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_remember_lookup_forget(stack, stack_settings):
    async def scenario(client):
        store = PendingStore(client, "pending-unit-1", ttl_seconds=600, max_entries=10_000, grace_seconds=1)
        stored = await store.remember([scored(i) for i in range(300)])
        ttl = await client.ttl(store.ns + "e:pend-7")
        found = await store.lookup(["pend-7", "pend-299", "never-scored"])
        await store.forget([("pend-7", found[0])])
        after = await store.lookup(["pend-7", "pend-8"])
        return stored, ttl, found, after, await store.stats()

    stored, ttl, found, after, stats = run(scenario, stack_settings.redis_url)
    assert stored == 300
    assert 590 <= ttl <= 600
    assert found[0]["m"] == "pending-test" and found[0]["v"] == 3 and found[0]["f"] == {"x": 7.0, "c": "a"}
    assert found[0]["p"] == 1 and found[0]["t"] == 1007.0
    assert found[1]["f"]["x"] == 299.0 and found[2] is None
    assert after[0] is None and after[1]["f"]["x"] == 8.0
    assert stats["stored"] == 300 and stats["matched"] == 1


def test_full_store_counts_dropped(stack, stack_settings):
    async def scenario(client):
        store = PendingStore(client, "pending-unit-2", ttl_seconds=600, max_entries=100, grace_seconds=1)
        await store.remember([scored(i) for i in range(150)])
        await store.account()
        dropped = await store.remember([scored(i) for i in range(150, 160)])
        return store.full, dropped, await store.lookup(["pend-155"]), await store.stats()

    full, dropped, found, stats = run(scenario, stack_settings.redis_url)
    assert full and dropped == 0 and found == [None]
    assert stats["open"] == 150 and stats["dropped_full"] == 10
