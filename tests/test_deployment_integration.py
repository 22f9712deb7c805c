"""Continuous deployment on the real stack: a worker of its own (own consumer group and topics)
with a small retrain window, scored streams with labels, and everything read back from
``drift-events``, ``predictions``, ``shadow-predictions``, the registry and the worker's API."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner
from drift_helpers import synthetic
from learning_helpers import KEY, read_topic
from test_recovery_integration import own_group, start_worker

from stream.cli import main
from stream.dev.replay import make_producer, new_run_id
from stream.model import artifact
from stream.training.trainer import train

pytestmark = pytest.mark.integration

TOKEN = "deploy-test-token"
DECISIONS = ("deployed", "challenger_discarded", "rolled_back")


class Running:
    def __init__(self, settings, worker, tmp):
        self.settings, self.worker, self.tmp = settings, worker, tmp


@pytest.fixture(scope="module")
def deploy_stack(stack, stack_settings, registry, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("deploy")
    settings = own_group(stack_settings, tmp, "deploy", api_token=TOKEN, retrain_min_examples=600,
                         promote_min_disagreements=20, challenger_max_examples=800, probation_examples=400,
                         drift_window_size=1000, drift_window_min_rows=500)
    running = Running(settings, start_worker(settings, tmp, "deploy"), tmp)
    try:
        running.worker.wait_ready(240)
        yield running
    finally:
        running.worker.stop()


def register(registry, name: str, data, spec: str, alias: str | None = "champion") -> int:
    trained = train(data, spec, name, holdout=0.1)
    return registry.register(artifact.dumps(trained, KEY), trained.metadata, alias=alias)


def send(settings, name: str, data, run_id: str, start: int = 0) -> None:
    producer = make_producer(settings)
    for i, (x, y) in enumerate(zip(data.rows, data.targets), start=start):
        event = {"id": f"{run_id}-{i}", "model": name, "features": x, "label": y}
        producer.send(settings.topic("events"), key=event["id"].encode(), value=json.dumps(event).encode())
    producer.flush()
    producer.close()


def records(settings, name: str, kind: str | None = None) -> list[dict]:
    found = [json.loads(m.value) for m in read_topic(settings, "drift-events", key=name.encode(), timeout_ms=1500)]
    return [r for r in found if kind is None or r["kind"] == kind]


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout:.0f}s")


def wait_record(settings, name: str, kind: str, timeout: float = 240.0) -> dict:
    return wait_until(lambda: records(settings, name, kind), timeout, f"a {kind} record for {name}")[0]


def post(worker, path: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(worker.url + path, data=json.dumps(body or {}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def cli(settings, *args: str):
    return CliRunner().invoke(main, list(args), env=settings.to_env())


def test_a_stationary_stream_retrains_nothing_and_a_no_better_challenger_is_discarded(deploy_stack, registry):
    settings, worker = deploy_stack.settings, deploy_stack.worker
    name = "cd-steady"
    v1 = register(registry, name, synthetic(3000, 0), "logreg")
    run_id = new_run_id()
    send(settings, name, synthetic(3000, 5), run_id)
    wait_until(lambda: (registry.snapshot_info(name) or {}).get("n_learned", 0) >= 3000, 180, "3,000 examples learned")
    time.sleep(1.0)  # the last windows' records, if any, would be on drift-events by now
    assert records(settings, name, "retrain_started") == []

    # A manual retrain over HTTP needs the token.
    assert post(worker, f"/api/models/{name}/retrain")[0] == 401
    assert post(worker, f"/api/models/{name}/retrain", token="wrong")[0] == 401
    status, body = post(worker, f"/api/models/{name}/retrain", {"reason": "try a fresh fit"}, token=TOKEN)
    assert status == 200 and body["ok"], body
    registered = wait_record(settings, name, "challenger_registered")
    assert registered["parent_version"] == v1 and registered["spec"] == "logreg" and registered["version"] != v1
    # What the candidate costs to learn, and the label rate it was held to (logreg keeps up with anything here).
    assert registered["learn_ms"]["logreg"] > 0 and "passed_over" not in registered
    with urllib.request.urlopen(worker.url + "/health", timeout=30) as response:
        assert json.loads(response.read())["deployment"]["label_rates"][name] > 0
    assert registry.aliases(name) == {"champion": v1, "challenger": registered["version"]}
    # The challenger answers in shadow, never on predictions.
    send(settings, name, synthetic(2000, 6), run_id, start=3000)
    discarded = wait_record(settings, name, "challenger_discarded")
    assert discarded["to_version"] == registered["version"] and discarded["test"]["n"] >= 800
    assert registry.aliases(name) == {"champion": v1}
    shadows = [json.loads(m.value) for m in read_topic(settings, "shadow-predictions")]
    mine = [s for s in shadows if s["model"] == name]
    assert mine and {s["alias"] for s in mine} == {"challenger"} and {s["version"] for s in mine} == {registered["version"]}
    served = {json.loads(m.value)["version"] for m in read_topic(settings, "predictions") if json.loads(m.value)["model"] == name}
    assert served == {v1}


def test_a_person_s_promotion_is_the_decision_of_the_trigger_whose_challenger_is_in_shadow(deploy_stack, registry):
    """Promoting the challenger in shadow decides its trigger (the deployed record carries it);
    promoting another version ends that trigger with a challenger_discarded record, not silently."""
    settings, worker = deploy_stack.settings, deploy_stack.worker
    other, same = "cd-person-other", "cd-person-same"
    v1 = {name: register(registry, name, synthetic(3000, 0), "logreg") for name in (other, same)}
    v2 = register(registry, other, synthetic(3000, 9), "logreg", alias=None)
    for name in (other, same):
        send(settings, name, synthetic(1000, 5), new_run_id())
    for name in (other, same):
        wait_until(lambda name=name: (registry.snapshot_info(name) or {}).get("n_learned", 0) >= 1000, 180,
                   f"{name}: 1,000 examples learned")
        status, body = post(worker, f"/api/models/{name}/retrain", {"reason": "a fresh fit"}, token=TOKEN)
        assert status == 200 and body["ok"], body
    registered = {name: wait_record(settings, name, "challenger_registered") for name in (other, same)}

    status, body = post(worker, f"/api/models/{other}/promote", {"version": v2, "reason": "v2 it is"}, token=TOKEN)
    assert status == 200 and registry.aliases(other)["champion"] == v2, body
    discarded = wait_record(settings, other, "challenger_discarded", timeout=30)
    assert (discarded["trigger"], discarded["to_version"]) == (registered[other]["trigger"], registered[other]["version"])
    assert f"v{v2} promoted instead" in discarded["reason"] and discarded["by"] == "api"

    status, body = post(worker, f"/api/models/{same}/promote", {"version": registered[same]["version"]}, token=TOKEN)
    assert status == 200, body
    deployed = wait_record(settings, same, "deployed", timeout=30)
    assert (deployed["trigger"], deployed["from_version"], deployed["to_version"], deployed["by"]) == \
        (registered[same]["trigger"], v1[same], registered[same]["version"], "api")


def test_a_bad_manual_promotion_is_rolled_back_by_probation_and_manual_moves_are_audited(deploy_stack, registry):
    settings, worker = deploy_stack.settings, deploy_stack.worker
    name = "cd-bad"
    v1 = register(registry, name, synthetic(3000, 0), "logreg")
    v2 = register(registry, name, synthetic(3000, 7, label_flip=True), "logreg", alias=None)  # learned the wrong concept
    result = cli(settings, "models", "promote", name, str(v2), "--reason", "trying v2")
    assert result.exit_code == 0, result.output
    assert f"deployed {name}: v{v1} -> v{v2}" in result.output
    assert registry.aliases(name) == {"champion": v2, "challenger": v1}  # v1 in shadow, on probation
    deployed = wait_record(settings, name, "deployed", timeout=30)
    assert (deployed["from_version"], deployed["to_version"], deployed["by"]) == (v1, v2, "cli")

    send(settings, name, synthetic(1500, 8), new_run_id())
    rolled = wait_record(settings, name, "rolled_back")
    assert (rolled["from_version"], rolled["to_version"]) == (v2, v1) and rolled["test"]["b"] > rolled["test"]["c"]
    assert "previous champion" in rolled["reason"]
    assert registry.aliases(name) == {"champion": v1}

    # Manual promotion over HTTP (token) and manual rollback from the CLI.
    assert post(worker, f"/api/models/{name}/promote", {"version": v2})[0] == 401
    status, body = post(worker, f"/api/models/{name}/promote", {"version": 999}, token=TOKEN)
    assert status == 409 and "no version 999" in body["error"]["detail"]
    status, body = post(worker, f"/api/models/{name}/promote", {"version": v2, "reason": "api try"}, token=TOKEN)
    assert status == 200 and body["record"]["by"] == "api" and registry.aliases(name)["champion"] == v2
    result = cli(settings, "models", "rollback", name)
    assert result.exit_code == 0, result.output
    assert registry.aliases(name) == {"champion": v1}
    # The same rollback again (a retried request) does not bring back the version it took off.
    again = cli(settings, "models", "rollback", name)
    assert again.exit_code != 0 and "no promotion to undo" in again.output, again.output
    assert registry.aliases(name) == {"champion": v1}
    history = registry.history(name)
    assert [(h["version"], h["by"]) for h in history[-5:]] == [(v1, "cli"), (v2, "cli"), (v1, "controller"), (v2, "api"), (v1, "cli")]
    shown = cli(settings, "models", "history", name)
    assert shown.exit_code == 0 and f"v{v2}" in shown.output and "by api" in shown.output
    unknown = cli(settings, "models", "deployment", "cd-no-such-model")
    assert unknown.exit_code == 1 and "unknown model 'cd-no-such-model'" in unknown.output


def test_a_concept_drift_is_retrained_shadowed_and_promoted_once_even_across_a_crash(deploy_stack, registry):
    settings = deploy_stack.settings
    name = "cd-flip"
    # A tree grown on 20,000 examples takes about as many of the new concept to flip its leaves'
    # class counts by online learning alone; a tree trained on the new concept is right at once.
    v1 = register(registry, name, synthetic(20_000, 0), "hoeffding-tree")
    run_id = new_run_id()
    send(settings, name, synthetic(1500, 11), run_id)
    send(settings, name, synthetic(1500, 12, label_flip=True), run_id, start=1500)
    started = wait_record(settings, name, "retrain_started")
    trigger = started["trigger"]
    assert started["trigger_kind"] == "concept_drift" and started["window"]["n"] >= 600

    # The worker dies between the retrain's start and its decision; another takes over.
    deploy_stack.worker.kill()
    deploy_stack.worker = start_worker(settings, deploy_stack.tmp, "deploy-2")
    deploy_stack.worker.wait_ready(240)

    registered = wait_record(settings, name, "challenger_registered")
    v2 = registered["version"]
    assert registered["trigger"] == trigger and registered["parent_version"] == v1
    send(settings, name, synthetic(2500, 13, label_flip=True), run_id, start=3000)
    deployed = wait_record(settings, name, "deployed")
    assert (deployed["from_version"], deployed["to_version"], deployed["trigger"]) == (v1, v2, trigger)
    test = deployed["test"]
    assert test["e_value"] >= test["threshold"] >= 200 and test["b"] > test["c"] and test["gain"] >= 0.01
    assert test["n"] >= test["b"] + test["c"] and test["pairs"] == test["since"] + test["n"]

    # Predictions switch to the new version; probation ends with v2 kept.
    send(settings, name, synthetic(1500, 14, label_flip=True), run_id, start=5500)
    wait_until(lambda: registry.aliases(name) == {"champion": v2}, 240, "probation to end with v2 as champion")
    served = [json.loads(m.value) for m in read_topic(settings, "predictions")]
    assert any(p["model"] == name and p["version"] == v2 for p in served)

    # Exactly one decision and one challenger for the trigger, however often records were sent.
    mine = records(settings, name)
    decisions = {r["id"] for r in mine if r["kind"] in DECISIONS and r["trigger"] == trigger}
    assert decisions == {f"{name}:{trigger}:deployed"}
    from_trigger = [v for v in registry.versions(name) if (v["metadata"].get("retrain") or {}).get("trigger") == trigger]
    assert [v["version"] for v in from_trigger] == [v2]
