"""Which fetch responses count as starved (``stream/transport/fetchwait.py``): a unit test of the
rule on stand-ins for aiokafka's assignment; the integration test shows it on the real broker."""

from __future__ import annotations

import time
from types import SimpleNamespace

from aiokafka.structs import TopicPartition

from stream.transport.fetchwait import AdaptiveFetchWait, AdaptiveWaitFetcher

TOPIC = "events"


class Assignment:
    """What ``_outcome`` reads of aiokafka's assignment: each partition's state after a response."""

    def __init__(self) -> None:
        self.states: dict[TopicPartition, SimpleNamespace] = {}

    def answer(self, partition: int, position: int, highwater: int) -> None:
        self.states[TopicPartition(TOPIC, partition)] = SimpleNamespace(
            timestamp=int(1000 * time.time()), has_valid_position=True, position=position, highwater=highwater)

    def state_value(self, tp: TopicPartition) -> SimpleNamespace | None:
        return self.states.get(tp)


def fetcher() -> AdaptiveWaitFetcher:
    made = object.__new__(AdaptiveWaitFetcher)  # only the rule's own state; no consumer behind it
    made._records = {}
    made._starved_at = {}
    made.fetch_wait = AdaptiveFetchWait(20)
    return made


def request(*offsets: tuple[int, int]) -> SimpleNamespace:
    return SimpleNamespace(topics=[(TOPIC, [(partition, offset, 1 << 20) for partition, offset in offsets])])


def asked() -> int:
    return int(1000 * time.time()) - 1


def test_a_single_empty_response_with_the_high_water_mark_ahead_is_not_starvation():
    # A fetch that found nothing and was answered as new records arrived looks like this once.
    the_fetcher, assignment = fetcher(), Assignment()
    assignment.answer(0, position=100, highwater=105)
    assert the_fetcher._outcome(assignment, request((0, 100)), asked()) == (False, False)


def test_the_same_offset_left_empty_twice_in_a_row_is_starvation():
    the_fetcher, assignment = fetcher(), Assignment()
    assignment.answer(0, position=100, highwater=105)
    the_fetcher._outcome(assignment, request((0, 100)), asked())
    assignment.answer(0, position=100, highwater=110)
    assert the_fetcher._outcome(assignment, request((0, 100)), asked()) == (True, False)


def test_progress_between_two_empty_responses_resets_the_count():
    the_fetcher, assignment = fetcher(), Assignment()
    assignment.answer(0, position=100, highwater=105)
    the_fetcher._outcome(assignment, request((0, 100)), asked())
    assignment.answer(0, position=105, highwater=105)  # records came: position moved, caught up
    assert the_fetcher._outcome(assignment, request((0, 100)), asked()) == (False, False)
    assignment.answer(0, position=105, highwater=110)
    assert the_fetcher._outcome(assignment, request((0, 105)), asked()) == (False, False)


def test_a_partition_with_buffered_records_counts_as_delivered():
    the_fetcher, assignment = fetcher(), Assignment()
    the_fetcher._records[TopicPartition(TOPIC, 1)] = object()
    assignment.answer(0, position=100, highwater=100)  # caught up
    assert the_fetcher._outcome(assignment, request((0, 100), (1, 7)), asked()) == (False, True)


def test_a_caught_up_partition_is_never_starved():
    the_fetcher, assignment = fetcher(), Assignment()
    for _ in range(3):
        assignment.answer(0, position=100, highwater=100)
        assert the_fetcher._outcome(assignment, request((0, 100)), asked()) == (False, False)
