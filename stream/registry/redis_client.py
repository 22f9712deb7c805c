"""Redis clients whose timeouts mean what they say.

redis-py (6 and later) retries a failed command ten times with backoff by default, timeouts
included: against a frozen Redis a command with a 1-second socket timeout answered after about
15 seconds, and a score batch that remembers its predictions would wait that long. Driftline's
callers handle failures themselves (the pending store probes, the registry refresh keeps the
models it has, agents retry their batch), so a client here retries once, at once, and only on a
broken connection (a pooled connection that a Redis restart closed), never on a timeout.

>>> client = redis_client("redis://127.0.0.1:6379/0", timeout=2.0)
>>> client.get_retry().get_retries(), client.connection_pool.connection_kwargs["socket_timeout"]
(1, 2.0)
"""

from __future__ import annotations

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry


def redis_client(url: str, timeout: float) -> redis.Redis:
    """A blocking client: every command answers or fails within about ``timeout`` seconds."""
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)))


def async_redis_client(url: str, timeout: float) -> aioredis.Redis:
    """The asyncio client, with the same bound."""
    return aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                   retry=AsyncRetry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)))
