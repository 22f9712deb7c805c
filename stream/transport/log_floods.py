"""aiokafka's connection errors while the broker is away, one line per message every 10 seconds.

With the broker gone (stopped, restarting, unreachable), aiokafka logs "Unable connect to node
with id ...", "Unable to update metadata from ...", "Group Coordinator Request failed: ..." and
"Failed fetch messages from ..." for every attempt: up to ~95 error lines a second from one
worker, which bury everything else in its log. :class:`OncePerInterval` lets the first record of
each message through, then at most one per :data:`INTERVAL_SECONDS`, saying how many like it it
stood for. The first error of an outage and its end (the lines stop) stay visible.

>>> clock = iter([0.0, 0.1, 0.2, 10.5]).__next__
>>> flood = OncePerInterval(clock=clock)
>>> def record(node):
...     return logging.LogRecord("aiokafka", logging.ERROR, __file__, 0, "Unable connect to node with id %s: %s",
...                              (node, "Connect call failed"), None)
>>> first, second, third, fourth = record(1), record(1), record(2), record(1)
>>> [flood.filter(r) for r in (first, second, third, fourth)]
[True, False, False, True]
>>> fourth.getMessage()
'Unable connect to node with id 1: Connect call failed (and 2 more like it in the last 10 s)'
"""

from __future__ import annotations

import logging
import time
from typing import Callable

#: The loggers whose connection errors repeat for as long as the broker is away.
FLOODING_LOGGERS = ("aiokafka", "aiokafka.consumer.fetcher", "aiokafka.consumer.group_coordinator")
#: What they repeat (aiokafka/client.py, consumer/fetcher.py, consumer/group_coordinator.py): with
#: the embedded broker stopped, 25 s of a worker's log held 248 + 247 of the last two.
FLOODING_MESSAGES = frozenset({"Unable connect to node with id %s: %s", "Failed fetch messages from %s: %s",
                               "Unable to update metadata from %s", "Group Coordinator Request failed: %s"})
INTERVAL_SECONDS = 10.0


class OncePerInterval(logging.Filter):
    """Each of :data:`FLOODING_MESSAGES` at most once per interval; every other record passes."""

    def __init__(self, interval: float = INTERVAL_SECONDS, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.interval, self.clock = interval, clock
        self.last: dict[str, float] = {}  # message -> when it was last let through
        self.held_back: dict[str, int] = {}  # message -> records dropped since

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg not in FLOODING_MESSAGES:
            return True
        now = self.clock()
        last = self.last.get(record.msg)
        if last is not None and now - last < self.interval:
            self.held_back[record.msg] = self.held_back.get(record.msg, 0) + 1
            return False
        self.last[record.msg] = now
        dropped = self.held_back.pop(record.msg, 0)
        if dropped:
            record.msg = f"{record.getMessage()} (and {dropped} more like it in the last {self.interval:.0f} s)"
            record.args = ()
        return True


def limit_connection_error_floods() -> None:
    """Install the filter on aiokafka's loggers (once, however many apps a process creates)."""
    for name in FLOODING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, OncePerInterval) for f in logger.filters):
            logger.addFilter(OncePerInterval())
