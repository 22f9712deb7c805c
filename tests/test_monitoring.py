"""Drift monitoring's stream logic without Kafka: batch summaries on the score path, the monitor's
windows and records, the method rule, concept drift in the learner, the settings.

The Faust events here are stand-ins with the two things the monitor uses: ``message`` and ``ack()``.
"""

from __future__ import annotations

import json
import pickle

import pytest
from drift_helpers import rescored_predictions, synthetic

import monitors
from stream.errors import ConfigError
from stream.learning.learner import ModelLearner
from stream.model import artifact
from stream.model.predictor import Predictor
from stream.monitoring import BatchSummarizer, DriftMonitor, drift_config
from stream.serving.model_cache import MonitoredBaseline, load_baseline
from stream.serving.scoring import Message, Scorer
from stream.settings import Settings
from stream.training.baseline import monitored_prediction, positive_key
from stream.training.trainer import train
from stream.wire.drift import parse_monitoring_message


@pytest.fixture(scope="module")
def trained():
    return train(synthetic(3000, 0), "logreg", "mon", holdout=0.1)


@pytest.fixture(scope="module")
def predictor(trained):
    return Predictor.from_artifact(trained, version=1)


@pytest.fixture(scope="module")
def baseline(trained):
    return load_baseline(artifact.dumps(trained, b"k"), b"k", allow_unsigned=False)


class Cache:
    def __init__(self, predictors, baselines):
        self.predictors, self.known, self.load_errors, self.baselines = predictors, {n: 1 for n in predictors}, {}, baselines


class FakeEvent:
    def __init__(self, value: bytes, partition: int, offset: int):
        self.message = Message(b"mon", value, "monitoring", partition, offset)
        self.acked = False

    def ack(self) -> None:
        self.acked = True


class Lookup:
    def __init__(self, *baselines, cache=None):
        self.baselines = {b.id: b for b in baselines}
        self.cache = cache  # a Cache: the predictors this worker serves (learned snapshots)

    def cached(self, baseline_id):
        return self.baselines.get(baseline_id)

    def find(self, model, baseline_id, version=None, retry_after=30.0):
        return self.baselines.get(baseline_id)


class Store:
    """DriftStore's window and checkpoint methods, in memory."""

    def __init__(self):
        self.windows = []
        self.open = {}

    def save_window(self, model, record, summary_json, keep):
        self.windows.append((model, record, summary_json))

    def save_open(self, model, meta, summary_json):
        self.open[model] = (json.loads(json.dumps(meta)), summary_json)

    def load_open(self, model):
        return self.open.get(model)

    def drop_open(self, model, key):
        if model in self.open and self.open[model][0]["window"] == key:
            del self.open[model]


def settings(**overrides) -> Settings:
    return Settings.from_env({}, drift_window_size=1000, drift_window_min_rows=500, **overrides)


def score(predictor, baseline, rows, start=0, ts=100.0):
    """Score rows through the real Scorer; returns the batch's Scored events and the summarizer's messages."""
    cache = Cache({"mon": predictor}, {"mon": MonitoredBaseline(1, baseline, positive_key(predictor.metadata))})
    scorer = Scorer(cache)
    messages = [Message(b"k", json.dumps({"id": start + i, "model": "mon", "features": r, "ts": ts + i}).encode(), "events", 0, i)
                for i, r in enumerate(rows)]
    scored = [o.scored for o in scorer.score(messages, scorer.parse(messages)) if o.scored is not None]
    summarizer = BatchSummarizer(cache)
    return scored, summarizer, summarizer.summaries(scored, now=ts + len(rows))


def summary_events(predictor, baseline, batches, partition=0, first_offset=0):
    events = []
    for i, rows in enumerate(batches):
        _, _, [(key, value)] = score(predictor, baseline, rows, start=i * 1000, ts=1000.0 + first_offset + i)
        assert key == b"mon"
        events.append(FakeEvent(value, partition, first_offset + i))
    return events


# Score path ------------------------------------------------------------------------------------


def test_a_batch_gives_one_summary_per_model_equal_to_summarising_its_rows(predictor, baseline):
    rows = synthetic(400, 1).rows
    scored, summarizer, [(key, value)] = score(predictor, baseline, rows)
    body = parse_monitoring_message(value)
    assert (key, body["model"], body["version"], body["snapshot"]) == (b"mon", "mon", 1, None)
    got = monitors.Summary.from_dict(body["summary"])
    expected = monitors.summarize([predictor.schema.validate(r) for r in rows], baseline,
                                  [monitored_prediction(predictor.score(r), "True") for r in rows])
    assert got.n_rows == 400 and (got.start, got.end) == (100.0, 499.0)
    for group in ("features", "predictions"):
        for name, stats in getattr(expected, group).items():
            assert getattr(got, group)[name].counts.tolist() == stats.counts.tolist(), name
    assert set(got.predictions) == {"prediction", "proba"}
    assert summarizer.describe()["summaries_sent"] == 1 and summarizer.rows == 400


def test_models_without_a_baseline_are_counted_and_summary_failures_never_raise(predictor, baseline):
    rows = synthetic(10, 1).rows
    scored, _, _ = score(predictor, baseline, rows)
    summarizer = BatchSummarizer(Cache({"mon": predictor}, {}))
    assert summarizer.summaries(scored, 0.0) == [] and summarizer.unmonitored == 10
    broken = BatchSummarizer(Cache({"mon": predictor}, {"mon": MonitoredBaseline(1, baseline, "True")}))
    assert broken.summaries([s._replace(result=None) for s in scored], 0.0) == []
    assert broken.errors == 1 and "TypeError" in broken.last_error
    stale = BatchSummarizer(Cache({"mon": predictor}, {"mon": MonitoredBaseline(2, baseline, "True")}))
    assert stale.summaries(scored, 0.0) == [] and stale.unmonitored == 10  # another version's baseline


# The monitor -----------------------------------------------------------------------------------


def run(coroutine):
    import asyncio

    return asyncio.run(coroutine)


def test_stationary_windows_raise_nothing_and_a_shift_names_exactly_the_shifted_features(predictor, baseline):
    store, sent = Store(), []
    monitor = DriftMonitor(settings(), Lookup(baseline), store)

    async def send(records):
        sent.extend(records)

    stationary = summary_events(predictor, baseline, [synthetic(250, 10 + i).rows for i in range(8)])
    run(monitor.add_batch(stationary))
    assert len(monitor.closed) == 2 and not any(e.acked for e in stationary)  # acked only once published
    run(monitor.publish(send))
    assert all(e.acked for e in stationary) and sent == []
    assert [r["n_rows"] for _, r, _ in store.windows] == [1000, 1000]
    assert not any(r["verdicts"]["features"]["drifted"] or r["verdicts"]["predictions"]["drifted"] for _, r, _ in store.windows)

    shifted = summary_events(predictor, baseline, [synthetic(250, 30 + i, shift=("f2", "f3", "plan")).rows for i in range(4)],
                             first_offset=8)
    run(monitor.add_batch(shifted))
    run(monitor.publish(send))
    records = [json.loads(v) for _, v in sent]
    assert [r["kind"] for r in records] == ["data_drift"]
    record = records[0]
    assert record["drifted_columns"] == ["f2", "f3", "plan"] and record["share"] == 3 / 5
    assert record["id"] == record["window"]["id"] + ":data_drift" and record["window"]["n_rows"] == 1000
    assert record["window"]["start"] == 1008.0 and record["window"]["end"] == 1011.0 + 249  # event timestamps
    assert (record["model"], record["version"], sent[0][0]) == ("mon", 1, b"mon")
    f2, f0, plan = record["columns"]["f2"], record["columns"]["f0"], record["columns"]["plan"]
    assert (f2["method"], f2["threshold"], f2["verdict"]) == ("wasserstein", 0.1, "drift") and f2["score"] > 1.0
    assert (f0["verdict"], plan["method"], plan["verdict"]) == ("no_drift", "jensenshannon", "drift")
    assert record["report"] == f"/api/drift/mon/reports/{record['window']['id']}"


def test_prediction_drift_has_its_own_record(predictor, baseline):
    store, sent = Store(), []
    monitor = DriftMonitor(settings(), Lookup(baseline), store)

    async def send(records):
        sent.extend(records)

    # f0 and f1 decide the label: shifting both moves the predictions (and 2 of 5 features: no data drift).
    events = summary_events(predictor, baseline, [synthetic(250, 50 + i, shift=("f0", "f1")).rows for i in range(4)])
    run(monitor.add_batch(events))
    run(monitor.publish(send))
    records = {r["kind"]: r for r in (json.loads(v) for _, v in sent)}
    assert sorted(records) == ["feature_drift", "prediction_drift"]
    record = records["prediction_drift"]
    assert set(record["drifted_columns"]) <= {"prediction", "proba"} and record["drifted_columns"]
    features = store.windows[0][1]["verdicts"]["features"]
    assert (features["n_drifted"], features["drifted"]) == (2, False)
    # Two of five features is below the drift share: no data_drift, but a feature_drift naming them.
    feature = records["feature_drift"]
    assert feature["drifted_columns"] == ["f0", "f1"] and (feature["n_drifted"], feature["share"]) == (2, 0.4)
    assert feature["id"] == feature["window"]["id"] + ":feature_drift" and feature["report"] == record["report"]


@pytest.fixture(scope="module")
def learned(trained):
    """A learned snapshot that answers quite differently: it has seen mostly positive labels since."""
    model = pickle.loads(pickle.dumps(trained.model))
    for i, x in enumerate(synthetic(3000, 8).rows):
        model.learn_one(x, i % 10 != 0)
    return Predictor.from_artifact(artifact.Artifact(trained.metadata, model), version=1, snapshot=3)


def test_a_window_of_several_snapshots_is_judged_against_their_answers_in_proportion(predictor, learned, baseline):
    batches = [synthetic(250, 60 + i).rows for i in range(4)]  # stationary features
    # Half the window scored by the deployed model, half by the learned snapshot (a first window).
    events = summary_events(predictor, baseline, batches[:2]) + summary_events(learned, baseline, batches[2:], first_offset=2)
    assert [json.loads(e.message.value)["snapshot"] for e in events] == [None, None, 3, 3]
    store = Store()
    monitor = DriftMonitor(settings(), Lookup(baseline, cache=Cache({"mon": learned}, {})), store)
    run(monitor.add_batch(events[:3]))
    reference = monitor.open["mon"].reference
    assert (reference.deployed_rows, reference.rescored_rows) == (500, 250)
    assert run(monitor.checkpoint(now=1.0, every=0.0)) == 1
    resumed = DriftMonitor(settings(), Lookup(baseline, cache=Cache({"mon": learned}, {})), store)
    run(resumed.add_batch(events[3:]))
    [closed] = resumed.closed
    assert closed.record["n_rows"] == 1000 and closed.record["verdicts"]["predictions"]["drifted"] is False
    # Either reference alone sees the half it does not describe as drift.
    window = monitors.Summary.from_dict(json.loads(closed.summary_json))
    assert monitors.compare(window, baseline).predictions.drifted
    assert monitors.compare(window, rescored_predictions(baseline, learned)).predictions.drifted


def test_adding_a_batch_again_after_a_failure_counts_each_summary_once(predictor, baseline):
    monitor = DriftMonitor(settings(), Lookup(baseline), Store())
    events = summary_events(predictor, baseline, [synthetic(250, i).rows for i in range(3)])
    run(monitor.add_batch(events))
    run(monitor.add_batch(events))
    assert monitor.open["mon"].window.n_rows == 750 and len(monitor.open["mon"].events) == 3


def test_the_monitor_s_drift_records_are_triggers_as_soon_as_they_are_published(predictor, baseline, stack, stack_settings):
    """A data drift found by this worker's monitor is kept as a retrain trigger once its window is
    published, without waiting for its round trip through drift-events; the copy the triggers agent
    reads back from the topic is the same trigger, and a window without drift is no trigger."""
    from functools import partial
    from types import SimpleNamespace

    from stream.deployment.agents import (
        Deployment,
        keep_trigger_messages,
        take_own_triggers,
    )
    from stream.deployment.controller import Controller, Policy
    from stream.deployment.store import DeployStore
    from stream.monitoring.agents import Monitoring, publish_closed_windows

    store = DeployStore.from_url(stack_settings.redis_url, "unit-tests-monitor-triggers")
    policy = Policy.from_settings(Settings.from_env({}))  # auto; data_drift starts a retrain
    deployment = Deployment(policy, store, Controller(policy, store, None, None, None, None), None)
    monitor_settings = settings(drift_reports=False)
    monitoring = Monitoring(summarizer=None, monitor=DriftMonitor(monitor_settings, Lookup(baseline), Store()), renderer=None,
                            store=None, isolation=None)
    monitoring.on_drift_records.append(partial(take_own_triggers, deployment))
    sent, stored_when_sent = [], []

    async def send(records):
        stored_when_sent.append([t["id"] for t in store.untaken("mon")])
        sent.extend(records)

    stationary = summary_events(predictor, baseline, [synthetic(250, 80 + i).rows for i in range(4)])
    run(monitoring.monitor.add_batch(stationary))
    assert len(run(publish_closed_windows(monitoring, monitor_settings, send))) == 1
    assert sent == [] and store.untaken("mon") == [] and deployment.triggers_stored == 0

    shifted = summary_events(predictor, baseline, [synthetic(250, 90 + i, shift=("f2", "f3", "plan")).rows for i in range(4)],
                             first_offset=4)
    run(monitoring.monitor.add_batch(shifted))
    assert len(run(publish_closed_windows(monitoring, monitor_settings, send))) == 1
    [(key, value)] = sent
    record = json.loads(value)
    assert record["kind"] == "data_drift" and stored_when_sent == [[]]  # on the topic first, then kept
    assert [t["id"] for t in store.untaken("mon")] == [record["id"]] and deployment.triggers_stored == 1

    keep_trigger_messages(deployment, [SimpleNamespace(value=value)])  # the triggers agent's copy
    assert [t["id"] for t in store.untaken("mon")] == [record["id"]] and deployment.triggers_stored == 1


def test_a_failed_publication_keeps_the_window_and_its_summaries_unacked(predictor, baseline):
    store = Store()
    monitor = DriftMonitor(settings(), Lookup(baseline), store)
    events = summary_events(predictor, baseline, [synthetic(250, 60 + i, shift=("f2", "f3", "plan")).rows for i in range(4)])
    run(monitor.add_batch(events))

    async def broker_away(records):
        raise ConnectionError("broker away")

    with pytest.raises(ConnectionError):
        run(monitor.publish(broker_away))
    assert len(monitor.closed) == 1 and not any(e.acked for e in events)
    sent = []

    async def send(records):
        sent.extend(records)

    run(monitor.publish(send))
    assert all(e.acked for e in events) and len(sent) == 1
    assert [r["id"] for _, r, _ in store.windows] == [store.windows[0][1]["id"]] * 2  # stored again under the same id


def test_a_new_baseline_closes_the_window_and_small_windows_are_not_judged(predictor, baseline, trained):
    other = monitors.build_baseline([predictor.schema.validate(r) for r in synthetic(500, 7).rows], predictor.schema.kinds,
                                    [monitored_prediction(predictor.score(r), "True") for r in synthetic(500, 7).rows],
                                    prediction_kinds={"prediction": "category", "proba": "number"}, n_bins=10)
    assert other.id != baseline.id
    monitor = DriftMonitor(settings(), Lookup(baseline, other), Store())
    first = summary_events(predictor, baseline, [synthetic(250, 1).rows])
    second = summary_events(predictor, other, [synthetic(250, 2).rows], first_offset=1)
    run(monitor.add_batch(first + second))
    assert monitor.discarded_rows == 250 and [w.record for w in monitor.closed] == [None]  # 250 < min_rows: not judged
    assert monitor.open["mon"].baseline is other

    async def send(records):
        raise AssertionError("nothing to send")

    assert run(monitor.publish(send)) == [] and first[0].acked and not second[0].acked  # dropped, with its checkpoint
    more = summary_events(predictor, other, [synthetic(250, 3).rows, synthetic(250, 4).rows], first_offset=2)
    third = summary_events(predictor, baseline, [synthetic(250, 5).rows], first_offset=4)
    run(monitor.add_batch(more + third))
    [closed] = monitor.closed  # 750 rows >= min_rows 500: judged against its own baseline
    assert closed.record["baseline_id"] == other.id and closed.record["n_rows"] == 750


def test_time_based_windows_close_when_their_time_is_up_with_enough_rows(predictor, baseline):
    monitor = DriftMonitor(settings(drift_window_seconds=30.0), Lookup(baseline), Store())
    run(monitor.add_batch(summary_events(predictor, baseline, [synthetic(400, 1).rows]), now=0.0))
    assert monitor.poll(now=40.0) == 0 and not monitor.closed  # 400 < min_rows 500: waits for more
    run(monitor.add_batch(summary_events(predictor, baseline, [synthetic(200, 2).rows], first_offset=1), now=41.0))
    assert [w.record["n_rows"] for w in monitor.closed] == [600]  # time up and enough rows: closed by the summary
    run(monitor.add_batch(summary_events(predictor, baseline, [synthetic(600, 3).rows], first_offset=2), now=50.0))
    assert monitor.poll(now=79.0) == 0 and monitor.poll(now=80.0) == 1  # no summary needed: the timer's poll
    assert [w.record["n_rows"] for w in monitor.closed] == [600, 600]


def test_moved_partitions_drop_their_windows_unacked(predictor, baseline):
    monitor = DriftMonitor(settings(), Lookup(baseline), Store())
    events = summary_events(predictor, baseline, [synthetic(250, 1).rows], partition=3)
    run(monitor.add_batch(events))
    monitor.drop_partitions({3})
    assert monitor.open == {} and monitor.handled == {} and not events[0].acked
    run(monitor.add_batch(events))  # redelivered to this worker later: taken again
    assert monitor.open["mon"].window.n_rows == 250


def test_garbage_is_dead_lettered_and_unknown_baselines_skipped(predictor, baseline):
    monitor = DriftMonitor(settings(), Lookup(), Store())
    events = [FakeEvent(b"not json", 0, 0)] + summary_events(predictor, baseline, [synthetic(10, 1).rows], first_offset=1)
    run(monitor.add_batch(events))
    assert (monitor.invalid, monitor.unknown_baseline) == (1, 1) and not monitor.open
    assert events[1].acked and not events[0].acked  # the garbage waits for its dead letter to be sent
    sent = []

    async def send(records):
        sent.extend(records)

    run(monitor.deadletters.flush(send))
    assert events[0].acked and [json.loads(value)["reason"] for _, value in sent] == ["invalid_json"]


def test_checkpoints_ack_an_open_window_and_its_next_owner_resumes_it(predictor, baseline):
    store = Store()
    first = DriftMonitor(settings(), Lookup(baseline), store)
    events = summary_events(predictor, baseline, [synthetic(250, 70 + i).rows for i in range(3)], partition=2, first_offset=40)
    run(first.add_batch(events[:2], now=0.0))
    assert run(first.checkpoint(now=1.0, every=0.0)) == 1 and all(e.acked for e in events[:2])
    assert store.open["mon"][0]["last_offset"] == 41
    run(first.add_batch(events[2:], now=1.5))  # merged, not checkpointed: stays unacked
    assert not events[2].acked and run(first.checkpoint(now=1.6, every=5.0)) == 0
    # The partition moves: the next owner gets the unacked summary again (and, the commit being
    # held back by another model, maybe some acked ones too) and resumes from the checkpoint.
    second = DriftMonitor(settings(), Lookup(baseline), store)
    redelivered = summary_events(predictor, baseline, [synthetic(250, 71 + i).rows for i in range(2)], partition=2, first_offset=41)
    run(second.add_batch(redelivered, now=0.0))
    resumed = second.open["mon"]
    assert (resumed.first_offset, resumed.window.n_rows, second.resumed) == (40, 750, 1)  # offset 41 was in the checkpoint
    assert redelivered[0].acked and not redelivered[1].acked
    closing = summary_events(predictor, baseline, [synthetic(250, 73).rows], partition=2, first_offset=43)
    run(second.add_batch(closing))
    [window] = second.closed
    assert (window.record["n_rows"], window.record["first_offset"], window.record["id"].split("-", 1)[1]) == (1000, 40, "2-40")

    async def send(records):
        pass

    run(second.publish(send))
    assert "mon" not in store.open and redelivered[1].acked and closing[0].acked  # the checkpoint went with its window


def test_a_checkpoint_of_a_recreated_topic_is_not_resumed(predictor, baseline):
    store = Store()
    store.save_open("mon", {"partition": 0, "first_offset": 0, "last_offset": 9, "version": 1, "baseline_id": baseline.id,
                            "opened_wall": 0.0, "window": "0-0", "saved_at": 50.0}, "{}")
    monitor = DriftMonitor(settings(), Lookup(baseline), store)
    events = summary_events(predictor, baseline, [synthetic(250, 1).rows], partition=0, first_offset=3)  # sent long after
    run(monitor.add_batch(events))
    assert monitor.resumed == 0 and monitor.open["mon"].window.n_rows == 250


def test_a_lasting_drift_renders_one_report_per_interval_and_a_new_drift_at_once():
    from stream.monitoring import ReportRenderer

    renderer = ReportRenderer(store=None, lookup=None, keep=10, interval=300.0)
    data = [{"kind": "data_drift", "drifted_columns": ["f2", "f3"]}]
    more = [{"kind": "data_drift", "drifted_columns": ["f2", "f3"]}, {"kind": "prediction_drift", "drifted_columns": ["proba"]}]
    queued = [renderer.submit("m", "w1", data, now=0.0), renderer.submit("m", "w2", data, now=10.0),
              renderer.submit("m", "w3", more, now=20.0), renderer.submit("other", "x1", data, now=21.0),
              renderer.submit("m", "w4", more, now=320.0), renderer.submit("m", "w5", more, now=330.0)]
    assert queued == [True, False, True, True, True, False]
    assert list(renderer.queue) == [("m", "w1"), ("m", "w3"), ("other", "x1"), ("m", "w4")] and renderer.skipped == 2


def test_by_default_every_drift_decision_gets_a_report_and_a_full_queue_drops_the_oldest():
    from stream.monitoring import ReportRenderer

    renderer = ReportRenderer(store=None, lookup=None, keep=10, queue_size=3)
    data = [{"kind": "data_drift", "drifted_columns": ["f2"]}]
    assert all(renderer.submit("m", f"w{i}", data, now=float(i)) for i in range(4))
    assert list(renderer.queue) == [("m", "w1"), ("m", "w2"), ("m", "w3")] and renderer.dropped == 1


# Methods ---------------------------------------------------------------------------------------


def test_the_distance_rule_avoids_p_value_tests_on_small_references():
    rows = [{"x": float(i % 97), "few": float(i % 3), "c": "ab"[i % 2]} for i in range(600)]
    small = monitors.build_baseline(rows, {"x": "number", "few": "number", "c": "string"}, predictions=[i % 2 == 0 for i in range(600)])
    config = drift_config(small)
    assert config.methods == {"x": "wasserstein", "few": "jensenshannon", "c": "jensenshannon", "prediction": "jensenshannon"}
    window = monitors.summarize(rows, small, [i % 2 == 0 for i in range(600)])
    report = monitors.compare(window, small, config)
    assert {c.method for c in report.features.columns.values()} == {"wasserstein", "jensenshannon"}
    evidently = monitors.compare(window, small, drift_config(small, "evidently"))
    assert {c.method for c in evidently.features.columns.values()} == {"ks", "chisquare", "z"}
    overridden = drift_config(small, numeric_method="ks")
    assert "x" not in overridden.methods and overridden.to_dict()["numeric_method"] == "ks"
    assert overridden.methods["c"] == "jensenshannon"


def test_monitoring_settings_are_checked_at_start_up():
    s = Settings.from_env({"DRIFTLINE_MONITORING": "false", "DRIFTLINE_DRIFT_WINDOW_SECONDS": "60",
                           "DRIFTLINE_CONCEPT_DETECTOR": "page_hinkley", "DRIFTLINE_CONCEPT_DETECTOR_PARAMS": '{"threshold": 30}'})
    assert (s.monitoring, s.drift_window_seconds, s.concept_detector, s.concept_params) == (False, 60.0, "page_hinkley", {"threshold": 30})
    assert Settings.from_env(s.to_env()) == s
    for var, value, expected in [
        ("DRIFTLINE_DRIFT_NUMERIC_METHOD", "chisquare", "numeric columns"),
        ("DRIFTLINE_DRIFT_CATEGORICAL_METHOD", "energy", "categorical columns"),
        ("DRIFTLINE_DRIFT_METHOD_RULE", "strict", "distances, evidently"),
        ("DRIFTLINE_DRIFT_SHARE", "1.5", "<= 1"),
        ("DRIFTLINE_CONCEPT_DETECTOR", "hddm", "adwin, kswin"),
        ("DRIFTLINE_CONCEPT_DETECTOR_PARAMS", "[1]", "JSON object"),
    ]:
        with pytest.raises(ConfigError) as error:
            Settings.from_env({var: value})
        assert var in str(error.value) and expected in str(error.value)


def test_a_detector_that_refuses_its_parameters_stops_the_worker_at_start_up():
    from stream.app import create_app

    with pytest.raises(ConfigError, match="DRIFTLINE_CONCEPT_DETECTOR_PARAMS"):
        create_app(Settings.from_env({"DRIFTLINE_CONCEPT_DETECTOR_PARAMS": '{"no_such_parameter": 1}'}))


# Concept drift in the learner ------------------------------------------------------------------


def test_a_learner_restored_from_its_snapshot_finds_the_same_concept_drifts(trained):
    before, after = synthetic(1500, 3), synthetic(1500, 4, label_flip=True)
    examples = list(zip(before.rows + after.rows, before.targets + after.targets))

    def learner():
        return ModelLearner("mon", "champion", 1, trained.metadata, pickle.loads(pickle.dumps(trained.model)),
                            concept=monitors.ConceptDriftMonitor("adwin"))

    straight = learner()
    for i, (x, y) in enumerate(examples):
        straight.learn(x, y, f"e{i}", partition=0, offset=i)
    positions = [d["position"] for d in straight.concept_drifts]
    assert positions and all(p >= 1500 for p in positions)  # none before the labels flip

    interrupted = learner()
    for i, (x, y) in enumerate(examples[:1600]):
        interrupted.learn(x, y, f"e{i}", partition=0, offset=i)
    state = pickle.loads(pickle.dumps(interrupted.state()))
    model = pickle.loads(pickle.dumps(interrupted.model))
    restored = ModelLearner("mon", "champion", 1, trained.metadata, model, concept=monitors.ConceptDriftMonitor("adwin"))
    restored.restore(state)
    for i, (x, y) in enumerate(examples):  # a replay from the start: what the snapshot holds is skipped
        restored.learn(x, y, f"e{i}", partition=0, offset=i)
    found = [d["position"] for d in interrupted.concept_drifts + restored.concept_drifts]
    assert found == positions
    record = straight.concept_drifts[0]
    assert (record["kind"], record["detector"], record["alias"], record["id"]) == ("concept_drift", "adwin", "champion", f"mon:1:champion:{positions[0]}")
    assert record["event_id"] == f"e{positions[0]}" and record["training"] == {"partition": 0, "offset": positions[0]}


def test_learner_snapshots_leave_the_baseline_in_the_version(trained):
    learner = ModelLearner("mon", "champion", 1, trained.metadata, trained.model)
    snapshot = learner.snapshot_artifact()
    assert snapshot.baseline == {} and snapshot.metadata["baseline"]["id"] == trained.metadata["baseline"]["id"]
