"""Shared by the tests that drive an event loop by hand: run a scenario, wait for a condition."""

from __future__ import annotations

import asyncio


def run(coro):
    return asyncio.new_event_loop().run_until_complete(coro)


async def until(condition, what: str, timeout: float = 5.0, poll: float = 0.0) -> None:
    """Let the loop run until ``condition()`` holds (a deadline, no fixed sleep); ``poll`` is how
    long to yield between checks (0: just let every ready task run once)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"no {what} within {timeout}s"
        await asyncio.sleep(poll)
