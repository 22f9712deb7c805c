"""A fetch wait that grows while the broker answers fetches without the records it has.

The embedded Tansu broker (memory storage) counts the time it takes to find a fetch's records
against the fetch's max wait. Once its log is large enough (and it is busy enough) that finding
them takes longer than the wait, it answers every fetch with an empty record set and a high-water
mark beyond the fetch offset, and a consumer with that wait never reads another record: found by
``benchmarks/soak.py`` at 1,000 events/s with a 20 ms wait, after about 150,000 events; a plain
aiokafka consumer on the same log read nothing at 20 ms, a little at 50 ms, everything at 100 ms.
(Tansu's memory engine lists a partition's stored batches from the first one on every fetch and
stops when the wait runs out: the time grows with the number of batches the partition ever held.)
Apache Kafka answers as soon as data is there, so with it the wait stays where it was set.

:class:`AdaptiveFetchWait` holds the wait: it doubles when a fetch comes back *starved* (a
partition whose high-water mark is past the fetch offset got no records, for the second response
in a row at that offset), up to a ceiling, and
relaxes slowly back towards the configured wait with every fetch that starves nothing (one that
brings records, or finds a partition caught up).

>>> wait = AdaptiveFetchWait(20, ceiling_ms=100)
>>> [wait.observe(starved=True, delivered=False) for _ in range(4)]
[40, 80, 100, 100]
>>> wait.starved_fetches, wait.at_ceiling
(4, True)
>>> wait.observe(starved=False, delivered=True)
99
>>> for _ in range(1000):
...     ms = wait.observe(starved=False, delivered=False)  # caught up: nothing more to read
>>> ms
20
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiokafka.consumer.fetcher import Fetcher
from aiokafka.structs import TopicPartition

#: faust-streaming's own fetch wait for its consumers: the wait never grows beyond it.
FETCH_WAIT_CEILING_MS = 1500
#: Each fetch that starves nothing moves the wait this share back to the floor: slowly, so that a
#: wait the broker needs is not given up after a few fetches only to starve again.
RELAX = 0.99

log = logging.getLogger(__name__)


class AdaptiveFetchWait:
    """The fetch wait in milliseconds, never below ``floor_ms`` (the setting) nor above the ceiling."""

    def __init__(self, floor_ms: int, ceiling_ms: int = FETCH_WAIT_CEILING_MS, relax: float = RELAX) -> None:
        self.floor_ms = int(floor_ms)
        self.ceiling_ms = max(int(ceiling_ms), self.floor_ms)
        self.relax = relax
        self._ms = float(self.floor_ms)
        self.starved_fetches = 0  # fetches answered without records a partition had
        self.fetches = 0
        self.fetches_with_records = 0
        self.highest_ms = self.floor_ms

    @property
    def ms(self) -> int:
        return round(self._ms)

    @property
    def at_ceiling(self) -> bool:
        return self.ms >= self.ceiling_ms

    def observe(self, *, starved: bool, delivered: bool) -> int:
        """Account for one fetch response; return the wait for the next fetch. ``delivered``
        (records came) is counted for :meth:`describe`; a starved partition outweighs it."""
        self.fetches += 1
        self.fetches_with_records += bool(delivered)
        if starved:
            self.starved_fetches += 1
            self._ms = min(float(self.ceiling_ms), max(self._ms * 2, self.floor_ms * 2.0))
            self.highest_ms = max(self.highest_ms, self.ms)
        else:
            self._ms = max(float(self.floor_ms), self._ms * self.relax)
        return self.ms

    def describe(self) -> dict:
        return {"ms": self.ms, "configured_ms": self.floor_ms, "ceiling_ms": self.ceiling_ms,
                "highest_ms": self.highest_ms, "fetches": self.fetches, "fetches_with_records": self.fetches_with_records,
                "starved_fetches": self.starved_fetches}


class AdaptiveWaitFetcher(Fetcher):
    """aiokafka's fetcher with its fetch wait set from an :class:`AdaptiveFetchWait` after every
    response. Installed on a started consumer's fetcher by :func:`install` (aiokafka builds its
    fetcher inside ``start()``, with no hook to choose its class); the fetcher reads
    ``_fetch_max_wait_ms`` each time it builds a request."""

    fetch_wait: AdaptiveFetchWait
    _starved_at: dict  # partition -> the offset its last response left it starved at

    async def _proc_fetch_request(self, assignment: Any, node_id: int, request: Any) -> bool:
        asked_at_ms = int(1000 * time.time())
        result = await super()._proc_fetch_request(assignment, node_id, request)
        if assignment.active:
            starved, delivered = self._outcome(assignment, request, asked_at_ms)
            wait = self.fetch_wait
            self._fetch_max_wait_ms = wait.observe(starved=starved, delivered=delivered)
            if starved and wait.at_ceiling and wait.starved_fetches % 100 == 1:
                log.warning("the broker keeps answering fetches without the records it has, even with a %d ms "
                            "fetch wait (%d such fetches so far): consuming is stalled", wait.ms, wait.starved_fetches)
        return result

    def _outcome(self, assignment: Any, request: Any, asked_at_ms: int) -> tuple[bool, bool]:
        # A partition counts as starved only when two responses in a row left it empty at the same
        # offset with the high-water mark beyond it: once alone is also what a fetch that found
        # nothing and was answered just as new records arrived looks like (seen several times a
        # minute at 5,000 events/s); the broker's stall repeats at the same offset for good.
        starved_at = self._starved_at
        starved = delivered = False
        for topic, partitions in request.topics:
            for partition, offset, _max_bytes in partitions:
                tp = TopicPartition(topic, partition)
                if tp in self._records:  # a partition with records buffered is not fetched: these are new
                    delivered = True
                    starved_at.pop(tp, None)
                    continue
                state = assignment.state_value(tp)
                # Only a partition this response answered without error (it stamps the time) and
                # whose position it did not move counts; the high-water mark is the response's own.
                if (state is not None and state.timestamp is not None and state.timestamp >= asked_at_ms
                        and state.has_valid_position and state.position == offset
                        and state.highwater is not None and state.highwater > offset):
                    if starved_at.get(tp) == offset:
                        starved = True
                    starved_at[tp] = offset
                else:
                    starved_at.pop(tp, None)
        return starved, delivered


def install(consumer: Any, fetch_wait: AdaptiveFetchWait) -> None:
    """Make a started aiokafka consumer's fetcher adapt its wait with ``fetch_wait``."""
    fetcher = consumer._fetcher
    fetcher.fetch_wait = fetch_wait
    fetcher._starved_at = {}
    fetcher._fetch_max_wait_ms = fetch_wait.ms
    fetcher.__class__ = AdaptiveWaitFetcher
