"""The pending store against a real redis-server: entries with their TTL, lookup, forget, counters."""

from __future__ import annotations

import asyncio
import json
import time

import redis.asyncio as aioredis

from stream.learning import LabelJoiner
from stream.learning import pending as pending_module
from stream.learning.pending import PendingStore
from stream.serving.scoring import Message, Scored


def scored(i: int, model: str = "pending-test") -> Scored:
    return Scored(f"pend-{i}", model, 3, None, {"x": float(i), "c": "a"}, i % 2, 1000.0 + i, None)


def run(coro_factory, redis_url: str):
    async def main():
        client = aioredis.Redis.from_url(redis_url)
        try:
            return await coro_factory(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_remember_lookup_forget(stack, stack_settings):
    async def scenario(client):
        store = PendingStore(client, "pending-unit-1", ttl_seconds=600, max_entries=10_000, grace_seconds=1)
        stored = await store.remember([scored(i) for i in range(300)])
        ttl = await client.ttl(store.ns + "e:pend-7")
        found = await store.lookup(["pend-7", "pend-299", "never-scored"])
        await store.forget([("pend-7", found[0])])
        after = await store.lookup(["pend-7", "pend-8"])
        return stored, ttl, found, after, await store.stats()

    stored, ttl, found, after, stats = run(scenario, stack_settings.redis_url)
    assert stored == 300
    assert 590 <= ttl <= 600
    assert found[0]["m"] == "pending-test" and found[0]["v"] == 3 and found[0]["f"] == {"x": 7.0, "c": "a"}
    assert found[0]["p"] == 1 and found[0]["t"] == 1007.0
    assert found[1]["f"]["x"] == 299.0 and found[2] is None
    assert after[0] is None and after[1]["f"]["x"] == 8.0
    assert stats["stored"] == 300 and stats["matched"] == 1


def test_full_store_counts_dropped(stack, stack_settings):
    async def scenario(client):
        store = PendingStore(client, "pending-unit-2", ttl_seconds=600, max_entries=100, grace_seconds=1)
        await store.remember([scored(i) for i in range(150)])
        await store.account()
        dropped = await store.remember([scored(i) for i in range(150, 160)])
        return store.full, dropped, await store.lookup(["pend-155"]), await store.stats()

    full, dropped, found, stats = run(scenario, stack_settings.redis_url)
    assert full and dropped == 0 and found == [None]
    assert stats["open"] == 150 and stats["dropped_full"] == 10


def test_held_labels_are_leased_not_taken(stack, stack_settings, monkeypatch):
    """A worker that dies between claiming held labels and sending their examples loses none:
    another worker retries them when the lease ends; a live lease keeps the others off."""
    monkeypatch.setattr(pending_module, "LEASE_SECONDS", 0.5)

    async def scenario(client):
        first = PendingStore(client, "pending-unit-3", ttl_seconds=600, max_entries=100, grace_seconds=60)
        second = PendingStore(client, "pending-unit-3", ttl_seconds=600, max_entries=100, grace_seconds=60)
        await first.hold([{"id": f"early-{i}", "label": i % 2 == 0, "model": None} for i in range(3)])
        give_up = time.time() + 3600  # every label may be finished (given up), whether its event came or not
        claimed_by_first = await first.claim_held(give_up_through=give_up)
        while_leased = await second.claim_held(give_up_through=give_up)
        await asyncio.sleep(0.7)  # the first worker died without releasing: its lease ends
        claimed_by_second = await second.claim_held(give_up_through=give_up)
        done = [m for m, label, _ in claimed_by_second if label["id"] != "early-1"]
        waiting = [m for m, label, _ in claimed_by_second if label["id"] == "early-1"]
        await second.release_held(done, waiting)
        claimed_again = await first.claim_held(give_up_through=give_up)  # the waiting label's lease was released at once
        return claimed_by_first, while_leased, claimed_by_second, claimed_again, await first.stats()

    first, while_leased, second, again, stats = run(scenario, stack_settings.redis_url)
    assert sorted(label["id"] for _, label, _ in first) == ["early-0", "early-1", "early-2"]
    assert while_leased == []
    assert sorted(label["id"] for _, label, _ in second) == ["early-0", "early-1", "early-2"]
    assert [label["id"] for _, label, _ in again] == ["early-1"]
    assert stats["held_now"] == 1 and stats["labels_held"] == 3


def test_only_held_labels_a_retry_can_finish_are_leased(stack, stack_settings):
    """While the scorers work through a backlog most held labels wait for their events: a claim
    leases only those whose prediction is remembered, already joined, or past the cutoff for
    giving up; a claim that finds none looks further along the held list the next time."""
    async def scenario(client):
        store = PendingStore(client, f"pending-unit-6-{time.time_ns()}", ttl_seconds=600, max_entries=100, grace_seconds=60)
        await store.hold([{"id": f"wait-{i}", "label": 1, "model": None} for i in range(50)])
        odd_id = 'pend-\u00e9"5'  # escaped in the held member's JSON
        await store.hold([{"id": "pend-3", "label": 1, "model": None}, {"id": "pend-4", "label": 0, "model": None},
                          {"id": odd_id, "label": 0, "model": None}])
        nothing_ready = await store.claim_held()
        await store.remember([scored(3)])
        await store.forget([("pend-3", (await store.lookup(["pend-3"]))[0])])  # joined: j:pend-3
        await store.remember([scored(4), Scored(odd_id, "pending-test", 3, None, {"x": 5.0}, 1, 1005.0, None)])
        # The three ready labels are the last three of 53 held (the latest deadlines).
        claims = [await store.claim_held(limit=10, scan=20) for _ in range(3)]
        again = await store.claim_held(limit=10, scan=100)  # leased by the third claim
        past_cutoff = await store.claim_held(limit=5, give_up_through=time.time() + 3600)
        return nothing_ready, claims, again, past_cutoff

    nothing_ready, claims, again, past_cutoff = run(scenario, stack_settings.redis_url)
    assert nothing_ready == []
    assert claims[0] == [] and claims[1] == []
    assert sorted(label["id"] for _, label, _ in claims[2]) == ["pend-3", "pend-4", 'pend-\u00e9"5']
    assert again == []
    past = {label["id"] for _, label, _ in past_cutoff}  # same deadline: Redis orders them by member
    assert len(past) == 5 and all(i.startswith("wait-") for i in past)


def test_a_held_label_becomes_an_example_once_its_event_is_remembered(stack, stack_settings):
    async def scenario(client):
        store = PendingStore(client, "pending-unit-4", ttl_seconds=600, max_entries=100, grace_seconds=60)
        joiner = LabelJoiner(store, max_bytes=10_000)
        label = Message(b"pend-1", json.dumps({"id": "pend-1", "label": 1}).encode(), "labels", 0, 0)
        examples = (await joiner.join([label])).examples  # before its event: held
        early = await joiner.retry_held()
        await joiner.finish_held(early)
        await store.remember([scored(1, model="pending-join")])
        late = await joiner.retry_held()
        await joiner.finish_held(late)
        return examples, early, late, await store.lookup(["pend-1"]), await store.stats()

    examples, early, late, found, stats = run(scenario, stack_settings.redis_url)
    assert examples == [] and early.examples == [] and early.waiting == []  # not even leased: its event has not come
    assert len(late.examples) == 1 and late.examples[0][0] == b"pending-join"
    assert json.loads(late.examples[0][1])["label"] == 1 and json.loads(late.examples[0][1])["features"]["x"] == 1.0
    assert found == [None]  # forgotten once the example was out
    assert stats["held_now"] == 0 and stats["labels_matched_late"] == 1


def test_a_label_delivered_again_after_its_example_is_passed_over_not_dead_lettered(stack, stack_settings):
    async def scenario(client):
        store = PendingStore(client, "pending-unit-5", ttl_seconds=600, max_entries=100, grace_seconds=0)
        joiner = LabelJoiner(store, max_bytes=10_000, labels_topic="prod-labels")
        await store.remember([scored(1, model="pending-replay"), scored(2, model="pending-replay")])
        label = Message(b"pend-1", json.dumps({"id": "pend-1", "label": 1}).encode(), "labels", 0, 0)
        first = await joiner.join([label])
        await store.forget(first.matched)
        # The same batch again, as after a crash before its offsets were committed.
        again = await joiner.join([label])
        # A label for an event never scored is still held, and dead-lettered after the grace.
        never = Message(b"pend-9", json.dumps({"id": "pend-9", "label": 0}).encode(), "labels", 0, 1)
        await joiner.join([never])
        retry = await joiner.retry_held()
        await joiner.finish_held(retry)
        return first, again, retry, await store.stats()

    first, again, retry, stats = run(scenario, stack_settings.redis_url)
    assert len(first.examples) == 1 and again.examples == [] and again.deadletters == []
    assert [json.loads(v)["reason"] for _, v in retry.unmatched] == ["unmatched_label"]
    assert retry.unmatched[0][0] == b"pend-9"
    assert json.loads(retry.unmatched[0][1])["topic"] == "prod-labels"  # where it came from, prefix and all
    assert stats["labels_held"] == 1  # only the label of the event never scored


def test_a_label_naming_another_model_than_its_event_s_is_dead_lettered_and_the_event_waits_for_its_own(stack, stack_settings):
    async def scenario(client):
        store = PendingStore(client, f"pending-unit-6-{time.time_ns()}", ttl_seconds=600, max_entries=100, grace_seconds=60)
        joiner = LabelJoiner(store, max_bytes=10_000)
        await store.remember([scored(1, model="pending-a")])
        wrong = Message(b"pend-1", json.dumps({"id": "pend-1", "label": 1, "model": "pending-b"}).encode(), "labels", 0, 0)
        mismatched = await joiner.join([wrong])
        right = Message(b"pend-1", json.dumps({"id": "pend-1", "label": 1, "model": "pending-a"}).encode(), "labels", 0, 1)
        matched = await joiner.join([right])
        # The same for a label held before its event: judged when the event comes.
        early = Message(b"pend-2", json.dumps({"id": "pend-2", "label": 0, "model": "pending-b"}).encode(), "labels", 0, 2)
        await joiner.join([early])
        await store.remember([scored(2, model="pending-a")])
        retry = await joiner.retry_held()
        await joiner.finish_held(retry)
        return mismatched, matched, retry, await store.lookup(["pend-2"]), await store.stats()

    mismatched, matched, retry, still, stats = run(scenario, stack_settings.redis_url)
    assert mismatched.examples == [] and mismatched.matched == []
    [(key, value)] = mismatched.deadletters
    record = json.loads(value)
    assert key == b"pend-1" and record["reason"] == "model_mismatch" and "'pending-a'" in record["detail"]
    assert record["id"] == "pend-1" and record["model"] == "pending-b"
    assert len(matched.examples) == 1 and matched.examples[0][0] == b"pending-a"  # the right label still joins
    assert retry.examples == [] and [json.loads(v)["reason"] for _, v in retry.unmatched] == ["model_mismatch"]
    assert still[0] is not None  # its event still waits for its own label
    assert stats.get("labels_unmatched", 0) == 0 and stats["held_now"] == 0


def test_a_label_its_model_cannot_take_is_refused_at_the_join_and_the_event_waits_for_a_good_one(stack, stack_settings):
    from stream.model.schema import InvalidInput

    def check(model, label):
        if label not in (0, 1):
            raise InvalidInput("invalid_label", f"label {label!r} is not one of the model's classes (0, 1)")
        return label

    async def scenario(client):
        store = PendingStore(client, f"pending-unit-7-{time.time_ns()}", ttl_seconds=600, max_entries=100, grace_seconds=60)
        joiner = LabelJoiner(store, max_bytes=10_000, label_check=check)
        await store.remember([scored(1, model="pending-c")])
        bad = Message(b"pend-1", json.dumps({"id": "pend-1", "label": 7}).encode(), "labels", 0, 0)
        refused = await joiner.join([bad])
        good = Message(b"pend-1", json.dumps({"id": "pend-1", "label": 1}).encode(), "labels", 0, 1)
        joined = await joiner.join([good])
        early = Message(b"pend-2", json.dumps({"id": "pend-2", "label": 9}).encode(), "labels", 0, 2)
        await joiner.join([early])
        await store.remember([scored(2, model="pending-c")])
        retry = await joiner.retry_held()
        await joiner.finish_held(retry)
        return refused, joined, retry, await store.lookup(["pend-2"])

    refused, joined, retry, still = run(scenario, stack_settings.redis_url)
    [(key, value)] = refused.deadletters
    record = json.loads(value)
    assert refused.examples == [] and (key, record["reason"], record["id"], record["model"]) == (b"pend-1", "invalid_label", "pend-1", "pending-c")
    assert len(joined.examples) == 1 and json.loads(joined.examples[0][1])["label"] == 1
    assert retry.examples == [] and [json.loads(v)["reason"] for _, v in retry.unmatched] == ["invalid_label"]
    assert still[0] is not None  # the held label was refused; its event still waits for a good one


def test_a_prediction_made_again_after_its_label_was_joined_is_not_remembered_again(stack, stack_settings):
    """After a rebalance the group repeats the events since its last commit (at-least-once): a
    repeated prediction whose label already became an example would wait for a label that came
    already, and count as expired."""
    async def scenario(client):
        store = PendingStore(client, f"pending-unit-8-{time.time_ns()}", ttl_seconds=600, max_entries=100, grace_seconds=60)
        joiner = LabelJoiner(store, max_bytes=10_000)
        await store.remember([scored(1), scored(2)])
        joined = await joiner.join([Message(b"pend-1", json.dumps({"id": "pend-1", "label": 1}).encode(), "labels", 0, 0)])
        await store.forget(joined.matched)
        again = await store.remember([scored(1), scored(2), scored(3)])  # 1's label came; 2 still waits
        return again, await store.lookup(["pend-1", "pend-2", "pend-3"]), await store.stats()

    again, found, stats = run(scenario, stack_settings.redis_url)
    assert again == 2 and found[0] is None and found[1] is not None and found[2] is not None
    assert stats["stored"] == 4 and stats["repeated_after_label"] == 1
