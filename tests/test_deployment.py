"""The deployment loop's parts: its settings, the token check, the controller's store in a real
Redis, and the learners' side (paired tests, role changes, the example buffer across a restart).
The loop end to end is in tests/test_deployment_integration.py."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from drift_helpers import synthetic
from learning_helpers import KEY
from test_snapshot_push import FakeEvent

from stream.deployment.store import DeployStore
from stream.errors import ConfigError
from stream.learning import Learners
from stream.model import artifact
from stream.settings import Settings
from stream.training.trainer import train
from stream.web.views import _refuse


def test_the_policy_settings_are_validated_at_start_up():
    settings = Settings.from_env({})
    assert (settings.deploy_policy, settings.retrain_kinds, settings.retrain_spec_names) == ("auto", ("concept_drift", "data_drift"), ())
    picked = Settings.from_env({"DRIFTLINE_RETRAIN_ON": "feature_drift, concept_drift", "DRIFTLINE_RETRAIN_SPECS": "arf,hoeffding-tree"})
    assert picked.retrain_kinds == ("feature_drift", "concept_drift") and picked.retrain_spec_names == ("arf", "hoeffding-tree")
    for var, value in (("DRIFTLINE_DEPLOY_POLICY", "sometimes"), ("DRIFTLINE_RETRAIN_ON", "deployed"),
                       ("DRIFTLINE_RETRAIN_SPECS", "xgboost"), ("DRIFTLINE_PROMOTE_ALPHA", "1.5")):
        with pytest.raises(ConfigError, match=var):
            Settings.from_env({var: value})


class FakeRequest:
    def __init__(self, header: str | None):
        self.headers = {"Authorization": header} if header is not None else {}


def test_mutating_endpoints_need_the_bearer_token_and_are_impossible_without_one_configured():
    assert _refuse(FakeRequest("Bearer s3cret"), "") == (403, _refuse(FakeRequest(None), "")[1])
    assert _refuse(FakeRequest(None), "s3cret")[0] == 401
    assert _refuse(FakeRequest("Bearer wrong"), "s3cret")[0] == 401
    assert _refuse(FakeRequest("Basic s3cret"), "s3cret")[0] == 401
    assert _refuse(FakeRequest("Bearer s3cret"), "s3cret") is None
    assert _refuse(FakeRequest("bearer  s3cret "), "s3cret") is None


@pytest.fixture
def store(stack, stack_settings):
    return DeployStore.from_url(stack_settings.redis_url, "unit-tests")


def test_a_trigger_is_kept_once_and_handled_once(store):
    name = "dep-unit-triggers"
    record = {"id": "w1:data_drift", "kind": "data_drift", "version": 1, "ts": 5.0, "window": {"id": "w1"}}
    assert store.add_trigger(name, record) is True
    assert store.add_trigger(name, dict(record, ts=6.0)) is False  # delivered again: the same trigger
    store.add_trigger(name, {"id": "w0:data_drift", "kind": "data_drift", "version": 1, "ts": 4.0})
    assert [t["id"] for t in store.untaken(name)] == ["w0:data_drift", "w1:data_drift"]
    assert store.handle(name, "w0:data_drift", "taken") is True
    assert store.handle(name, "w0:data_drift", "busy") is False
    assert [t["id"] for t in store.untaken(name)] == ["w1:data_drift"]
    assert store.pending([name])[name] == ({"phase": "idle"}, 1, 0)
    assert store.outcomes(name)["w0:data_drift"]["outcome"] == "taken"


def test_handled_triggers_are_pruned_to_the_most_recent(store, monkeypatch):
    from types import SimpleNamespace

    import stream.deployment.store as store_module

    monkeypatch.setattr(store_module, "KEEP_TRIGGERS", 3)
    clock = iter(range(1000))  # one tick per handled trigger: handled in this order
    monkeypatch.setattr(store_module, "time", SimpleNamespace(time=lambda: float(next(clock))))
    name = "dep-unit-prune"
    for i in range(7):
        store.add_trigger(name, {"id": f"w{i}", "kind": "data_drift", "version": 1, "ts": float(i)})
        store.handle(name, f"w{i}", "cooldown")
    assert sorted(store.outcomes(name)) == ["w4", "w5", "w6"]
    assert store.untaken(name) == []


def test_a_command_waits_for_its_result(store):
    name = "dep-unit-commands"
    command_id = store.submit(name, "promote", "cli", 3, "because")
    assert store.wait(command_id, timeout=0.3) is None
    command = store.next_command(name)
    assert (command["id"], command["version"], command["by"]) == (command_id, 3, "cli")
    store.finish(command, False, "model has no version 3")
    assert store.wait(command_id, timeout=1.0)["detail"] == "model has no version 3"
    assert store.next_command(name) is None


def example(name: str, i: int, x: dict, y) -> FakeEvent:
    event = FakeEvent(json.dumps({"id": f"{name}-{i}", "model": name, "version": 1, "features": x, "label": y}).encode(), i)
    event.message = event.message._replace(key=name.encode())
    return event


def test_champion_and_challenger_are_paired_and_swap_roles_keeping_what_they_learned(stack, stack_settings, registry):
    name = "dep-unit-swap"
    good, bad = synthetic(2000, 0), synthetic(2000, 1, label_flip=True)
    flipped = train(bad, "logreg", name)
    v1 = registry.register(artifact.dumps(flipped, KEY), flipped.metadata, alias="champion")
    trained = train(good, "logreg", name)
    v2 = registry.register(artifact.dumps(trained, KEY), trained.metadata, alias="challenger")
    factory = lambda: type(registry).from_url(stack_settings.redis_url)  # noqa: E731
    stream = synthetic(300, 2)
    events = [example(name, i, x, y) for i, (x, y) in enumerate(zip(stream.rows, stream.targets))]

    async def scenario():
        learners = Learners(factory, KEY, False, every_examples=10_000, every_seconds=3600, window=100, buffer_size=200,
                            concept_detector="adwin")
        await learners.learn_batch(events[:200])
        champion, challenger = learners.learners[(name, "champion")], learners.learners[(name, "challenger")]
        test = challenger.paired
        assert test.n == 200 and test.b > test.c  # the challenger knows the concept, the champion the flipped one
        assert champion.buffer.seen == 200 and challenger.buffer is None
        registry.move_aliases(name, v2, v1, "test promotion", "test")
        await learners.move(name, v2, v1)
        promoted, previous = learners.learners[(name, "champion")], learners.learners[(name, "challenger")]
        assert promoted is challenger and previous is champion  # the same learners, in their new roles
        assert promoted.alias == "champion" and promoted.n_learned == 200 and promoted.paired is None
        assert promoted.buffer is champion.buffer or promoted.buffer.seen == 200
        assert previous.paired.n == 0 and previous.concept is None and promoted.concept is not None
        await learners.learn_batch(events[200:250])
        return promoted.buffer.since(0)

    held = asyncio.run(scenario())
    assert len(held) == 200 and held[-1][1] == stream.targets[249]
    assert registry.aliases(name) == {"champion": v2, "challenger": v1}
    # A restart rebuilds the buffer from the registry up to the checkpoint, and both learners from their checkpoints.
    restarted = Learners(factory, KEY, False, every_examples=10_000, every_seconds=3600, window=100, buffer_size=200)
    loaded = restarted._load(name)
    assert loaded["champion"].version == v2 and loaded["champion"].n_learned == 200
    assert loaded["champion"].buffer.seen == 200 and len(loaded["champion"].buffer.examples) == 200
    assert loaded["challenger"].version == v1 and loaded["challenger"].paired.n == 0


def test_a_retrained_challenger_catches_up_with_the_examples_that_arrived_while_it_trained(stack, stack_settings, registry):
    name = "dep-unit-catch-up"
    trained = train(synthetic(500, 0), "logreg", name)
    v1 = registry.register(artifact.dumps(trained, KEY), trained.metadata, alias="champion")
    v2 = registry.register(artifact.dumps(trained, KEY), trained.metadata)
    factory = lambda: type(registry).from_url(stack_settings.redis_url)  # noqa: E731
    stream = synthetic(300, 2)
    events = [example(name, i, x, y) for i, (x, y) in enumerate(zip(stream.rows, stream.targets))]

    async def scenario():
        learners = Learners(factory, KEY, False, every_examples=10_000, every_seconds=3600, window=100, buffer_size=500)
        await learners.learn_batch(events[:300])
        champion = learners.learners[(name, "champion")]
        registry.set_alias(name, "challenger", v2, "retrained", "test")
        learned, counted = [], []
        original = Learners._catch_up

        def spy(learner, buffer, position, offsets):
            learned.extend(buffer.since(position))
            counted.append(original(learner, buffer, position, offsets))
            return counted[-1]

        learners._catch_up = spy
        await learners.move(name, v1, v2, catch_up_from=220)  # the retrain's window ended at example 220
        challenger = learners.learners[(name, "challenger")]
        return champion, challenger, learned, counted

    champion, challenger, learned, counted = asyncio.run(scenario())
    assert counted == [80]  # what the log line reports
    assert len(learned) == 80 and learned[0][1] == stream.targets[220] and learned[-1][1] == stream.targets[299]
    assert challenger.offsets == champion.offsets and challenger.offsets  # a replay skips what both learned
    # Each example caught up on was tested first, paired with the champion's own test-then-train
    # error on it: replayed here with fresh copies of the two models.
    from stream.model.predictor import Predictor

    def prequential_errors(examples):
        predictor = Predictor.from_artifact(artifact.loads(artifact.dumps(trained, KEY), KEY))
        errors = []
        for x, y in examples:
            errors.append(0.0 if predictor.predict(x)["prediction"] == y else 1.0)
            predictor.model.learn_one(x, y)
        return errors

    everything = champion.buffer.since(0)
    champion_errors, challenger_errors = prequential_errors(everything)[220:], prequential_errors(everything[220:])
    b = sum(c == 1.0 and h == 0.0 for c, h in zip(champion_errors, challenger_errors))
    c = sum(c == 0.0 and h == 1.0 for c, h in zip(champion_errors, challenger_errors))
    assert (challenger.paired.n, challenger.paired.b, challenger.paired.c) == (80, b, c) and b + c > 0


def test_a_model_whose_loop_fails_does_not_stop_the_other_models_decisions():
    from types import SimpleNamespace

    from stream.deployment.agents import Deployment, partition_of, tick
    from stream.errors import ArtifactError
    from stream.transport.topics import TopicNames

    settings = Settings.from_env({}, partitions=1)
    topics = TopicNames.from_settings(settings)
    stepped = []

    class Learners:
        async def ensure(self, name, partition):
            if name == "unverifiable":
                raise ArtifactError("artifact signature does not match the signing key")
            return True

    class Controller:
        training: set = set()

        def pool(self):
            pass

        async def step(self, name, state):
            stepped.append(name)

    class Store:
        def pending(self, names):
            return {name: (self.state(name), 0, 0) for name in names}

        def state(self, name):
            return {"phase": "shadow"}

    names = ["unverifiable", "good"]
    assert {partition_of(n, 1) for n in names} == {0}
    from kafka import TopicPartition

    app = SimpleNamespace(consumer=SimpleNamespace(assignment=lambda: {TopicPartition(topics.training, 0)}))
    deployment = Deployment(SimpleNamespace(mode="auto"), Store(), Controller(), None)
    learning = SimpleNamespace(lock=asyncio.Lock(), learners=Learners())
    registry = SimpleNamespace(models=lambda: names)
    for _ in range(2):
        asyncio.run(tick(app, settings, topics, learning, deployment, lambda: registry))
    assert stepped == ["good", "good"]
    assert "ArtifactError" in deployment.model_errors["unverifiable"] and deployment.errors == 2


def test_a_tick_follows_a_phase_that_moved_on_with_the_next_and_stops_where_it_holds():
    from types import SimpleNamespace

    from kafka import TopicPartition

    from stream.deployment.agents import STEPS_PER_TICK, Deployment, tick
    from stream.transport.topics import TopicNames

    settings = Settings.from_env({}, partitions=1)
    topics = TopicNames.from_settings(settings)
    # What each phase's step leads to; "shadow" holds (the test has not passed yet).
    following = {"idle": "waiting", "waiting": "training", "training": "shadow", "shadow": "shadow"}
    states = {"m": {"phase": "idle"}}
    seen = []

    class Controller:
        training: set = set()

        def pool(self):
            pass

        async def step(self, name, state):
            seen.append(state["phase"])
            states[name] = {"phase": following[state["phase"]]}

    class Store:
        def pending(self, names):
            return {name: (states[name], 1, 0) for name in names}

        def state(self, name):
            return states[name]

    class Learners:
        async def ensure(self, name, partition):
            return True

    app = SimpleNamespace(consumer=SimpleNamespace(assignment=lambda: {TopicPartition(topics.training, 0)}))
    deployment = Deployment(SimpleNamespace(mode="auto"), Store(), Controller(), None)
    learning = SimpleNamespace(lock=asyncio.Lock(), learners=Learners())
    asyncio.run(tick(app, settings, topics, learning, deployment, lambda: SimpleNamespace(models=lambda: ["m"])))
    assert seen == ["idle", "waiting", "training", "shadow"] and STEPS_PER_TICK >= 4
    assert deployment.controller.busy  # in the loop: the next ticks come sooner
    seen.clear()
    asyncio.run(tick(app, settings, topics, learning, deployment, lambda: SimpleNamespace(models=lambda: ["m"])))
    assert seen == ["shadow"]  # a phase that holds is looked at once per tick
    following.update(shadow="idle", idle="idle")  # decided, and nothing new
    asyncio.run(tick(app, settings, topics, learning, deployment, lambda: SimpleNamespace(models=lambda: ["m"])))
    assert not deployment.controller.busy


def logreg_champion(n_examples: int):
    """A stand-in for a champion's learner: a logistic regression's metadata and a buffer of examples."""
    from types import SimpleNamespace

    from stream.learning.learner import ExampleBuffer

    buffer = ExampleBuffer(1000)
    for i in range(n_examples):
        buffer.append({"x": float(i % 10)}, i % 10 > 4)
    parent = {"name": "m", "task": "binary_classification", "model_spec": "logreg", "schema": {"features": {"x": "number"}},
              "classes": [False, True], "positive_class": True}
    return SimpleNamespace(version=1, metadata=parent, buffer=buffer)


def test_a_finished_retrain_wakes_the_tick_at_once():
    """The tick sleeps up to a quarter of a second between looks; a retrain that finishes (or a
    trigger stored) must not wait for it: every event until the promotion is served by the old model."""
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from stream.deployment.controller import Controller, Policy

    champion = logreg_champion(40)
    policy = Policy.from_settings(Settings.from_env({}))
    learners = SimpleNamespace(learners={("m", "champion"): champion}, label_rate=lambda name: None)
    controller = Controller(policy, None, None, learners, None, None)
    executor = ThreadPoolExecutor(1)
    controller.pool = lambda: executor

    async def scenario():
        loop = asyncio.get_running_loop()
        started = loop.time()
        await controller.wait_for_work(0.05)  # nothing happens: the timeout
        assert loop.time() - started >= 0.04
        controller._start_training("m", {"trigger": "t1", "position": 0, "window": {"from": 0, "to": 40, "n": 40}})
        await controller.wait_for_work(60.0)  # without the nudge: a minute
        return loop.time() - started

    try:
        woken_after = asyncio.run(scenario())
    finally:
        executor.shutdown()
    assert controller.training["m"].done() and woken_after < 30.0
    data, metadata, summary = controller.training["m"].result()
    assert summary["spec"] == "logreg" and metadata["retrain"]["trigger"] == "t1"


def test_a_retrain_passes_over_a_spec_too_slow_for_the_label_rate_and_gives_up_for_the_cooldown_when_all_are():
    """At thousands of labels a second a forest cannot keep up (a quarter to half a millisecond to predict
    and learn one example): as the challenger it would leave the learner further behind every
    second. The champion's own spec learns at that rate already, so it stays a candidate."""
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from stream.deployment.controller import Controller, Policy

    champion = logreg_champion(300)
    states, sent = [], []
    store = SimpleNamespace(set_state=lambda name, state: states.append(state), add_record=lambda name, record: None)
    # Labeled examples a second: half a core allows 0.08 ms an example, 4 to 5 times what the
    # logistic regression takes here (0.014-0.023 ms) and a fourth of the forest's (0.32-0.39).
    rates = {"m": 6250.0}
    learners = SimpleNamespace(learners={("m", "champion"): champion}, label_rate=rates.get)
    executor = ThreadPoolExecutor(1)

    async def retrain(specs: str) -> tuple:
        policy = Policy.from_settings(Settings.from_env({"DRIFTLINE_RETRAIN_SPECS": specs}))
        async def send(record):
            sent.append(record)

        controller = Controller(policy, store, None, learners, send, None)
        controller.pool = lambda: executor
        state = {"trigger": "t1", "phase": "training", "position": 0, "window": {"from": 0, "to": 300, "n": 300}}
        controller._start_training("m", state)
        await asyncio.wait([controller.training["m"]])
        return controller, state

    async def scenario():
        controller, _ = await retrain("arf,logreg")
        data, metadata, summary = controller.training["m"].result()
        assert summary["spec"] == "logreg" and summary["learn_ms"]["arf"] > 0.08 > summary["learn_ms"]["logreg"]
        assert list(summary["passed_over"]) == ["arf"] and metadata["retrain"]["passed_over"] == summary["passed_over"]
        assert metadata["retrain"]["label_rate"] == 6250.0 and metadata["retrain"]["learn_ms"] == summary["learn_ms"]

        controller, state = await retrain("arf")  # only the forest (the champion is a logistic regression)
        await controller._finish_retrain("m", state)
        idle = states[-1]
        assert idle["phase"] == "idle" and idle["last"]["outcome"].startswith("no challenger: every candidate learns too slowly")
        assert idle["cooldown_until"] > idle["last"]["at"]  # the next drift would fail the same way: it waits
        # The trigger is decided all the same, with a record that says why there is no challenger.
        [record] = sent
        assert (record["kind"], record["trigger"], record["to_version"]) == ("challenger_discarded", "t1", None)
        assert record["reason"].startswith("no challenger: every candidate learns too slowly")

        rates["m"] = None  # no rate measured yet (a worker that just took the model over): no limit
        controller, _ = await retrain("arf")
        assert controller.training["m"].result()[2]["spec"] == "arf"

    try:
        asyncio.run(scenario())
    finally:
        executor.shutdown()


def test_a_learner_s_own_concept_drift_is_a_trigger_at_once_and_its_copy_from_the_topic_is_not_another(store):
    """The learner that found the drift is on the worker of the model's controller: the trigger
    is stored and the tick woken without the round trip through drift-events."""
    from types import SimpleNamespace

    from stream.deployment.agents import (
        Deployment,
        keep_trigger_messages,
        take_own_triggers,
    )
    from stream.deployment.controller import Controller, Policy
    from stream.wire.drift import encode as encode_record

    name = "dep-unit-own-trigger"
    policy = Policy.from_settings(Settings.from_env({}))
    controller = Controller(policy, store, None, None, None, None)
    deployment = Deployment(policy, store, controller, None)
    drift = {"id": "7:champion:3039", "model": name, "kind": "concept_drift", "version": 1, "ts": 5.0, "position": 3039}
    improvement = {"id": "7:champion:9", "model": name, "kind": "prediction_drift", "version": 1, "ts": 6.0}

    async def scenario():
        loop = asyncio.get_running_loop()
        await controller.wait_for_work(0.0)  # the wake event now exists
        await take_own_triggers(deployment, [drift, improvement])
        started = loop.time()
        await controller.wait_for_work(60.0)
        woken_after = loop.time() - started
        keep_trigger_messages(deployment, [SimpleNamespace(value=encode_record(drift))])  # the topic's copy
        await take_own_triggers(deployment, [drift])  # and the learner's again (a replay)
        started = loop.time()
        await controller.wait_for_work(0.2)
        return woken_after, loop.time() - started

    woken_after, not_woken_after = asyncio.run(scenario())
    assert woken_after < 30.0 and not_woken_after >= 0.15  # nudged once, for the one new trigger
    assert [t["id"] for t in store.untaken(name)] == [drift["id"]] and deployment.triggers_stored == 1
    assert store.untaken(name)[0]["position"] == 3039


def test_a_retrain_after_concept_drift_counts_the_examples_after_the_detection():
    """The examples after the detection are the new concept already: the retrain counts them.
    Not those from the record's change_position (where the errors began to rise): in a gradual
    change they are mostly the old concept."""
    from types import SimpleNamespace

    from stream.deployment.controller import Controller, Policy

    champion = logreg_champion(3100)
    champion.n_learned = 3100  # every example it learned is in the buffer (1,000 held)
    states = []
    store = SimpleNamespace(set_state=lambda name, state: states.append(state), handle=lambda *args: True)
    learners = SimpleNamespace(learners={("m", "champion"): champion})
    controller = Controller(Policy.from_settings(Settings.from_env({})), store, None, learners, None, None)
    controller.pool = lambda: None  # no retraining process for this
    drift = {"id": "1:champion:3060", "kind": "concept_drift", "version": 1, "position": 3060, "change_position": 3000}
    controller._take("m", drift, champion)
    assert (states[-1]["phase"], states[-1]["position"]) == ("waiting", 3061)
    assert len(controller._window("m", states[-1])) == 39
    controller._take("m", {"id": "w9:data_drift", "kind": "data_drift", "version": 1}, champion)
    assert states[-1]["position"] == 3100  # data drift: from now


def test_the_controller_tells_a_learner_when_its_paired_test_is_ready_to_decide():
    """Asked after each example the model in shadow wins: true exactly when a look now would
    promote (or, on probation, roll back), and never for a model waiting for a person."""
    from types import SimpleNamespace

    from monitors import McNemarTest
    from stream.deployment.controller import Controller, Policy

    policy = Policy.from_settings(Settings.from_env({}))
    champion, shadow = SimpleNamespace(version=1, failures=0), SimpleNamespace(version=2, paired=McNemarTest())
    learners = SimpleNamespace(learners={("m", "champion"): champion, ("m", "challenger"): shadow})
    controller = Controller(policy, None, None, learners, None, None)
    assert not controller.decision_due("m")  # idle as far as it knows
    controller._watch("m", {"phase": "shadow"})
    due = []
    for i in range(120):
        shadow.paired.update(champion_correct=i % 4 == 0, challenger_correct=i % 4 != 0)  # wins 3 of 4
        due.append(controller.decision_due("m"))
    first = due.index(True)
    replay = McNemarTest()
    for i in range(first + 1):
        assert replay.passes(*policy.promotion()) is False
        replay.update(champion_correct=i % 4 == 0, challenger_correct=i % 4 != 0)
    assert replay.passes(*policy.promotion()) and 30 <= replay.b + replay.c < 120
    controller._watch("m", {"phase": "shadow", "ready": True})  # DRIFTLINE_DEPLOY_POLICY=challenger, passed
    assert not controller.decision_due("m")
    controller._watch("m", {"phase": "probation"})
    shadow.paired = McNemarTest()  # now the previous champion, tested with the roles swapped
    assert not controller.decision_due("m")
    for _ in range(40):
        shadow.paired.update(champion_correct=False, challenger_correct=True)
    assert controller.decision_due("m")  # the previous champion wins: a rollback is due


def test_a_learn_batch_stops_where_the_paired_test_passes_lets_the_loop_decide_then_learns_the_rest(stack, stack_settings, registry):
    """The promotion must not wait for the end of a learn batch: with a forest in shadow one can
    take a good part of a second. Every event is still learned once and kept for its checkpoint."""
    from types import SimpleNamespace

    from monitors import McNemarTest
    from stream.learning.agents import learn_and_decide
    from stream.transport.isolation import Isolation

    name = "dep-unit-stop"
    flipped = train(synthetic(2000, 1, label_flip=True), "logreg", name)
    registry.register(artifact.dumps(flipped, KEY), flipped.metadata, alias="champion")
    trained = train(synthetic(2000, 0), "logreg", name)
    registry.register(artifact.dumps(trained, KEY), trained.metadata, alias="challenger")
    factory = lambda: type(registry).from_url(stack_settings.redis_url)  # noqa: E731
    stream = synthetic(300, 2)
    events = [example(name, i, x, y) for i, (x, y) in enumerate(zip(stream.rows, stream.targets))]
    alpha, min_disagreements, min_gain = 0.01, 30, 0.01

    async def scenario():
        learners = Learners(factory, KEY, False, every_examples=10_000, every_seconds=3600, window=100, buffer_size=500)
        learners.decision_due = lambda n: learners.learners[(n, "challenger")].paired.passes(alpha, min_disagreements, min_gain)
        at_decision, rounds = [], []

        async def decide(names):
            test = learners.learners[(name, "challenger")].paired
            at_decision.append((names, McNemarTest(test.b, test.c, test.n), learners.learners[(name, "champion")].n_learned))

        async def send_outputs():
            rounds.append(len(learners.unacked.get(name, [])))

        learning = SimpleNamespace(learners=learners, lock=asyncio.Lock(), isolation={"learn": Isolation("learn")},
                                   on_decisions_due=[decide])
        await learn_and_decide(learning, events, send_outputs)
        return learners, at_decision, rounds

    learners, at_decision, rounds = asyncio.run(scenario())
    assert len(at_decision) == 1
    names, test, learned_then = at_decision[0]
    assert names == {name} and test.passes(alpha, min_disagreements, min_gain) and test.n == learned_then < 300
    # It stopped at the first example that made the test pass (a win for the challenger).
    assert not McNemarTest(test.b - 1, test.c, test.n - 1).passes(alpha, min_disagreements, min_gain)
    assert rounds == [learned_then, 300]  # the rest in a second round, outputs sent after each
    champion = learners.learners[(name, "champion")]
    assert champion.n_learned == 300 and learners.learners[(name, "challenger")].paired.n == 300
    assert [e.message.offset for e in learners.unacked[name]] == list(range(300))  # each once, for its checkpoint


def test_a_retraining_process_ends_when_its_worker_is_killed(tmp_path):
    """A worker killed with SIGKILL cannot shut its retraining pool down: the process must notice
    that its parent is gone and end, not live on adopted by init with a forest in memory."""
    import os
    import signal
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent("""
        import multiprocessing, os, sys, threading
        from concurrent.futures import ProcessPoolExecutor
        from stream.orphans import exit_with_parent
        if __name__ == "__main__":
            pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=exit_with_parent, initargs=(os.getpid(), 0.1))
            print(pool.submit(os.getpid).result(), flush=True)
            threading.Event().wait()  # until the test kills it
    """))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              cwd=str(Path(__file__).resolve().parent.parent))
    try:
        child = int(parent.stdout.readline())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _alive(child):
            time.sleep(0.2)
        assert not _alive(child), f"the retraining process {child} outlived its killed parent"
    finally:
        parent.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def test_the_report_renderer_s_process_ends_with_its_worker_too(tmp_path):
    """The Evidently renderer's process (~320 MB while it renders) outlived a killed worker as the
    retraining process did: its pool starts it with the same watch on its parent."""
    import os

    from stream.monitoring.reports import ReportRenderer

    renderer = ReportRenderer(store=None, lookup=None, keep=1)
    try:
        pool = renderer._executor()
        assert pool.submit(os.getppid).result(timeout=120) == os.getpid()  # the worker is its parent
        threads = pool.submit(_thread_names).result(timeout=60)
        assert "exit-with-parent" in threads
    finally:
        renderer.close()


def _thread_names() -> list[str]:
    import threading

    return [t.name for t in threading.enumerate()]
