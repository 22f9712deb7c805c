"""The served model follows the learner: snapshots are published at their own cadence and pushed
to the scorers through Redis pub/sub, and a burst of labels changes the served answers.

The speed itself is measured by benchmarks/adaptation.py; these tests check the mechanism, with
bounds a loaded CI machine meets.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import pytest
from learning_helpers import KEY, wait_learned

from stream.dev.outputs import OutputWatcher
from stream.dev.replay import make_producer, new_run_id
from stream.learning import Learners, ModelLearner
from stream.model import artifact
from stream.registry import Registry
from stream.registry.redis_client import async_redis_client
from stream.serving.model_cache import ModelCache
from stream.training.datasets import load_dataset
from stream.training.trainer import train

META = {"name": "m", "task": "binary_classification", "classes": [False, True], "schema": {"features": {"x": "number"}}}


def learner_model():
    from river import linear_model, preprocessing

    return preprocessing.StandardScaler() | linear_model.LogisticRegression()


class RecordingRegistry:
    """Records what the learners write (publish or checkpoint)."""

    def __init__(self):
        self.writes: list[tuple[str, int, bool]] = []  # (alias, n_learned, with state)

    def publish_snapshot(self, name, alias, version, data, info, state=None):
        self.writes.append((alias, info["n_learned"], state is not None))
        return len(self.writes)


class FakeEvent:
    def __init__(self, value: bytes, offset: int):
        from stream.transport.messages import Message

        self.message = Message(b"m", value, "training", 0, offset)
        self.acked = False

    def ack(self):
        self.acked = True


def example(i: int) -> FakeEvent:
    return FakeEvent(json.dumps({"id": f"e{i}", "model": "m", "version": 1, "features": {"x": float(i % 10)},
                                 "label": i % 10 > 4}).encode(), i)


def test_learners_publish_at_their_own_cadence_and_checkpoint_with_state_and_acks():
    registry = RecordingRegistry()
    learners = Learners(lambda: registry, None, True, every_examples=100, every_seconds=60, window=50,
                        publish_min_examples=5, publish_min_seconds=0.2)
    learners.learners[("m", "champion")] = ModelLearner("m", "champion", 1, META, learner_model())
    learners.partition_of["m"] = 0

    async def scenario():
        events = [example(i) for i in range(3)]
        await learners.learn_batch(events)
        assert learners.publish_due() == []  # 3 < publish_min_examples
        more = [example(i) for i in range(3, 8)]
        await learners.learn_batch(more)
        assert learners.publish_due() == ["m"]
        await learners.publish("m")
        assert registry.writes == [("champion", 8, False)]  # the model only: no state, no acks
        assert not any(e.acked for e in events + more)
        await learners.learn_batch([example(i) for i in range(8, 20)])
        assert learners.publish_due() == []  # learned enough, but within publish_min_seconds
        await asyncio.sleep(0.25)
        assert learners.publish_due() == ["m"]
        await learners.learn_batch([example(i) for i in range(20, 100)])
        assert learners.due() == ["m"]
        await learners.snapshot("m")  # a checkpoint: state and acks, and published as well
        assert registry.writes[-1] == ("champion", 100, True) and all(e.acked for e in events + more)
        assert learners.publish_due() == []

    asyncio.run(scenario())


def test_the_model_in_shadow_is_published_with_checkpoints_only():
    # Its answers are never served; a forest takes ~200 ms to serialise, and publishing it as often
    # as the champion held the learners (and the controller's look at the test) for seconds.
    registry = RecordingRegistry()
    learners = Learners(lambda: registry, None, True, every_examples=50, every_seconds=60, window=50,
                        publish_min_examples=5, publish_min_seconds=0.01)
    learners.learners[("m", "champion")] = ModelLearner("m", "champion", 1, META, learner_model())
    learners.learners[("m", "challenger")] = ModelLearner("m", "challenger", 2, dict(META, version=2), learner_model())
    learners.partition_of["m"] = 0

    async def scenario():
        await learners.learn_batch([example(i) for i in range(10)])
        await learners.publish("m")
        assert registry.writes == [("champion", 10, False)]
        await learners.learn_batch([example(i) for i in range(10, 50)])
        assert learners.due() == ["m"]
        await learners.snapshot("m")
        assert sorted(registry.writes[1:]) == [("challenger", 50, True), ("champion", 50, True)]

    asyncio.run(scenario())


@pytest.mark.integration
def test_a_published_snapshot_is_pushed_to_the_scorers_without_a_refresh(stack, stack_settings, registry):
    """The model cache loads a snapshot when its note arrives on the channel, not at the next poll."""
    data = load_dataset("phishing", limit=300)
    trained = train(data, "logreg", "push-cache")
    version = registry.register(artifact.dumps(trained, KEY), trained.metadata, alias="champion")
    learner = ModelLearner("push-cache", "champion", version, dict(trained.metadata), trained.model)
    for i, (x, y) in enumerate(zip(data.rows, data.targets)):
        learner.learn(x, not y, f"e{i}", 0, i)  # a different model: the labels flipped

    async def scenario():
        cache = ModelCache(lambda: Registry.from_url(stack_settings.redis_url), KEY)
        follower = asyncio.ensure_future(cache.follow(lambda: async_redis_client(stack_settings.redis_url, timeout=5.0)))
        try:
            deadline = time.monotonic() + 30
            while not (cache.listening and "push-cache" in cache.predictors) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert cache.predictors["push-cache"].snapshot is None
            refreshes = cache.refreshes
            # A note about a version this worker does not serve (a promotion elsewhere) is not loaded
            # as a snapshot: it makes the worker re-read the registry's aliases at once.
            cache.heard({"model": "push-cache", "alias": "champion", "version": version + 1, "revision": 10**9})
            while cache.refreshes == refreshes and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert cache.refreshes == refreshes + 1
            refreshes = cache.refreshes
            blob = artifact.dumps(learner.snapshot_artifact(), KEY, compress=False)
            revision = await asyncio.to_thread(registry.publish_snapshot, "push-cache", "champion", version, blob, learner.info())
            while cache.predictors["push-cache"].snapshot != revision and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            return cache, refreshes, revision
        finally:
            follower.cancel()

    cache, refreshes, revision = asyncio.run(scenario())
    served = cache.predictors["push-cache"]
    assert served.snapshot == revision and cache.pushed == 1 and cache.refreshes == refreshes
    row = data.rows[0]
    assert served.score(row)["proba"] == {str(k): v for k, v in learner.model.predict_proba_one(row).items()}


@pytest.mark.integration
def test_a_burst_of_labels_changes_the_served_answers(worker, stack_settings, registry):
    data = load_dataset("phishing")
    trained = train(load_dataset("phishing", limit=400), "logreg", "push-burst")
    registry.register(artifact.dumps(trained, KEY), trained.metadata, alias="champion")
    probe = {"id": "probe", "model": "push-burst", "features": data.rows[0]}

    def predict() -> dict:
        request = urllib.request.Request(worker.url + "/predict", data=json.dumps(probe).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    deadline = time.monotonic() + 60
    before = None
    while before is None and time.monotonic() < deadline:
        try:
            before = predict()
        except urllib.error.HTTPError:  # 422 until the worker has loaded the new model
            time.sleep(0.2)
    assert before["snapshot"] is None
    # Events scored first, then their labels, all saying the opposite of the deployed model.
    run_id = new_run_id()
    producer = make_producer(stack_settings)
    ids = [f"{run_id}-{i}" for i in range(300)]
    for event_id, row in zip(ids, data.rows[:300]):
        producer.send(stack_settings.topic("events"), key=event_id.encode(),
                      value=json.dumps({"id": event_id, "model": "push-burst", "features": row}).encode())
    producer.flush()
    watcher = OutputWatcher(stack_settings, run_id)  # labels after their events are scored (no held labels)
    try:
        assert watcher.wait_for(len(ids), 120), f"{watcher.total} of {len(ids)} events scored"
    finally:
        watcher.close()
    flipped = not before["prediction"]
    for event_id in ids:
        producer.send(stack_settings.topic("labels"), key=event_id.encode(),
                      value=json.dumps({"id": event_id, "label": flipped}).encode())
    producer.flush()
    producer.close()
    wait_learned(registry, "push-burst", 300, timeout=120)
    after = predict()
    while after["snapshot"] is None and time.monotonic() < deadline + 60:
        time.sleep(0.1)
        after = predict()
    assert after["snapshot"] is not None and after["proba"] != before["proba"]
    assert after["proba"][str(flipped)] > before["proba"][str(flipped)]  # it learned the flipped labels
