"""The online prediction path end to end: real Tansu broker, real redis-server, real worker process."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import urllib.request

import pytest

from stream.dev.outputs import OutputWatcher
from stream.dev.replay import event_ids, make_producer, new_run_id, replay
from stream.model import artifact
from stream.model.predictor import Predictor
from stream.training.datasets import load_dataset
from stream.training.trainer import train

pytestmark = pytest.mark.integration

KEY = b"test-signing-key"


@pytest.fixture(scope="module")
def phishing():
    return load_dataset("phishing")


@pytest.fixture(scope="module")
def deployed(registry, phishing):
    """A logreg on Phishing deployed as champion of 'it-phish'; returns (version, offline predictor)."""
    trained = train(phishing, "logreg", "it-phish")
    blob = artifact.dumps(trained, KEY)
    version = registry.register(blob, trained.metadata, alias="champion", reason="integration test")
    return version, Predictor.from_artifact(artifact.loads(blob, KEY), version=version)


def watch(settings, run_id, expected, timeout=180):
    watcher = OutputWatcher(settings, run_id)
    try:
        assert watcher.wait_for(expected, timeout), f"only {watcher.total} of {expected} outputs arrived"
        watcher.poll(1.0)  # anything extra (a duplicate) shows up now
        return watcher
    finally:
        watcher.close()


def test_replayed_dataset_gets_one_prediction_per_event_equal_to_offline(worker, stack_settings, phishing, deployed):
    version, offline = deployed
    run_id = new_run_id()
    replay(stack_settings, phishing.rows, phishing.targets, "it-phish", run_id=run_id)
    watcher = watch(stack_settings, run_id, len(phishing.rows))

    ids = event_ids(run_id, len(phishing.rows))
    assert watcher.reasons() == {}
    assert set(watcher.predictions) == set(ids)
    for i, event_id in enumerate(ids):
        online = watcher.predictions[event_id]
        expected = offline.score(phishing.rows[i])
        assert (online["model"], online["version"]) == ("it-phish", version)
        assert online["prediction"] == expected["prediction"]
        assert online["proba"] == expected["proba"]  # exact: floats survive JSON unchanged
        assert online["ts_scored"] >= online["ts_event"]


def test_malformed_burst_is_dead_lettered_and_good_events_around_it_are_scored(worker, stack_settings, registry, phishing, deployed):
    # A registered model without a champion, for the no_champion reason.
    idle = train(load_dataset("phishing", limit=200), "gaussian-nb", "it-idle")
    registry.register(artifact.dumps(idle, KEY), idle.metadata, alias=None)
    good_features = phishing.rows[0]
    bad_messages = {
        "invalid_json": b"{not json",
        "not_an_object": b"[1, 2, 3]",
        "missing_id": json.dumps({"model": "it-phish", "features": good_features}).encode(),
        "unknown_model": json.dumps({"id": "u", "model": "it-nobody", "features": good_features}).encode(),
        "no_champion": json.dumps({"id": "n", "model": "it-idle", "features": good_features}).encode(),
        "missing_feature": json.dumps({"id": "m", "model": "it-phish", "features": {"https": 1.0}}).encode(),
        "wrong_type": json.dumps({"id": "w", "model": "it-phish", "features": dict(good_features, https="yes")}).encode(),
        "not_finite": json.dumps({"id": "f", "model": "it-phish", "features": dict(good_features, https=math.inf)}).encode(),
        "oversized": json.dumps({"id": "o", "model": "it-phish", "features": good_features, "pad": "x" * 70_000}).encode(),
        "invalid_field": json.dumps({"id": "i", "model": "it-phish", "features": "all of them"}).encode(),
    }
    run_id = new_run_id()
    producer = make_producer(stack_settings)
    expected_reasons = {}
    good = []
    for round_ in range(20):
        for reason, raw in bad_messages.items():
            key = f"{run_id}-bad-{round_}-{reason}"
            producer.send(stack_settings.topic("events"), key=key.encode(), value=raw)
            expected_reasons[key] = reason
            event_id = f"{run_id}-good-{round_}-{reason}"
            event = {"id": event_id, "model": "it-phish", "features": phishing.rows[len(good)]}
            producer.send(stack_settings.topic("events"), key=event_id.encode(), value=json.dumps(event).encode())
            good.append(event_id)
    producer.flush()
    producer.close()

    watcher = watch(stack_settings, run_id, len(good) + len(expected_reasons))
    assert set(watcher.predictions) == set(good)
    assert {k: d["reason"] for k, d in watcher.deadletters.items()} == expected_reasons
    letter = watcher.deadletters[f"{run_id}-bad-0-invalid_json"]
    assert letter["topic"] == stack_settings.topic("events") and letter["offset"] is not None
    import base64

    assert base64.b64decode(letter["raw"]) == b"{not json"

    health = worker.health()
    assert health["status"] == "ok" and health["models"]["it-phish"]["loaded_version"] is not None


def post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_http_predict_gives_the_offline_answers_and_the_stream_errors(worker, phishing, deployed):
    _, offline = deployed
    status, single = post(worker.url + "/predict", {"id": "h1", "model": "it-phish", "features": phishing.rows[5]})
    assert status == 200
    assert (single["prediction"], single["proba"]) == (offline.score(phishing.rows[5])["prediction"], offline.score(phishing.rows[5])["proba"])

    bodies = [{"id": f"h{i}", "model": "it-phish", "features": phishing.rows[i]} for i in range(50)]
    status, many = post(worker.url + "/predict", bodies + [{"id": "bad", "model": "it-phish", "features": {}}])
    assert status == 200
    for i, result in enumerate(many["results"][:50]):
        assert result["proba"] == offline.score(phishing.rows[i])["proba"]
    assert many["results"][50]["error"]["reason"] == "missing_feature"

    status, error = post(worker.url + "/predict", {"id": "x", "model": "it-nobody", "features": {}})
    assert status == 422 and error["error"]["reason"] == "unknown_model"


def test_cli_train_deploy_show_and_stream_a_regression_model(worker, stack_settings, tmp_path):
    env = dict(stack_settings.to_env(), PATH=__import__("os").environ["PATH"])
    cli = [sys.executable, "-m", "stream.cli"]
    out = tmp_path / "trump.dla"

    unsigned = subprocess.run(cli + ["train", "--dataset", "trumpapproval", "--model", "linreg", "--name", "it-trump", "--out", str(out)],
                              env=dict(env, DRIFTLINE_SIGNING_KEY=""), capture_output=True, text=True)
    assert unsigned.returncode == 1 and "DRIFTLINE_SIGNING_KEY" in unsigned.stderr

    trained = subprocess.run(cli + ["train", "--dataset", "trumpapproval", "--model", "linreg", "--name", "it-trump", "--out", str(out)],
                             env=env, capture_output=True, text=True)
    assert trained.returncode == 0, trained.stderr
    assert "mae" in trained.stdout.lower()

    deployed = subprocess.run(cli + ["deploy", str(out)], env=env, capture_output=True, text=True)
    assert deployed.returncode == 0 and "deployed it-trump version 1 as champion" in deployed.stdout, deployed.stderr

    shown = subprocess.run(cli + ["models", "show", "it-trump", "--json"], env=env, capture_output=True, text=True)
    info = json.loads(shown.stdout)
    assert info["aliases"] == {"champion": 1}
    assert [e["action"] for e in info["audit"]] == ["register", "alias"]
    assert info["versions"][0]["metadata"]["task"] == "regression"

    data = load_dataset("trumpapproval")
    offline = Predictor.from_artifact(artifact.read(out, KEY), version=1)
    run_id = new_run_id()
    replay(stack_settings, data.rows, data.targets, "it-trump", run_id=run_id, limit=100)
    watcher = watch(stack_settings, run_id, 100)
    for i, event_id in enumerate(event_ids(run_id, 100)):
        assert watcher.predictions[event_id]["prediction"] == offline.score(data.rows[i])["prediction"]
        assert "proba" not in watcher.predictions[event_id]


def test_an_output_watcher_from_now_reads_only_what_comes_after_it(stack, stack_settings):
    run_id = new_run_id()
    producer = make_producer(stack_settings)
    topic = stack_settings.topic("predictions")
    producer.send(topic, key=f"{run_id}-before".encode(), value=b'{"id": "before"}')
    producer.flush()
    watcher = OutputWatcher(stack_settings, run_id, from_now=True)
    try:
        producer.send(topic, key=f"{run_id}-after".encode(), value=b'{"id": "after"}')
        producer.flush()
        assert watcher.wait_for(1, 60)
        watcher.poll(1.0)
        assert set(watcher.predictions) == {f"{run_id}-after"}
    finally:
        watcher.close()
        producer.close()
    everything = OutputWatcher(stack_settings, run_id)
    try:
        assert everything.wait_for(2, 60) and set(everything.predictions) == {f"{run_id}-before", f"{run_id}-after"}
    finally:
        everything.close()
