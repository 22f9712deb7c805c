"""Faust's "Timer X is overlapping" warnings, kept for runs that are worth a look.

Faust's timers (mode's ``Timer``) log a warning whenever one run of a timer took longer than its
interval. Driftline's short timers (publishing learned models every 0.05 s, retrying held labels
every 0.1 s) wait for the learners' lock, so under load most of their runs overlap and the next
run simply starts late: in one ``make demo``, 119 of the worker's 226 log lines were that warning.
This filter turns an overlap shorter than :data:`LONG_RUN_SECONDS` into a DEBUG record (shown with
``DRIFTLINE_LOG_LEVEL=debug``, not lost) and leaves longer ones as warnings: a timer that ran for a
second or more is a stall worth a look.

>>> import logging
>>> logging.getLogger(TIMER_LOGGER).setLevel(logging.DEBUG)
>>> record = logging.LogRecord("mode.timers", logging.WARNING, __file__, 0, OVERLAP_MESSAGE,
...                            ("snapshot_by_time", 0.05, 0.3), None)
>>> QuietShortOverlaps().filter(record), record.levelname
(True, 'DEBUG')
>>> record = logging.LogRecord("mode.timers", logging.WARNING, __file__, 0, OVERLAP_MESSAGE,
...                            ("snapshot_by_time", 0.05, 2.5), None)
>>> QuietShortOverlaps().filter(record), record.levelname
(True, 'WARNING')

At the worker's default level (info) a short overlap is dropped:

>>> logging.getLogger(TIMER_LOGGER).setLevel(logging.INFO)
>>> record = logging.LogRecord("mode.timers", logging.WARNING, __file__, 0, OVERLAP_MESSAGE,
...                            ("snapshot_by_time", 0.05, 0.3), None)
>>> QuietShortOverlaps().filter(record)
False
>>> logging.getLogger(TIMER_LOGGER).setLevel(logging.NOTSET)
"""

from __future__ import annotations

import logging

#: The logger of mode's timers and the message its overlap warning uses (mode/timers.py).
TIMER_LOGGER = "mode.timers"
OVERLAP_MESSAGE = "Timer %s is overlapping (interval=%r runtime=%r)"
#: A run at least this long stays a warning (mode reports a late wake-up of a timer from 1 s too).
LONG_RUN_SECONDS = 1.0


class QuietShortOverlaps(logging.Filter):
    """Lowers short timer overlaps to DEBUG; every other record passes unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == OVERLAP_MESSAGE and isinstance(record.args, tuple) and len(record.args) == 3:
            runtime = record.args[2]
            if isinstance(runtime, (int, float)) and runtime < LONG_RUN_SECONDS:
                record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
                # The logger checked its level before the record existed, and handlers often have
                # none of their own: pass it on only where debug records are wanted.
                return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def quiet_short_timer_overlaps() -> None:
    """Install the filter on mode's timer logger (once, however many apps a process creates)."""
    logger = logging.getLogger(TIMER_LOGGER)
    if not any(isinstance(f, QuietShortOverlaps) for f in logger.filters):
        logger.addFilter(QuietShortOverlaps())
