"""mode's own timer warns of overlaps; Driftline's workers keep the warning for long runs only."""

from __future__ import annotations

import logging

import pytest
from mode.timers import Timer

from stream.app import faust_app
from stream.settings import Settings
from stream.transport.timer_logs import TIMER_LOGGER, QuietShortOverlaps


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def run_timer(name: str, interval: float, runtimes: list[float]) -> Timer:
    """mode's timer as Faust drives it: it sleeps what ``tick`` says, then the callback runs
    for each of ``runtimes`` (seconds); the tick after a run judges it."""
    clock = Clock()
    timer = Timer(interval, name=name, clock=clock)
    for runtime in runtimes:
        clock.now += timer.tick()
        timer.on_before_yield()
        clock.now += runtime
    timer.tick()
    return timer


def overlap_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == TIMER_LOGGER and "is overlapping" in r.getMessage()]


@pytest.fixture
def quiet_timer_logger():
    logger = logging.getLogger(TIMER_LOGGER)
    saved = list(logger.filters)
    yield logger
    logger.filters[:] = saved
    logger.setLevel(logging.NOTSET)


def test_a_driftline_app_keeps_long_overlaps_and_drops_short_ones(quiet_timer_logger, caplog, tmp_path):
    caplog.set_level(logging.INFO)
    quiet_timer_logger.filters[:] = [f for f in quiet_timer_logger.filters if not isinstance(f, QuietShortOverlaps)]
    run_timer("snapshot_by_time", 0.05, [0.3, 0.3, 2.5])
    assert len(overlap_records(caplog)) == 3  # mode warns of every one of them by itself

    caplog.clear()
    faust_app(Settings.from_env({"DRIFTLINE_STATE_DIR": str(tmp_path)}))
    faust_app(Settings.from_env({"DRIFTLINE_STATE_DIR": str(tmp_path)}))  # installed once per process
    assert sum(isinstance(f, QuietShortOverlaps) for f in quiet_timer_logger.filters) == 1
    timer = run_timer("snapshot_by_time", 0.05, [0.3, 0.3, 2.5])
    kept = overlap_records(caplog)
    assert [(r.levelname, r.args[2]) for r in kept] == [("WARNING", 2.5)]
    assert timer.overlaps == 3  # mode still counts every overlap


def test_short_overlaps_are_shown_at_debug_level(quiet_timer_logger, caplog):
    caplog.set_level(logging.DEBUG)
    quiet_timer_logger.addFilter(QuietShortOverlaps())
    run_timer("retry_held_labels", 0.1, [0.25])
    assert [r.levelname for r in overlap_records(caplog)] == ["DEBUG"]
