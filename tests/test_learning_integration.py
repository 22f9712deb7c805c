"""Online learning on the real stack: delayed and inline labels, snapshots, hot swap, many models."""

from __future__ import annotations

import json
import time

import pytest
from learning_helpers import (
    KEY,
    read_topic,
    replay_learner,
    snapshot_model,
    wait_learned,
)

from stream.dev.outputs import OutputWatcher
from stream.dev.replay import event_ids, make_producer, new_run_id, replay
from stream.model import artifact
from stream.training.datasets import load_dataset
from stream.training.trainer import train

pytestmark = pytest.mark.integration


def deploy(registry, dataset, spec: str, name: str, holdout: float = 0.5):
    trained = train(dataset, spec, name, holdout=holdout)
    blob = artifact.dumps(trained, KEY)
    return registry.register(blob, trained.metadata, alias="champion"), blob


def test_delayed_labels_are_learned_once_each_and_scorers_swap_to_the_snapshot(worker, stack_settings, registry):
    data = load_dataset("bananas")
    version, blob = deploy(registry, load_dataset("bananas", limit=500), "logreg", "l4-delayed")
    n = 3000
    run_id = new_run_id()
    replay(stack_settings, data.rows, data.targets, "l4-delayed", limit=n, label_delay=300, run_id=run_id)
    info = wait_learned(registry, "l4-delayed", n)
    assert info["n_learned"] == n and info["duplicates_skipped"] == 0
    metrics = info["metrics"]["overall"]
    assert 0.5 < metrics["accuracy"] <= 1.0 and metrics["log_loss"] > 0

    # The snapshot holds exactly the examples on the training topic, learned once, in order.
    examples = read_topic(stack_settings, "training", key=b"l4-delayed")
    assert sorted(json.loads(m.value)["id"] for m in examples) == sorted(event_ids(run_id, n))
    expected = replay_learner(stack_settings, blob, version, "l4-delayed")
    _, learned = snapshot_model(registry, "l4-delayed")
    for row in data.rows[:200]:
        assert learned.predict_proba_one(row) == expected.model.predict_proba_one(row)

    # Every worker's scorer moves to the latest snapshot: new predictions name it and use it.
    time.sleep(stack_settings.model_refresh_seconds * 3)
    latest = registry.snapshot_info("l4-delayed")["revision"]
    probe = new_run_id()
    replay(stack_settings, data.rows, None, "l4-delayed", limit=50, run_id=probe)
    watcher = OutputWatcher(stack_settings, probe)
    assert watcher.wait_for(50, 60)
    watcher.close()
    for i, event_id in enumerate(event_ids(probe, 50)):
        prediction = watcher.predictions[event_id]
        assert (prediction["version"], prediction["snapshot"]) == (version, latest)
        expected_proba = {str(k): v for k, v in learned.predict_proba_one(data.rows[i]).items()}
        assert prediction["proba"] == expected_proba


def test_inline_labels_are_scored_first_then_learned(worker, stack_settings, registry):
    data = load_dataset("phishing")
    version, blob = deploy(registry, data, "logreg", "l4-inline")
    run_id = new_run_id()
    producer = make_producer(stack_settings)
    for i in range(400):
        event = {"id": f"{run_id}-{i}", "model": "l4-inline", "features": data.rows[i], "label": data.targets[i]}
        producer.send(stack_settings.topic("events"), key=event["id"].encode(), value=json.dumps(event).encode())
    producer.flush()
    producer.close()
    wait_learned(registry, "l4-inline", 400)
    watcher = OutputWatcher(stack_settings, run_id)
    assert watcher.wait_for(400, 60)
    watcher.close()
    offline = artifact.loads(blob, KEY).model
    # Test-then-train: each event's prediction came from the model before it learned that event;
    # the first ones were scored by the deployed artifact itself.
    first = watcher.predictions[f"{run_id}-0"]
    assert first["proba"] == {str(k): v for k, v in offline.predict_proba_one(data.rows[0]).items()}
    examples = [json.loads(m.value) for m in read_topic(stack_settings, "training", key=b"l4-inline")]
    assert len(examples) == 400
    assert all(e["label"] == data.targets[int(e["id"].rsplit("-", 1)[1])] for e in examples)


def test_three_models_on_one_stream_each_learn_their_own_examples(worker, stack_settings, registry):
    sets = {"l4-phish": ("phishing", "logreg"), "l4-banana": ("bananas", "gaussian-nb"), "l4-trump": ("trumpapproval", "linreg")}
    data = {name: load_dataset(ds) for name, (ds, _) in sets.items()}
    for name, (_, spec) in sets.items():
        deploy(registry, data[name], spec, name)
    run_id = new_run_id()
    producer = make_producer(stack_settings)
    per_model = 300
    for i in range(per_model):
        for name in sets:
            event_id = f"{run_id}-{name}-{i}"
            event = {"id": event_id, "model": name, "features": data[name].rows[i]}
            producer.send(stack_settings.topic("events"), key=event_id.encode(), value=json.dumps(event).encode())
    for i in range(per_model):
        for name in sets:
            event_id = f"{run_id}-{name}-{i}"
            label = {"id": event_id, "label": data[name].targets[i]}
            producer.send(stack_settings.topic("labels"), key=event_id.encode(), value=json.dumps(label).encode())
    producer.flush()
    producer.close()
    for name in sets:
        info = wait_learned(registry, name, per_model)
        assert info["n_learned"] == per_model
        examples = read_topic(stack_settings, "training", key=name.encode())
        assert {json.loads(m.value)["model"] for m in examples} == {name}
    assert set(registry.snapshot_info("l4-trump")["metrics"]["overall"]) == {"mae", "rmse"}
    assert set(registry.snapshot_info("l4-banana")["metrics"]["overall"]) == {"accuracy", "f1", "log_loss"}


def test_malformed_labels_are_dead_lettered(worker, stack_settings):
    run_id = new_run_id()
    producer = make_producer(stack_settings)
    bad = {"invalid_json": b"{oops", "not_an_object": b"3", "missing_id": b'{"label": 1}', "missing_label": b'{"id": "x"}'}
    for reason, raw in bad.items():
        producer.send(stack_settings.topic("labels"), key=f"{run_id}-{reason}".encode(), value=raw)
    producer.flush()
    producer.close()
    watcher = OutputWatcher(stack_settings, run_id)
    assert watcher.wait_for(len(bad), 60)
    watcher.close()
    assert {k.split("-", 1)[1]: d["reason"] for k, d in watcher.deadletters.items()} == {r: r for r in bad}
    assert all(d["topic"] == stack_settings.topic("labels") for d in watcher.deadletters.values())
