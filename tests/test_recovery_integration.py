"""Crashes and scale-out on the real stack: SIGKILL mid-stream, two workers with one killed,
expiry and unmatched labels. Each test runs its own consumer group on its own topics."""

from __future__ import annotations

import dataclasses
import json
import signal
import threading
import time

import pytest
from conftest import free_port
from learning_helpers import KEY, replay_learner, snapshot_model, wait_learned

from stream.dev.outputs import OutputWatcher
from stream.dev.replay import event_ids, make_producer, new_run_id, replay
from stream.dev.workerproc import WorkerProcess
from stream.model import artifact
from stream.training.datasets import load_dataset
from stream.training.trainer import train
from stream.transport.topics import ensure_topics

pytestmark = pytest.mark.integration


def own_group(stack_settings, tmp_path, tag: str, **overrides):
    settings = dataclasses.replace(
        stack_settings, topic_prefix=f"{tag}-", app_id=f"driftline-{tag}", state_dir=str(tmp_path / tag),
        session_timeout_seconds=8.0, snapshot_every_examples=250, snapshot_every_seconds=1.0, **overrides,
    )
    ensure_topics(settings)
    return settings


def start_worker(settings, tmp_path, name: str) -> WorkerProcess:
    settings = dataclasses.replace(settings, web_port=free_port())
    return WorkerProcess(settings, tmp_path / f"{name}.log").start()


def deploy(registry, name: str, dataset: str = "bananas", spec: str = "logreg"):
    trained = train(load_dataset(dataset, limit=500), spec, name, holdout=0.5)
    blob = artifact.dumps(trained, KEY)
    return registry.register(blob, trained.metadata, alias="champion"), blob


def test_sigkill_mid_stream_recovers_to_the_same_model_as_without_a_crash(stack, stack_settings, registry, tmp_path):
    settings = own_group(stack_settings, tmp_path, "kill")
    version, blob = deploy(registry, "r4-kill")
    data = load_dataset("bananas")
    n = 6000
    first = start_worker(settings, tmp_path, "first")
    second = None
    try:
        first.wait_ready(180)
        run_id = new_run_id()
        sender = threading.Thread(target=replay, args=(settings, data.rows, data.targets, "r4-kill"),
                                  kwargs=dict(limit=n, label_delay=200, rate=600, run_id=run_id))
        sender.start()
        wait_learned(registry, "r4-kill", 1500, timeout=120)
        first.kill()  # SIGKILL: no shutdown, no final commit, no final snapshot
        second = start_worker(settings, tmp_path, "second")
        sender.join()
        info = wait_learned(registry, "r4-kill", n, timeout=240)
        assert info["n_learned"] == n  # every example learned exactly once

        expected = replay_learner(settings, blob, version, "r4-kill")
        assert expected.n_learned == n
        _, recovered = snapshot_model(registry, "r4-kill")
        for row in data.rows[:300]:
            assert recovered.predict_proba_one(row) == expected.model.predict_proba_one(row)

        watcher = OutputWatcher(settings, run_id)
        assert watcher.wait_for(n, 120), f"{n - watcher.total} events without a prediction or dead letter"
        assert set(watcher.predictions) | set(watcher.deadletters) == set(event_ids(run_id, n))
        print(f"after SIGKILL: {watcher.duplicates} duplicate outputs, {info['duplicates_skipped']} duplicate examples skipped")
        watcher.close()
    finally:
        first.kill()
        if second is not None:
            second.stop()


def test_a_worker_stopped_mid_stream_exits_by_itself_and_its_successor_loses_and_repeats_nothing(
        stack, stack_settings, registry, tmp_path):
    # On SIGTERM Faust waits until every event taken is acknowledged. The learner and the drift
    # monitor acknowledge at a snapshot or a checkpoint; events they took after the stop hooks ran
    # used to wait for timers that no longer ran, and the stop hung until it was killed.
    settings = own_group(stack_settings, tmp_path, "term")
    deploy(registry, "r4-term")
    data = load_dataset("bananas")
    n = 4000
    first = start_worker(settings, tmp_path, "term-first")
    second = None
    run_id = new_run_id()
    watcher = OutputWatcher(settings, run_id)
    try:
        first.wait_ready(180)
        sender = threading.Thread(target=replay, args=(settings, data.rows, data.targets, "r4-term"),
                                  kwargs=dict(limit=n, label_delay=200, rate=500, run_id=run_id))
        sender.start()
        assert watcher.wait_for(1000, 120), f"{watcher.total} of the first 1,000 events scored"
        stopped = first.stop(timeout=120)  # SIGTERM mid-stream: events and labels keep arriving
        assert stopped, f"the worker did not stop on SIGTERM within 120 s; log:\n{first.log_tail()}"
        assert first.process.returncode == 0, first.log_tail()
        second = start_worker(settings, tmp_path, "term-second")
        sender.join()
        assert watcher.wait_for(n, 180), f"{n - watcher.total} events without a prediction or dead letter"
        assert set(watcher.predictions) | set(watcher.deadletters) == set(event_ids(run_id, n))
        # What the stopped worker answered, it acknowledged and committed: nothing is scored twice.
        assert watcher.duplicates == 0, f"{watcher.duplicates} events scored twice across the stop"
        info = wait_learned(registry, "r4-term", n, timeout=180)
        assert info["n_learned"] == n  # nothing learned twice across the stop
    finally:
        watcher.close()
        first.kill()
        if second is not None:
            second.stop()


def test_two_workers_share_the_load_and_survive_losing_one(stack, stack_settings, registry, tmp_path):
    settings = own_group(stack_settings, tmp_path, "duo")
    models = ["r4-duo-a", "r4-duo-b", "r4-duo-c"]
    for name in models:
        deploy(registry, name)
    data = load_dataset("bananas")
    workers = [start_worker(settings, tmp_path, f"duo-{i}") for i in range(2)]
    try:
        for w in workers:
            w.wait_ready(180)
        # Both hold partitions; each model's learner lives on exactly one worker.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            healths = [w.health() for w in workers]
            if all(h and h["assigned_partitions"] for h in healths):
                break
            time.sleep(1)
        assert all(h["assigned_partitions"] for h in healths), "one worker holds no partition"

        run_id = new_run_id()
        per_model = 1500
        producer = make_producer(settings)

        def send(start: int, stop: int) -> None:
            for i in range(start, stop):
                for name in models:
                    event_id = f"{run_id}-{name}-{i}"
                    event = {"id": event_id, "model": name, "features": data.rows[i]}
                    producer.send(settings.topic("events"), key=event_id.encode(), value=json.dumps(event).encode())
                    label = {"id": event_id, "label": data.targets[i]}
                    producer.send(settings.topic("labels"), key=event_id.encode(), value=json.dumps(label).encode())
            producer.flush()

        send(0, per_model // 2)
        for name in models:
            wait_learned(registry, name, 1, timeout=60)
        owners = [h["learners"] for h in (w.health() for w in workers)]
        for name in models:
            assert sum(f"{name}/champion" in learners for learners in owners) == 1, owners

        workers[0].kill()
        send(per_model // 2, per_model)
        producer.close()
        for name in models:
            info = wait_learned(registry, name, per_model, timeout=240)
            assert info["n_learned"] == per_model
        survivor = workers[1].health()
        assert {f"{name}/champion" for name in models} <= set(survivor["learners"])
        assert survivor["training_offsets_missed"] == 0  # it received every offset of the partitions it took over

        watcher = OutputWatcher(settings, run_id)
        expected = per_model * len(models)
        assert watcher.wait_for(expected, 120), f"{expected - watcher.total} events without a prediction or dead letter"
        print(f"two workers, one killed: {watcher.duplicates} duplicate predictions")
        watcher.close()
    finally:
        for w in workers:
            w.kill()


def test_expired_predictions_and_unmatched_labels_are_counted_and_dead_lettered(stack, stack_settings, registry, tmp_path):
    settings = own_group(stack_settings, tmp_path, "expiry", pending_ttl_seconds=3.0, label_grace_seconds=1.0)
    deploy(registry, "r4-expiry")
    data = load_dataset("bananas")
    worker = start_worker(settings, tmp_path, "expiry")
    try:
        worker.wait_ready(180)
        run_id = new_run_id()
        replay(settings, data.rows, None, "r4-expiry", limit=100, run_id=run_id)  # labels never come
        watcher = OutputWatcher(settings, run_id)
        assert watcher.wait_for(100, 60)
        watcher.close()

        orphan_id = new_run_id()
        producer = make_producer(settings)
        for i in range(5):  # labels for events that never existed
            label = {"id": f"{orphan_id}-{i}", "label": True, "model": "r4-expiry"}
            producer.send(settings.topic("labels"), key=label["id"].encode(), value=json.dumps(label).encode())
        producer.flush()
        producer.close()
        letters = OutputWatcher(settings, orphan_id)
        assert letters.wait_for(5, 60)
        letters.close()
        assert set(letters.reasons()) == {"unmatched_label"}
        assert worker.health(timeout=30)["agents"]["labels"]["deadlettered"].get("unmatched_label") == 5

        import redis

        client = redis.Redis.from_url(settings.redis_url)
        deadline = time.monotonic() + 60
        stats = {}
        while time.monotonic() < deadline:
            stats = {k.decode(): int(v) for k, v in client.hgetall(f"driftline:{settings.app_id}:pending:stats").items()}
            if stats.get("expired", 0) >= 100:
                break
            time.sleep(1)
        assert stats.get("expired") == 100, stats
        assert stats.get("labels_unmatched") == 5 and stats.get("stored") == 100
    finally:
        worker.stop()


def test_redis_outage_keeps_scoring_shows_in_health_and_catches_up(stack, stack_settings, registry, tmp_path):
    """redis-server frozen (SIGSTOP): connections hang rather than fail, the harder case."""
    import os

    settings = own_group(stack_settings, tmp_path, "outage", model_refresh_seconds=0.5)
    name = "r4-outage"
    v1, _ = deploy(registry, name)
    data = load_dataset("bananas")
    worker = start_worker(settings, tmp_path, "outage")
    redis_pid = int((stack_settings.state_path / "run" / "redis.pid").read_text())
    try:
        worker.wait_ready(180, models=[name])
        os.kill(redis_pid, signal.SIGSTOP)
        try:
            run_id = new_run_id()
            replay(settings, data.rows, data.targets, name, limit=300, label_delay=20, run_id=run_id)
            watcher = OutputWatcher(settings, run_id)
            assert watcher.wait_for(300, 90), f"{300 - watcher.total} events unscored while Redis was away"
            assert {p["version"] for p in watcher.predictions.values()} == {v1}
            watcher.close()
            health = None
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                health = worker.health(timeout=5)
                if health and not health["redis"]["ok"] and not health["registry_refresh"]["ok"]:
                    break
                time.sleep(0.5)
            assert health["status"] == "degraded" and not health["redis"]["ok"], health
            assert not health["registry_refresh"]["ok"] and health["models"], health
            assert health["pending"]["not_remembered_here"] > 0, health["pending"]
        finally:
            os.kill(redis_pid, signal.SIGCONT)

        # Back: the registry is followed again and a new champion is hot-swapped in.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (worker.health() or {}).get("status") != "ok":
            time.sleep(0.5)
        assert worker.health()["status"] == "ok"
        v2, _ = deploy(registry, name, dataset="bananas", spec="gaussian-nb")
        deployed_at = time.monotonic()
        swap_seconds = None
        while time.monotonic() < deployed_at + 30:
            if worker.health()["models"].get(name, {}).get("loaded_version") == v2:
                swap_seconds = time.monotonic() - deployed_at
                break
            time.sleep(0.1)
        assert swap_seconds is not None, "the new champion was not picked up"
        print(f"new champion picked up {swap_seconds:.1f} s after deploy (refresh every {settings.model_refresh_seconds} s)")
        run_id = new_run_id()
        replay(settings, data.rows, data.targets, name, limit=200, label_delay=20, run_id=run_id)
        watcher = OutputWatcher(settings, run_id)
        assert watcher.wait_for(200, 60)
        assert {p["version"] for p in watcher.predictions.values()} == {v2}
        watcher.close()
        try:
            info = wait_learned(registry, name, 1, timeout=60)
        except AssertionError:  # say why: were the predictions remembered, the labels matched?
            import redis

            client = redis.Redis.from_url(settings.redis_url)
            print("pending stats:", client.hgetall(f"driftline:{settings.app_id}:pending:stats"))
            print("health:", json.dumps(worker.health())[:3000])
            raise
        assert info["version"] == v2
    finally:
        worker.stop()


def test_labels_ahead_of_a_lagging_scorer_wait_for_their_events_past_the_grace(stack, stack_settings, registry, tmp_path):
    """A backlog: the events and then their labels (last event's label first) are on the broker
    before the worker starts, so labels reach the join long before the scorer reaches their events,
    far beyond a grace of half a second. Each must wait for its event, not be dead-lettered."""
    settings = own_group(stack_settings, tmp_path, "backlog", label_grace_seconds=0.5)
    name = "r4-backlog"
    deploy(registry, name)
    data = load_dataset("bananas")
    n = 20_000
    run_id = new_run_id()
    replay(settings, data.rows, None, name, limit=n, run_id=run_id)
    producer = make_producer(settings)
    for i in reversed(range(n)):
        label = {"id": f"{run_id}-{i}", "label": data.targets[i % len(data.targets)], "model": name}
        producer.send(settings.topic("labels"), key=label["id"].encode(), value=json.dumps(label).encode())
    producer.flush()
    producer.close()

    worker = start_worker(settings, tmp_path, "backlog")
    try:
        worker.wait_ready(180)
        info = wait_learned(registry, name, n, timeout=240)
        assert info["n_learned"] == n and info["duplicates_skipped"] == 0
        import redis

        stats = {k.decode(): int(v) for k, v in
                 redis.Redis.from_url(settings.redis_url).hgetall(f"driftline:{settings.app_id}:pending:stats").items()}
        # The scorer did lag: labels were held, past the grace, and still every one was learned.
        assert stats.get("labels_held", 0) > 0 and stats.get("labels_matched_late", 0) == stats["labels_held"], stats
        assert stats.get("labels_unmatched", 0) == 0, stats
    finally:
        worker.stop()
