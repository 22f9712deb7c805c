"""How far the scorers have got through ``events``, so that a held label waits for an event that
can still come instead of being dead-lettered after a fixed grace.

A label that reaches the join before its event was scored is held (``DRIFTLINE_LABEL_GRACE_SECONDS``).
When the scorers lag (a backlog after a restart, a burst faster than they score), that grace can
pass while the event still sits unscored in ``events``: dead-lettering the label then loses an
example that would have come. So a held label is given up only when, besides its grace having
passed, every event that was on ``events`` when it was held has been scored and committed by the
worker group: then its event truly never came (or was dead-lettered).

The watcher samples, about once a second, the end offsets of every ``events`` partition (taking
the time *before* asking, so a sample covers every event produced before its time) and the
group's committed offsets. ``scored_through`` is the time of the newest sample that the committed
offsets cover on every partition.

>>> progress = ScoringProgress()
>>> progress.observe(100.0, ends={0: 5, 1: 7}, committed={0: 5, 1: 3})
>>> progress.scored_through is None  # partition 1 has 4 events not scored
True
>>> progress.observe(101.0, ends={0: 6, 1: 7}, committed={0: 5, 1: 7})
>>> progress.scored_through  # the first sample is covered, the second not yet (partition 0)
100.0
>>> progress.covers(99.5), progress.covers(100.5)
(True, False)
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Mapping

log = logging.getLogger(__name__)

#: Samples kept while the scorers lag (one a second: a lag of over two hours before the oldest go).
MAX_SAMPLES = 8192


class ScoringProgress:
    """The time up to which the worker group has scored every event (see the module docstring)."""

    def __init__(self) -> None:
        self.samples: deque[tuple[float, dict[int, int]]] = deque(maxlen=MAX_SAMPLES)
        self.scored_through: float | None = None

    def observe(self, at: float, ends: Mapping[int, int], committed: Mapping[int, int | None]) -> None:
        """Add a sample (``ends`` read after ``at``) and advance ``scored_through`` with the group's
        ``committed`` offsets (None: nothing committed on that partition yet)."""
        self.samples.append((at, dict(ends)))
        while self.samples:
            sampled_at, sampled_ends = self.samples[0]
            if any((committed.get(p) or 0) < end for p, end in sampled_ends.items()):
                break
            self.scored_through = sampled_at
            self.samples.popleft()

    def covers(self, held_at: float) -> bool:
        """Whether every event on ``events`` when a label was held at ``held_at`` has been scored."""
        return self.scored_through is not None and self.scored_through >= held_at


class BrokerProgressWatcher:
    """Feeds a :class:`ScoringProgress` from the broker (blocking calls: run :meth:`sample` in a thread).

    Reads the group's committed offsets without joining the group (an unsubscribed consumer with
    the group's id only fetches offsets).
    """

    def __init__(self, servers: list[str], group: str, topic: str, partitions: int) -> None:
        self.servers, self.group, self.topic, self.partitions = servers, group, topic, partitions
        self.progress = ScoringProgress()
        self._consumer = None
        self.failures = 0
        self.retry_at = 0.0  # after failures, the next try waits (a new client each second would pile up)

    def sample(self) -> None:
        from kafka import KafkaConsumer, TopicPartition

        if time.monotonic() < self.retry_at:
            return
        try:
            if self._consumer is None:
                self._consumer = KafkaConsumer(bootstrap_servers=self.servers, group_id=self.group,
                                               enable_auto_commit=False, client_id=f"{self.group}-progress",
                                               request_timeout_ms=10_000)
            partitions = [TopicPartition(self.topic, p) for p in range(self.partitions)]
            at = time.time()
            ends = self._consumer.end_offsets(partitions)
            committed = {tp.partition: self._consumer.committed(tp) for tp in partitions}
        except Exception as exc:  # broker away: held labels wait (they are kept in Redis) until it answers
            self.failures += 1
            if self.failures == 1 or self.failures % 20 == 0:
                log.warning("cannot read how far the scorers have got (held labels wait): %s: %s", type(exc).__name__, exc)
            self.close()
            self.retry_at = time.monotonic() + min(30.0, 2.0 ** min(self.failures, 5))
            return
        self.failures = 0
        self.progress.observe(at, {tp.partition: end for tp, end in ends.items()}, committed)

    def close(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close()
            except Exception:
                pass
            self._consumer = None
