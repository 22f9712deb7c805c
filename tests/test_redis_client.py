"""Driftline's Redis clients against a real, frozen redis-server (SIGSTOP: connections hang, the
harder case): a command fails within its socket timeout instead of redis-py's default retries
(about 15 s for a 1 s timeout), and the pending store resumes remembering once Redis is back."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time

import pytest
import redis
from conftest import free_port

from stream.dev.devstack import _redis_binary
from stream.learning.pending import PendingStore
from stream.registry.redis_client import async_redis_client, redis_client
from stream.serving.scoring import Scored

pytestmark = pytest.mark.integration


@pytest.fixture
def own_redis(tmp_path):
    """A private redis-server, so freezing it does not freeze the session's stack."""
    port = free_port()
    process = subprocess.Popen([_redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)
    try:
        yield process, url
    finally:
        os.kill(process.pid, signal.SIGCONT)
        process.kill()
        process.wait()


def test_a_frozen_redis_fails_a_command_within_its_timeout(own_redis):
    process, url = own_redis
    client = redis_client(url, timeout=1.0)
    client.ping()
    os.kill(process.pid, signal.SIGSTOP)
    started = time.monotonic()
    with pytest.raises(redis.TimeoutError):
        client.get("x")
    elapsed = time.monotonic() - started
    os.kill(process.pid, signal.SIGCONT)
    # One timeout, not ten retries with backoff (redis-py's default took about 15 s here).
    assert elapsed < 5, elapsed
    assert client.get("x") is None  # and the client works again once Redis is back


def test_the_pending_store_stops_on_a_frozen_redis_and_resumes_after(own_redis):
    process, url = own_redis

    def batch(start: int) -> list[Scored]:
        return [Scored(f"frozen-{i}", "m", 1, None, {"x": float(i)}, 1, 1000.0 + i, None) for i in range(start, start + 10)]

    async def scenario():
        client = async_redis_client(url, timeout=1.0)
        store = PendingStore(client, "frozen", ttl_seconds=600, max_entries=10_000, grace_seconds=1)
        assert await store.remember(batch(0)) == 10
        os.kill(process.pid, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            await store.remember(batch(10))
        failed_after = time.monotonic() - started
        assert store.down
        assert await store.remember(batch(20)) == 0  # skipped at once while down, and counted
        os.kill(process.pid, signal.SIGCONT)
        deadline = time.monotonic() + 10
        while store.down and time.monotonic() < deadline:
            await store.recover()  # what the worker's timer does
        resumed = await store.remember(batch(30))
        found = await store.lookup(["frozen-0", "frozen-15", "frozen-25", "frozen-35"])
        await client.aclose()
        return failed_after, store.not_remembered, resumed, found

    failed_after, not_remembered, resumed, found = asyncio.run(scenario())
    assert failed_after < 5, failed_after
    assert not_remembered == 20
    assert resumed == 10
    assert [entry is not None for entry in found] == [True, False, False, True]
