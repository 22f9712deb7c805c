"""Poison on the real stack: hostile messages on ``events`` and ``labels`` between good ones.

Every good event is scored and every good label learned, every poison message is dead-lettered
with its reason, no agent crashes (the worker log shows no supervisor restart), ``/health``
counts the dead letters, and no input to any HTTP endpoint answers 500.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from learning_helpers import KEY, wait_learned

from stream.dev.outputs import OutputWatcher
from stream.dev.replay import make_producer, new_run_id
from stream.model import artifact
from stream.training.datasets import load_dataset
from stream.training.trainer import train

pytestmark = pytest.mark.integration

MODEL = "p8-poison"


def poison_events(features: dict) -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, the dead-letter reason they must get)."""
    def event(literal: bytes = b"0.0", **fields):
        """An event whose feature 'https' is written as ``literal`` (what json.dumps cannot write)."""
        body = {"id": "p", "model": MODEL, "features": dict(features, https="@HTTPS@"), **fields}
        return json.dumps(body).encode().replace(b'"@HTTPS@"', literal)

    return {
        "deep": (b"[" * 20_000 + b"]" * 20_000, "unprocessable"),
        "deep_feature": (event(b"[" * 5000 + b"]" * 5000), "unprocessable"),
        "huge_int": (b'{"id": ' + b"7" * 5000 + b', "features": {}}', "unprocessable"),
        "huge_int_feature": (event(b"1" + b"0" * 400), "not_finite"),
        "inf_feature": (event(b"1e400"), "not_finite"),
        "nan_ts": (event().replace(b'"id": "p"', b'"id": "p", "ts": NaN'), "invalid_field"),
        "lone_surrogate": (b'{"id": "\\ud800", "features": {}}', "invalid_json"),
        "not_utf8": (b'{"id": "\xff\xfe", "features": {}}', "invalid_json"),
        "truncated": (event()[:-7], "invalid_json"),
        "wrong_top_level": (b'"just a string"', "not_an_object"),
        "label_of_wrong_type": (event(label={"nested": [1]}), "invalid_label"),
        "oversized": (event(pad="x" * 200_000), "oversized"),
    }


POISON_LABELS = {
    "deep": (b'{"id": "x", "label": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", "unprocessable"),
    "huge_int": (b'{"id": "x", "label": ' + b"9" * 5000 + b"}", "unprocessable"),
    "list_label": (b'{"id": "x", "label": [1, 2]}', "invalid_label"),
    "nan_label": (b'{"id": "x", "label": NaN}', "invalid_label"),
    "not_utf8": (b'{"id": "x\xc3", "label": 1}', "invalid_json"),
    "lone_surrogate": (b'{"id": "\\udc00", "label": 1}', "invalid_json"),
    "no_label": (b'{"id": "x"}', "missing_label"),
    "not_an_object": (b"[1]", "not_an_object"),
}


@pytest.fixture(scope="module")
def deployed(registry):
    data = load_dataset("phishing")
    trained = train(load_dataset("phishing", limit=300), "logreg", MODEL)
    registry.register(artifact.dumps(trained, KEY), trained.metadata, alias="champion", reason="poison test")
    return data


def test_poison_on_events_and_labels_is_dead_lettered_and_every_good_message_goes_through(worker, stack_settings, deployed):
    data = deployed
    log_start = worker.log_path.stat().st_size
    before = worker.health()
    run_id = new_run_id()
    producer = make_producer(stack_settings)
    events_topic, labels_topic = stack_settings.topic("events"), stack_settings.topic("labels")
    expected: dict[str, str] = {}
    good: list[str] = []
    rounds = 5
    for round_ in range(rounds):
        for name, (raw, reason) in poison_events(data.rows[0]).items():
            key = f"{run_id}-bad-{round_}-{name}"
            producer.send(events_topic, key=key.encode(), value=raw)
            expected[key] = reason
            event_id = f"{run_id}-good-{round_}-{name}"
            row = data.rows[len(good)]
            producer.send(events_topic, key=event_id.encode(),
                          value=json.dumps({"id": event_id, "model": MODEL, "features": row}).encode())
            good.append(event_id)
    producer.flush()
    watcher = OutputWatcher(stack_settings, run_id)
    try:
        assert watcher.wait_for(len(good) + len(expected), 180), f"only {watcher.total} of {len(good) + len(expected)} outputs"
        # Labels once their events are scored (so none waits for the grace period), poison between them.
        for round_ in range(rounds):
            for name, (raw, reason) in POISON_LABELS.items():
                key = f"{run_id}-badlabel-{round_}-{name}"
                producer.send(labels_topic, key=key.encode(), value=raw)
                expected[key] = reason
            for event_id in good[round_::rounds]:
                i = good.index(event_id)
                producer.send(labels_topic, key=event_id.encode(),
                              value=json.dumps({"id": event_id, "label": data.targets[i], "model": MODEL}).encode())
        producer.flush()
        assert watcher.wait_for(len(good) + len(expected), 180), f"only {watcher.total} of {len(good) + len(expected)} outputs"
        watcher.poll(1.0)
    finally:
        producer.close()
        watcher.close()

    assert set(watcher.predictions) == set(good)
    assert {k: d["reason"] for k, d in watcher.deadletters.items()} == expected
    oversized = watcher.deadletters[f"{run_id}-bad-0-oversized"]
    assert oversized["raw_truncated"] is True and len(base64.b64decode(oversized["raw"])) == 65536
    assert base64.b64decode(watcher.deadletters[f"{run_id}-bad-0-not_utf8"]["raw"]) == poison_events(data.rows[0])["not_utf8"][0]

    info = wait_learned(worker_registry(stack_settings), MODEL, len(good))
    assert info["n_learned"] == len(good)

    health = worker.health()
    for reason in {r for k, r in expected.items() if "-bad-" in k}:
        n = sum(1 for k, r in expected.items() if "-bad-" in k and r == reason)
        assert health["deadlettered"].get(reason, 0) - before["deadlettered"].get(reason, 0) >= n, reason
        assert health["agents"]["score"]["deadlettered"].get(reason, 0) >= n
    label_counts = health["agents"]["labels"]["deadlettered"]
    for reason in {r for k, r in expected.items() if "-badlabel-" in k}:
        assert label_counts.get(reason, 0) >= sum(1 for k, r in expected.items() if "-badlabel-" in k and r == reason), reason
    assert all(agent["fallbacks"] == 0 for agent in health["agents"].values()), health["agents"]

    log = worker.log_path.read_bytes()[log_start:].decode(errors="replace")
    for sign_of_a_crash in ("Restarting dead", "crashed", "Traceback"):
        assert sign_of_a_crash not in log, log[-3000:]


def worker_registry(settings):
    from stream.registry.registry import Registry

    return Registry.from_url(settings.redis_url)


def request(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_no_input_to_any_endpoint_answers_500(worker, deployed):
    bodies = [raw for raw, _ in poison_events(deployed.rows[0]).values()] + [
        b"", b"null", b"[]", b"[" + b"[]," * 2000 + b"[]]", b'[{"model": [1], "features": {}}, 5, "x", null]',
        b'{"id": 1, "model": {"a": 1}, "features": {}}', b'{"id": "h", "model": "' + MODEL.encode() + b'", "features": []}',
        json.dumps([{"id": i, "model": MODEL, "features": deployed.rows[0], "ts": "soon"} for i in range(3)]).encode(),
        b"x" * 3_000_000,
    ]
    for body in bodies:
        status, answer = request(worker.url + "/predict", "POST", body)
        assert status < 500, (body[:80], status, answer[:300])
        # An event with a label teaches the model: without the token it is refused (the worker has none).
        assert status in (200, 400, 413, 422) or (b'"label"' in body and status == 403), (body[:80], status)
        json.loads(answer)
    odd = ["%ED%A0%80", "%FF", "..%2F..", "x" * 5000, urllib.parse.quote("\u00e9\u4e2d"), "%00"]
    for name in odd:
        for path in (f"/api/models/{name}", f"/api/drift/{name}", f"/api/drift/{name}/windows/{name}",
                     f"/api/drift/{MODEL}/windows/{name}", f"/api/drift/{MODEL}/reports/{name}?format={name}",
                     f"/api/drift/{name}/reports/latest"):
            status, answer = request(worker.url + path)
            assert status < 500, (path[:120], status, answer[:300])
    status, answer = request(worker.url + "/predict")  # GET on a POST endpoint
    assert status == 405 and json.loads(answer)["error"]["reason"] == "method_not_allowed"
    status, answer = request(worker.url + "/no-such-endpoint")
    assert status == 404 and json.loads(answer)["error"]["reason"] == "not_found"


def test_labels_the_model_cannot_take_are_dead_lettered_and_never_learned(worker, stack_settings, deployed):
    """A label outside the model's classes, or naming another model than the one that scored its
    event, is dead-lettered with what was wrong when it is joined; the event still takes its right label."""
    from kafka import KafkaConsumer

    data, registry = deployed, worker_registry(stack_settings)
    run_id = new_run_id()
    ids = [f"{run_id}-sem-{i}" for i in range(4)]
    producer = make_producer(stack_settings)
    watcher = OutputWatcher(stack_settings, run_id)
    try:
        for i, event_id in enumerate(ids):
            producer.send(stack_settings.topic("events"), key=event_id.encode(),
                          value=json.dumps({"id": event_id, "model": MODEL, "features": data.rows[i]}).encode())
        producer.flush()
        assert watcher.wait_for(len(ids), 120), f"only {watcher.total} of {len(ids)} scored"
    finally:
        watcher.close()
    learned = (registry.snapshot_info(MODEL) or {}).get("n_learned", 0)
    labels = [{"id": ids[0], "label": 5}, {"id": ids[1], "label": "maybe"},
              {"id": ids[2], "label": data.targets[2], "model": "p8-someone-else"},
              {"id": ids[2], "label": data.targets[2], "model": MODEL}, {"id": ids[3], "label": data.targets[3]}]
    for label in labels:
        producer.send(stack_settings.topic("labels"), key=label["id"].encode(), value=json.dumps(label).encode())
    producer.close()

    consumer = KafkaConsumer(stack_settings.topic("deadletter"), bootstrap_servers=stack_settings.broker_servers,
                             group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
    found: dict[str, dict] = {}
    deadline = time.monotonic() + 120
    try:
        while len(found) < 3 and time.monotonic() < deadline:
            for messages in consumer.poll(timeout_ms=500).values():
                for message in messages:
                    record = json.loads(message.value)
                    if record.get("id") in ids[:3]:
                        found[record["id"]] = record
    finally:
        consumer.close()
    assert {k: r["reason"] for k, r in found.items()} == {ids[0]: "invalid_label", ids[1]: "invalid_label",
                                                           ids[2]: "model_mismatch"}
    assert "not one of the model's classes" in found[ids[0]]["detail"] and "'maybe'" in found[ids[1]]["detail"]
    assert MODEL in found[ids[2]]["detail"] and found[ids[2]]["model"] == "p8-someone-else"
    # The refused labels left their events waiting: a right label for ids[0] is learned too.
    producer = make_producer(stack_settings)
    producer.send(stack_settings.topic("labels"), key=ids[0].encode(),
                  value=json.dumps({"id": ids[0], "label": data.targets[0]}).encode())
    producer.close()
    # ids[0]'s, ids[2]'s and ids[3]'s right labels, and not the refused ones.
    assert wait_learned(registry, MODEL, learned + 3)["n_learned"] == learned + 3
