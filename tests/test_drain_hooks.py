"""The drain hooks: while Faust waits for every taken event to be acknowledged (a stop, a
rebalance), the learner's snapshot and the monitor's checkpoint are written again, and they
acknowledge; with nothing to wait for, nothing is written."""

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


def test_the_drain_hooks_run_until_every_event_is_acknowledged(app, monkeypatch):
    late = LateEvents(3)
    late.install(monkeypatch)
    flushes = []

    async def checkpoint() -> None:  # each flush acknowledges one late event
        flushes.append(late.unacked)
        late.unacked -= 1

    app.while_draining.append(checkpoint)
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
    asyncio.run(asyncio.wait_for(app._consumer_wait_empty(None, None), 10))
    assert len(attempts) == 3
    assert sum("while draining, checkpoint failed: ConnectionError: redis away" in r.getMessage() for r in caplog.records) == 2


def test_with_nothing_to_wait_for_no_hook_runs(app, monkeypatch):
    late = LateEvents(0)
    late.install(monkeypatch)
    ran = []

    async def checkpoint() -> None:
        ran.append(1)

    app.while_draining.append(checkpoint)
    asyncio.run(asyncio.wait_for(app._consumer_wait_empty(None, None), 10))
    assert ran == []
