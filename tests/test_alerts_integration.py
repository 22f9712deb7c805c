"""Alerts on the real stack: a worker of its own (own consumer group and topics) with an alerts
file, and real HTTP receivers on loopback that verify every request with the ``standardwebhooks``
package. Each test uses models of its own, and each endpoint hears only its test's models."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from alert_receiver import Receiver
from click.testing import CliRunner
from conftest import free_port
from learning_helpers import KEY
from test_drift_integration import agrawal, wait_until
from test_recovery_integration import own_group, start_worker

from stream.alerts.config import new_secret
from stream.cli import main
from stream.dev.outputs import OutputWatcher
from stream.dev.replay import make_producer, new_run_id, replay
from stream.model import artifact
from stream.training.trainer import train

pytestmark = pytest.mark.integration

SECRET = new_secret()


class Alerting:
    def __init__(self, settings, worker, receiver, flaky_port, alerts_file):
        self.settings, self.worker, self.receiver = settings, worker, receiver
        self.flaky_port, self.alerts_file = flaky_port, alerts_file


@pytest.fixture(scope="module")
def alerting(stack, stack_settings, registry, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("alerts")
    receiver = Receiver(SECRET, modes={"/broken": "fail", "/hang": "hang"})
    flaky_port = free_port()  # nothing listens here until the flaky test starts a receiver
    endpoint = lambda name, url, models, **more: dict(  # noqa: E731
        {"name": name, "url": url, "secret": SECRET, "models": models, "retry_schedule": [0, 1, 1]}, **more)
    alerts_file = tmp / "alerts.json"
    alerts_file.write_text(json.dumps({"cooldown_seconds": 4, "endpoints": [
        endpoint("ops", receiver.url("/ops"), ["al-once", "al-burst", "al-agrawal"]),
        endpoint("flaky", f"http://127.0.0.1:{flaky_port}/flaky", ["al-flaky"], retry_schedule=[0] + [1] * 40),
        endpoint("broken", receiver.url("/broken"), ["al-broken"], retry_schedule=[0, 0.5, 0.5]),
        endpoint("hang", receiver.url("/hang"), ["al-hang"], timeout=90),
        endpoint("healthy", receiver.url("/healthy"), ["al-hang"]),
    ]}))
    settings = own_group(stack_settings, tmp, "alerts", alerts_file=str(alerts_file), drift_window_size=2000,
                         drift_window_min_rows=500, drift_window_seconds=3.0, deploy_policy="off")
    for name in ("al-agrawal", "al-hang"):
        trained = train(agrawal(3000, 0), "hoeffding-tree", name, holdout=0.1)
        registry.register(artifact.dumps(trained, KEY), trained.metadata, alias="champion")
    worker = start_worker(settings, tmp, "alerts")
    try:
        worker.wait_ready(240, models=["al-agrawal", "al-hang"])
        yield Alerting(settings, worker, receiver, flaky_port, alerts_file)
    finally:
        worker.stop()
        receiver.stop()


def send_records(settings, records: list[dict]) -> None:
    producer = make_producer(settings)
    for record in records:
        producer.send(settings.topic("drift-events"), key=record["model"].encode(), value=json.dumps(record).encode())
    producer.flush()
    producer.close()


def drift(model: str, i: int, kind: str = "data_drift") -> dict:
    return {"model": model, "version": 1, "kind": kind, "ts": time.time(), "id": f"{model}-w{i}:{kind}",
            "drifted_columns": ["f1"], "n_drifted": 1, "n_columns": 5}


def alert_log(alerting, **query) -> dict:
    url = alerting.worker.url + "/api/alerts?" + "&".join(f"{k}={v}" for k, v in query.items())
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def ids_at(alerting, path: str, model: str) -> list[str]:
    return [r.verified["data"]["id"] for r in alerting.receiver.at(path) if r.verified and r.verified["data"]["model"] == model]


def test_a_drift_record_is_delivered_once_signed(alerting):
    first = drift("al-once", 1)
    # The same record twice on the topic (at-least-once), then a deployment record behind it on
    # the same partition: once that one has arrived, the duplicate has been handled too.
    send_records(alerting.settings, [first, first, dict(drift("al-once", 2, "deployed"), reason="test")])
    wait_until(lambda: len(ids_at(alerting, "/ops", "al-once")) >= 2, 60, "both records delivered")
    assert ids_at(alerting, "/ops", "al-once") == [first["id"], "al-once-w2:deployed"]
    requests = [r for r in alerting.receiver.at("/ops") if r.verified and r.verified["data"]["model"] == "al-once"]
    assert all(r.verify_error is None for r in requests)
    assert len({r.headers["webhook-id"] for r in requests}) == 2
    body = requests[0].verified
    assert (body["type"], body["count"], body["first_id"], body["data"]) == ("data_drift", 1, first["id"], first)
    log = alert_log(alerting, model="al-once")
    assert {d["state"] for d in log["deliveries"]} == {"delivered"} and len(log["deliveries"]) == 2
    assert {a["status"] for a in log["attempts"]} == {204}
    assert "secret" not in json.dumps(log["endpoints"]).replace('"signed"', "")


def test_a_receiver_that_is_down_and_comes_back_gets_the_alert(alerting):
    record = drift("al-flaky", 1, "concept_drift")
    send_records(alerting.settings, [record])

    def failed_attempts():
        return [a for a in alert_log(alerting, endpoint="flaky")["attempts"] if a["error"]]

    wait_until(lambda: len(failed_attempts()) >= 2, 60, "two failed attempts while the receiver is down")
    late = Receiver(SECRET, port=alerting.flaky_port)
    try:
        wait_until(lambda: late.at("/flaky"), 60, "the alert after the receiver came back")
    finally:
        late.stop()
    [received] = late.at("/flaky")
    assert received.verify_error is None and received.verified["data"]["id"] == record["id"]
    delivery = wait_until(lambda: [d for d in alert_log(alerting, endpoint="flaky")["deliveries"] if d["state"] == "delivered"],
                          30, "the delivery marked delivered")[0]
    assert delivery["attempts"] >= 3 and delivery["history"][0]["status"] is None and delivery["last_status"] == 204


def test_a_receiver_that_keeps_failing_is_given_up_after_the_schedule(alerting):
    send_records(alerting.settings, [drift("al-broken", 1)])
    failed = wait_until(lambda: alert_log(alerting, endpoint="broken", state="failed")["deliveries"], 60, "the delivery given up")
    assert failed[0]["attempts"] == 3 and [h["status"] for h in failed[0]["history"]] == [500, 500, 500]
    assert len(alerting.receiver.at("/broken")) == 3
    result = CliRunner().invoke(main, ["alerts", "--state", "failed", "--endpoint", "broken"], env=alerting.settings.to_env())
    assert result.exit_code == 0 and "failed" in result.output and "HTTP 500" in result.output


def test_a_burst_within_the_cooldown_arrives_as_one_collapsed_delivery(alerting):
    burst = [drift("al-burst", i, "feature_drift") for i in range(1, 7)]
    send_records(alerting.settings, burst)
    # The first at once, the five behind it when the 4-second cooldown ends: one delivery.
    wait_until(lambda: len(ids_at(alerting, "/ops", "al-burst")) >= 2, 60, "the collapsed delivery")
    bodies = [r.verified for r in alerting.receiver.at("/ops") if r.verified and r.verified["data"]["model"] == "al-burst"]
    assert [(b["count"], b["first_id"], b["last_id"]) for b in bodies] == [
        (1, burst[0]["id"], burst[0]["id"]), (5, burst[1]["id"], burst[5]["id"])]
    assert bodies[1]["data"] == burst[5]


def test_a_hanging_receiver_delays_neither_another_endpoint_nor_scoring(alerting):
    send_records(alerting.settings, [drift("al-hang", 1)])
    wait_until(lambda: alerting.receiver.hanging_now >= 1, 60, "the hanging endpoint holding the alert")
    wait_until(lambda: alerting.receiver.at("/healthy"), 30, "the healthy endpoint's copy")
    # While that request hangs, a stream is scored in full.
    data = agrawal(3000, 7)
    run_id = new_run_id()
    watcher = OutputWatcher(alerting.settings, run_id)
    try:
        replay(alerting.settings, data.rows, None, "al-hang", run_id=run_id)
        assert watcher.wait_for(len(data.rows), 120), f"{watcher.total} of {len(data.rows)} scored"
        assert not watcher.deadletters
    finally:
        watcher.close()
    assert alerting.receiver.hanging_now >= 1  # still hanging all along


def test_a_shift_in_two_features_reaches_the_webhook_as_a_feature_drift(alerting):
    replay(alerting.settings, agrawal(3000, 3, shifted=True).rows, None, "al-agrawal", run_id=new_run_id())
    received = wait_until(lambda: [r.verified for r in alerting.receiver.at("/ops")
                                   if r.verified and r.verified["data"]["model"] == "al-agrawal"], 120, "the feature_drift alert")
    alert = received[0]
    assert alert["type"] == "feature_drift" and sorted(alert["data"]["drifted_columns"]) == ["age", "salary"]


def test_driftline_alerts_test_sends_a_signed_test_event(alerting):
    result = CliRunner().invoke(main, ["alerts", "test", "ops"], env=alerting.settings.to_env())
    assert result.exit_code == 0, result.output
    assert "ops: HTTP 204" in result.output
    tests = [r for r in alerting.receiver.at("/ops") if r.verified and r.verified["type"] == "test"]
    assert len(tests) == 1 and tests[0].verify_error is None
    missing = CliRunner().invoke(main, ["alerts", "test", "nobody"], env=alerting.settings.to_env())
    assert missing.exit_code == 1 and "no endpoint 'nobody'" in missing.output
