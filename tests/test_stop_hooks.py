"""A stopping worker's drain hooks: while Faust waits for every taken event to be acknowledged at a
stop, the learner's snapshot and the monitor's checkpoint are written again (they acknowledge);
in a rebalance, where their timers still run, Faust waits alone."""

from __future__ import annotations

import asyncio

import faust
import pytest

from stream.transport import faust_app
from stream.transport.faust_app import DriftlineApp


class LateEvents:
    """Faust's wait for acknowledgements, over events an agent took after the stop hooks ran."""

    def __init__(self, n: int) -> None:
        self.unacked = n

    def install(self, monkeypatch) -> None:
        async def wait_empty(app, consumer, logger) -> None:
            while self.unacked:
                await asyncio.sleep(0.005)

        monkeypatch.setattr(faust.App, "_consumer_wait_empty", wait_empty)


@pytest.fixture
def app(monkeypatch):
    monkeypatch.setattr(faust_app, "DRAIN_HOOK_SECONDS", 0.01)
    return DriftlineApp("driftline-stop-hooks", broker="kafka://127.0.0.1:9", web_enabled=False)


def test_while_stopping_the_drain_hooks_run_until_every_event_is_acknowledged(app, monkeypatch):
    late = LateEvents(3)
    late.install(monkeypatch)
    flushes = []

    async def checkpoint() -> None:  # each flush acknowledges one late event
        flushes.append(late.unacked)
        late.unacked -= 1

    app.while_draining.append(checkpoint)
    app._stopping = True
    asyncio.run(asyncio.wait_for(app._consumer_wait_empty(None, None), 10))
    assert flushes == [3, 2, 1] and late.unacked == 0


def test_a_failing_drain_hook_is_logged_and_tried_again(app, monkeypatch, caplog):
    late = LateEvents(1)
    late.install(monkeypatch)
    attempts = []

    async def checkpoint() -> None:  # Redis away twice, then back
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("redis away")
        late.unacked = 0

    app.while_draining.append(checkpoint)
    app._stopping = True
    asyncio.run(asyncio.wait_for(app._consumer_wait_empty(None, None), 10))
    assert len(attempts) == 3
    assert sum("checkpoint failed: ConnectionError: redis away" in r.getMessage() for r in caplog.records) == 2


def test_in_a_rebalance_faust_waits_alone(app, monkeypatch):
    late = LateEvents(1)
    late.install(monkeypatch)
    ran = []

    async def checkpoint() -> None:
        ran.append(1)

    async def rebalance() -> None:
        async def timer_acks() -> None:  # the monitor's timer still runs in a rebalance
            await asyncio.sleep(0.2)
            late.unacked = 0

        acking = asyncio.ensure_future(timer_acks())
        await app._consumer_wait_empty(None, None)
        await acking

    app.while_draining.append(checkpoint)
    asyncio.run(asyncio.wait_for(rebalance(), 10))
    assert ran == [] and late.unacked == 0
