"""Drift monitoring on the real stack: a worker of its own (own consumer group, own topics, windows
of 2,000 events) scores synthetic streams; the monitor judges windows against the champion's
training baseline, the learner watches its errors, and everything is read back from
``drift-events``, Redis and the worker's API."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner
from drift_helpers import synthetic
from learning_helpers import KEY, read_topic
from river.datasets import synth
from test_recovery_integration import own_group, start_worker

from stream.cli import main
from stream.dev.replay import make_producer, new_run_id, replay
from stream.model import artifact
from stream.monitoring.store import DriftStore
from stream.training.datasets import Dataset
from stream.training.trainer import train

pytestmark = pytest.mark.integration

SHIFTED = ("f2", "f3", "plan")


class Running:
    """The module's worker (the last test replaces it with another)."""

    def __init__(self, settings, worker, tmp):
        self.settings, self.worker, self.tmp = settings, worker, tmp

    def __iter__(self):
        return iter((self.settings, self.worker))


@pytest.fixture(scope="module")
def drift_stack(stack, stack_settings, registry, tmp_path_factory):
    """(settings, worker) of a worker with small windows that also close 3 s after they open."""
    tmp = tmp_path_factory.mktemp("drift")
    settings = own_group(stack_settings, tmp, "drift", drift_window_size=2000, drift_window_min_rows=500,
                         drift_window_seconds=3.0)
    for name in ("dr-shift", "dr-concept", "dr-resume"):
        trained = train(synthetic(3000, 0), "logreg", name, holdout=0.1)
        registry.register(artifact.dumps(trained, KEY), trained.metadata, alias="champion")
    trained = train(agrawal(3000, 0), "hoeffding-tree", "dr-agrawal", holdout=0.1)
    registry.register(artifact.dumps(trained, KEY), trained.metadata, alias="champion")
    running = Running(settings, start_worker(settings, tmp, "drift"), tmp)
    try:
        running.worker.wait_ready(240, models=["dr-shift", "dr-concept", "dr-agrawal"])
        yield running
    finally:
        running.worker.stop()


def get(worker, path: str):
    with urllib.request.urlopen(worker.url + path, timeout=30) as response:
        body = response.read()
        return json.loads(body) if response.headers.get_content_type() == "application/json" else body


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout:.0f}s")


def drift_records(settings, model: str) -> list[dict]:
    return [json.loads(m.value) for m in read_topic(settings, "drift-events", key=model.encode(), timeout_ms=1500)]


def judged_rows(store: DriftStore, model: str) -> int:
    return sum(w["n_rows"] for w in store.windows(model))


def agrawal(n: int, seed: int, shifted: bool = False) -> Dataset:
    """River's Agrawal stream (9 features); ``shifted``: salary x 1.5 and age + 15, same concept."""
    rows, targets = [], []
    for x, y in synth.Agrawal(classification_function=0, seed=seed).take(n):
        if shifted:
            x = dict(x, salary=x["salary"] * 1.5, age=x["age"] + 15)
        rows.append(x)
        targets.append(y)
    return Dataset("agrawal", "binary_classification", "y", rows, targets)


def test_a_shift_in_two_of_nine_features_is_a_feature_drift_naming_them(drift_stack, stack_settings):
    settings, worker = drift_stack
    store = DriftStore.from_url(stack_settings.redis_url)
    replay(settings, agrawal(4000, 1).rows, None, "dr-agrawal", run_id=new_run_id())
    wait_until(lambda: judged_rows(store, "dr-agrawal") == 4000, 120, "the 4,000 stationary events judged")
    stationary = {w["id"] for w in store.windows("dr-agrawal")}
    assert len(stationary) >= 2
    assert drift_records(settings, "dr-agrawal") == []  # not one column drifted in any stationary window

    replay(settings, agrawal(4000, 2, shifted=True).rows, None, "dr-agrawal", run_id=new_run_id())
    wait_until(lambda: judged_rows(store, "dr-agrawal") == 8000, 120, "the 4,000 shifted events judged")
    records = drift_records(settings, "dr-agrawal")
    shifted_windows = [w for w in store.windows("dr-agrawal") if w["id"] not in stationary]
    # One feature_drift per shifted window (2 of 9 is below the drift share of 0.5: no data_drift).
    assert sorted(r["kind"] for r in records) == ["feature_drift"] * len(shifted_windows)
    for record in records:
        assert sorted(record["drifted_columns"]) == ["age", "salary"]
        assert (record["n_drifted"], record["n_columns"], record["share"]) == (2, 9, 2 / 9)
        assert record["window"]["id"] in {w["id"] for w in shifted_windows}
    assert get(worker, "/api/drift/dr-agrawal")["status"]["feature_drift"] is True


def test_a_shift_in_some_features_is_reported_by_name_and_a_stationary_stream_is_not(drift_stack, stack_settings):
    settings, worker = drift_stack
    store = DriftStore.from_url(stack_settings.redis_url)
    # Stationary: fresh rows from the training distribution.
    replay(settings, synthetic(4000, 1).rows, None, "dr-shift", run_id=new_run_id())
    wait_until(lambda: judged_rows(store, "dr-shift") == 4000, 120, "the 4,000 stationary events judged")
    stationary = store.windows("dr-shift")
    assert len(stationary) >= 2 and all(w["n_rows"] >= 500 for w in stationary)
    for window in stationary:
        assert not window["verdicts"]["features"]["drifted"] and not window["verdicts"]["predictions"]["drifted"]
        assert window["verdicts"]["features"]["n_drifted"] == 0, window["verdicts"]["features"]
    assert drift_records(settings, "dr-shift") == []

    # Shifted: three of the five features move (f2 and f3 by three standard deviations, plan's shares).
    replay(settings, synthetic(4000, 2, shift=SHIFTED).rows, None, "dr-shift", run_id=new_run_id())
    wait_until(lambda: judged_rows(store, "dr-shift") == 8000, 120, "the 4,000 shifted events judged")
    records = drift_records(settings, "dr-shift")
    data_drift = [r for r in records if r["kind"] == "data_drift"]
    shifted_windows = [w for w in store.windows("dr-shift") if w["id"] not in {s["id"] for s in stationary}]
    assert len(data_drift) == len(shifted_windows) >= 2  # one record per window
    for record in data_drift:
        assert record["drifted_columns"] == list(SHIFTED) and record["share"] == 3 / 5
        assert {c: v["verdict"] for c, v in record["columns"].items()} == {
            "f0": "no_drift", "f1": "no_drift", "f2": "drift", "f3": "drift", "plan": "drift"}
        assert record["columns"]["f2"]["method"] == "wasserstein" and record["columns"]["f2"]["score"] > 1.0
        assert record["columns"]["plan"]["method"] == "jensenshannon" and record["columns"]["plan"]["threshold"] == 0.1
        window = record["window"]
        assert window["id"] in {w["id"] for w in shifted_windows} and window["start"] <= window["end"]
        assert record["version"] is not None and record["model"] == "dr-shift"

    # The API shows the status and the windows; every drift decision gets a stored report.
    status = get(worker, "/api/drift/dr-shift")
    assert status["status"]["data_drift"] is True and status["champion"] == record["version"]
    assert [w["id"] for w in status["windows"]] == [w["id"] for w in store.windows("dr-shift")][:20]
    assert status["status"]["last_window"]["data_drift"]["drifted_columns"] == list(SHIFTED)
    latest = get(worker, "/api/drift/dr-shift/windows/latest")
    assert latest["verdicts"]["features"]["columns"]["f3"]["drifted"] is True
    decisions = {r["window"]["id"] for r in data_drift}

    def reports_of_every_decision():
        reports = get(worker, "/api/drift/dr-shift")["reports"]
        return reports if {r["window"] for r in reports} >= decisions else None

    reports = wait_until(reports_of_every_decision, 240, "a report rendered by the worker for every drift decision")
    html = get(worker, reports[0]["html"])
    assert b"<!doctype html" in html[:200].lower() and b"f2" in html
    health = worker.health()["monitoring"]
    assert health["enabled"] and health["score_path"]["errors"] == 0 and health["score_path"]["summaries_sent"] > 0
    assert health["monitor"]["windows_closed"] >= 4 and health["reports"]["rendered"] >= 1


def test_driftline_report_renders_a_stored_window(drift_stack, stack_settings, tmp_path):
    settings, worker = drift_stack
    store = DriftStore.from_url(stack_settings.redis_url)
    wait_until(lambda: any(w["verdicts"]["features"]["drifted"] for w in store.windows("dr-shift")), 240, "a drifted window")
    drifted = next(w for w in store.windows("dr-shift") if w["verdicts"]["features"]["drifted"])
    env = settings.to_env()
    out = tmp_path / "window.html"
    result = CliRunner().invoke(main, ["report", "--model", "dr-shift", "--window", drifted["id"], "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert "data drift yes (3/5 features drifted: f2, f3, plan)" in result.output
    assert out.read_bytes().count(b"f2") > 0 and len(out.read_bytes()) > 100_000
    as_json = tmp_path / "window.json"
    result = CliRunner().invoke(main, ["report", "--model", "dr-shift", "--window", drifted["id"], "--out", str(as_json), "--json"], env=env)
    assert result.exit_code == 0, result.output
    values = {m["config"].get("column"): m["value"] for m in json.loads(as_json.read_text())["metrics"]
              if m["config"]["type"].endswith("ValueDrift")}
    # Evidently, on the window's sample (about 1,000 of its events) and the baseline's.
    assert values["f2"] > 1.0 and values["f3"] > 1.0 and values["f0"] < 0.1 and values["f1"] < 0.1
    missing = CliRunner().invoke(main, ["report", "--model", "dr-shift", "--window", "0-0-0", "--out", str(out)], env=env)
    assert missing.exit_code != 0 and "no stored drift window '0-0-0'" in missing.output


def test_a_changed_concept_gives_a_concept_drift_record(drift_stack, stack_settings):
    settings, worker = drift_stack
    run_id = new_run_id()
    producer = make_producer(settings)
    before, after = synthetic(3000, 3), synthetic(3000, 4, label_flip=True)  # same features; the labels flip
    for i, (x, y) in enumerate(zip(before.rows + after.rows, before.targets + after.targets)):
        event = {"id": f"{run_id}-{i}", "model": "dr-concept", "features": x, "label": y}
        producer.send(settings.topic("events"), key=event["id"].encode(), value=json.dumps(event).encode())
    producer.flush()
    producer.close()
    records = wait_until(lambda: [r for r in drift_records(settings, "dr-concept") if r["kind"] == "concept_drift"], 180,
                         "a concept_drift record")
    first = records[0]
    assert (first["detector"], first["alias"], first["model"]) == ("adwin", "champion", "dr-concept")
    assert first["metrics"]["accuracy"] is not None and first["position"] < 6000
    # Examples reach the learner in the order the events were scored (partitions interleave):
    # no drift may be found before the first example of the new concept.
    examples = read_topic(settings, "training", key=b"dr-concept")
    first_new = min(m.offset for m in examples if int(json.loads(m.value)["id"].rsplit("-", 1)[1]) >= 3000)
    assert all(r["training"]["offset"] >= first_new for r in records), (first_new, records)
    status = wait_until(lambda: get(worker, "/api/drift/dr-concept")["status"]["last_concept_drift"], 30, "concept drift in the API")
    assert status["id"] in {r["id"] for r in records}


def test_unknown_models_and_windows_are_404(drift_stack):
    _, worker = drift_stack
    for path in ("/api/drift/dr-nobody", "/api/drift/dr-shift/windows/0-0-0", "/api/drift/dr-shift/reports/0-0-0"):
        with pytest.raises(urllib.error.HTTPError) as error:
            get(worker, path)
        assert error.value.code == 404


def test_the_drift_store_keeps_the_most_recent_windows_reports_and_concept_drifts(stack, stack_settings):
    store = DriftStore.from_url(stack_settings.redis_url)
    verdicts = {"features": {"drifted": False, "share": 0.0, "drift_share": 0.5, "columns": {}},
                "predictions": None}
    for i in range(5):
        record = {"id": f"w{i}", "version": 1, "baseline_id": "b", "start": i, "end": i + 1, "n_rows": 10,
                  "closed_at": 100.0 + i, "verdicts": verdicts}
        store.save_window("ds-model", record, json.dumps({"n": i}), keep=3)
        store.save_report("ds-model", f"w{i}", {"html": b"<html>%d</html>" % i, "json": b"{}"}, keep=2)
    store.save_window("ds-model", dict(record, closed_at=104.0), "{}", keep=3)  # stored again: replaces itself
    assert store.window_ids("ds-model") == ["w4", "w3", "w2"]
    assert store.window("ds-model", "w0") is None and store.window("ds-model")[0]["id"] == "w4"
    assert [r["window"] for r in store.reports("ds-model")] == ["w4", "w3"]
    assert store.report("ds-model", "w3") == b"<html>3</html>" and store.report("ds-model", "w1") is None
    concept = [{"id": f"1:champion:{p}", "ts": float(p), "kind": "concept_drift"} for p in range(4)]
    store.save_concept("ds-model", concept[:3], keep=2)
    store.save_concept("ds-model", concept[2:], keep=2)  # the third again, and a fourth
    assert [r["id"] for r in store.concept_drifts("ds-model")] == ["1:champion:3", "1:champion:2"]
    store.save_open("ds-model", {"window": "1-40", "last_offset": 44}, '{"n_rows": 3}')
    assert store.load_open("ds-model") == ({"window": "1-40", "last_offset": 44}, '{"n_rows": 3}')
    assert not store.drop_open("ds-model", "1-7") and store.load_open("ds-model") is not None  # another window's
    assert store.drop_open("ds-model", "1-40") and store.load_open("ds-model") is None
    status = store.status("ds-model")
    assert status["status"]["data_drift"] is False and status["status"]["last_concept_drift"]["id"] == "1:champion:3"
    assert status["windows"][0]["report"] == "/api/drift/ds-model/reports/w4" and status["windows"][2]["report"] is None


def committed_everything(settings, topic: str) -> bool:
    """Whether the worker's consumer group has committed every message of ``topic``."""
    from kafka import KafkaConsumer, TopicPartition

    # Not subscribed: it reads the group's committed offsets without joining the group.
    consumer = KafkaConsumer(bootstrap_servers=settings.broker_servers, group_id=settings.app_id, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(settings.topic(topic), p) for p in range(settings.partitions)]
        ends = consumer.end_offsets(partitions)
        return all((consumer.committed(tp) or 0) >= ends[tp] for tp in partitions)
    finally:
        consumer.close()


def test_a_killed_monitor_loses_no_event_of_its_open_window(drift_stack, stack_settings):
    """Last in this module: it replaces the module's worker."""
    settings = drift_stack.settings
    store = DriftStore.from_url(stack_settings.redis_url)
    data = synthetic(600, 5)
    replay(settings, data.rows[:300], None, "dr-resume", run_id=new_run_id())  # fewer than min_rows: stays open

    def checkpointed_rows() -> int:
        saved = store.load_open("dr-resume")
        return json.loads(saved[1])["n_rows"] if saved else 0

    wait_until(lambda: checkpointed_rows() == 300, 60, "the open window's checkpoint")
    # Scored events committed (or they would be scored, and summarised, again after the kill).
    wait_until(lambda: committed_everything(settings, "events"), 60, "the scored events committed")
    assert store.windows("dr-resume") == []
    drift_stack.worker.kill()  # SIGKILL: no shutdown, nothing flushed
    # Let the broker drop the dead member first, so that the new worker takes every partition in
    # one assignment (what is under test is the window's checkpoint, not the group's rebalances).
    time.sleep(settings.session_timeout_seconds + 2)
    drift_stack.worker = start_worker(settings, drift_stack.tmp, "drift-after-kill")
    drift_stack.worker.wait_ready(240, models=["dr-resume"])
    replay(settings, data.rows[300:], None, "dr-resume", run_id=new_run_id())
    # The resumed window is older than drift_window_seconds, so it closes as soon as it holds
    # min_rows: with all 300 new events (600) or with the first batches of them (then the rest wait
    # in a new open window). Either way every scoring of an event counts exactly once: the
    # monitor's rows equal the predictions made. Scoring itself is at-least-once (a worker may
    # score again what it had not committed), so the predictions, not 600, are the measure.
    def scorings() -> list[str]:
        records = [json.loads(m.value) for m in read_topic(settings, "predictions", timeout_ms=1500)]
        return [r["id"] for r in records if r.get("model") == "dr-resume"]

    def counted_once() -> bool:
        rows = judged_rows(store, "dr-resume") + checkpointed_rows()
        return rows >= 600 and rows == len(scorings())

    try:
        wait_until(counted_once, 180, "the 300 checkpointed and the 300 new events, each scoring counted once")
    except AssertionError as error:
        windows = [{k: w[k] for k in ("id", "n_rows", "first_offset", "last_offset")} for w in store.windows("dr-resume")]
        health = drift_stack.worker.health() or {}
        made = scorings()
        raise AssertionError(f"{error}\nwindows {windows}\ncheckpoint {store.load_open('dr-resume')}\n"
                             f"predictions {len(made)} ({len(set(made))} events)\n"
                             f"monitoring {health.get('monitoring')}\nlog:\n{drift_stack.worker.log_tail(60)}") from None
    assert len(set(scorings())) == 600  # every event scored
    first = store.windows("dr-resume")[-1]  # most recent first: the oldest is the resumed one
    assert first["n_rows"] >= 500  # the 300 from the checkpoint and new ones
    assert drift_stack.worker.health()["monitoring"]["monitor"]["resumed_from_checkpoint"] == 1
