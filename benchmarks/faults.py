"""The fault runner: drive the real embedded stack and several workers with events, delayed labels
and poison, inject faults at points a seed chooses, then read every topic back and check that
nothing was lost.

Scenarios (each on topics and a consumer group of its own, the same stack):

- ``worker-kills``: two workers; one of them, chosen at random, is SIGKILLed and restarted
  ``--kills`` times during the stream (rebalances under load);
- ``redis-freeze``: Redis is SIGSTOPped for ``--freeze-seconds`` twice, then SIGCONTed;
- ``redis-kill``: Redis is SIGKILLed once and restarted from its append-only file;
- ``webhooks``: alerts to three endpoints while the stream runs: one that answers 500 to the
  first attempt of every delivery, one that is down for the first half of the stream, one that
  holds every request open past the endpoint's timeout;
- ``calm``: no fault, the same stream (the reference for the counts).

Every scenario mixes poison into 1% of the stream: oversized events, truncated JSON, deep nesting,
huge numbers, non-UTF-8 bytes, duplicate ids, labels for unknown ids and labels of the wrong type.

The verifier prints per scenario: events in, unique predictions, dead letters by reason, missing
(good events with neither: must be 0), duplicate predictions (at-least-once: bounded by the
batches a crash can repeat), labels in, examples on ``training``, examples the champion learned
and examples learned twice (must be 0), and whether the champion's answers on a probe set equal
those of the same model learning the same examples in the same order in this process; whether
the drift monitor's windows (closed and open) hold exactly one row per scoring; and at most one
deployment decision per retrain trigger. It ends with one line per scenario, PASS or FAIL with
the numbers.

In ``webhooks`` the verifier also checks every endpoint: each of the records sent to
``drift-events`` delivered exactly once by ``webhook-id`` to the flaky and the down-then-up
endpoint (each request's signature verified), and given up after exactly the retry schedule's
attempts at the hanging one.

    python benchmarks/faults.py [--seed 7] [--events 20000] [--rate 1000] [--kills 4]
                                [--only worker-kills,redis-freeze,redis-kill,webhooks,calm]

Starts its own embedded broker and Redis on free ports and stops everything at the end. Its
state (worker logs, Redis's append-only file) goes to a temporary folder, removed when every
scenario passes and kept, with its path printed, when one fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path

from common import free_port, run, state_folder
from kafka import KafkaConsumer, TopicPartition

from stream.alerts.config import new_secret
from stream.alerts.payloads import SignatureError, verify
from stream.dev.devstack import EmbeddedStack
from stream.dev.outputs import read_to_end
from stream.dev.replay import make_producer
from stream.dev.webhook_receiver import LoopbackReceiver
from stream.dev.workerproc import WorkerProcess
from stream.learning.learner import ModelLearner
from stream.model import artifact
from stream.monitoring.store import DriftStore
from stream.registry.registry import Registry
from stream.settings import Settings
from stream.training.datasets import load_dataset
from stream.training.trainer import train
from stream.transport.topics import ensure_topics

KEY = b"faults"
MODEL = "faults"
LABEL_DELAY = 100
#: A label that finds no prediction is dead-lettered (unmatched_label) this long after it came, at
#: the earliest: short, so that the run can wait for every label's fate.
LABEL_GRACE_SECONDS = 5.0


POISON_KINDS = ["oversized", "truncated", "nested", "huge", "bytes", "duplicate", "unknown-label", "wrong-label"]
#: Faust's default commit interval (broker_commit_interval): what a SIGKILL can repeat is what
#: was scored since the last commit, plus the batches in flight (a second's worth, generously).
COMMIT_INTERVAL_SECONDS = 2.8


def poison(i: int, run: str, good: dict) -> tuple[str, bytes | None, bytes]:
    """(topic, key, value) of the i-th poison message of a run."""
    kind = POISON_KINDS[i % len(POISON_KINDS)]
    key = f"{run}-poison-{i}".encode()
    if kind == "oversized":
        return "events", key, json.dumps({"id": key.decode(), "model": MODEL, "features": good, "pad": "x" * 70_000}).encode()
    if kind == "truncated":
        return "events", key, json.dumps({"id": key.decode(), "model": MODEL, "features": good}).encode()[:-7]
    if kind == "nested":
        return "events", key, b"[" * 20_000 + b"]" * 20_000
    if kind == "huge":
        return "events", key, b'{"id": "%s", "model": "%s", "features": {"x": 1%s}}' % (key, MODEL.encode(), b"0" * 5000)
    if kind == "bytes":
        return "events", key, b'{"id": "\xff\xfe", "features": {}}'
    if kind == "duplicate":  # an id that a good event also has: scored twice, both answered
        return "events", f"{run}-0".encode(), json.dumps({"id": f"{run}-0", "model": MODEL, "features": good}).encode()
    if kind == "unknown-label":
        return "labels", key, json.dumps({"id": f"{run}-never-sent-{i}", "model": MODEL, "label": True}).encode()
    return "labels", key, json.dumps({"id": f"{run}-1", "model": MODEL, "label": {"not": "a label"}}).encode()


@dataclasses.dataclass
class Scenario:
    name: str
    workers: int
    faults: list  # (at this share of the stream, what)


#: Records sent to drift-events in the webhooks scenario, and the hanging endpoint's attempts.
ALERT_RECORDS = 12
HANG_SCHEDULE = [0, 0.5, 1.0]
HANG_TIMEOUT = 0.5


class Webhooks:
    """The webhooks scenario's three receivers on loopback and their alerts file."""

    def __init__(self, state: Path, model: str):
        self.secret = new_secret()
        self.lock = threading.Lock()
        self.requests: dict[str, Counter] = {"flaky": Counter(), "down": Counter(), "hang": Counter()}
        self.delivered: dict[str, Counter] = {"flaky": Counter(), "down": Counter()}
        self.bad_signatures = 0
        self.release = threading.Event()
        self.up = LoopbackReceiver(self._answer).start()
        # "down": a port that refuses connections until its receiver starts halfway through.
        self.down_port = free_port()
        self.down = None
        endpoints = [
            {"name": "flaky", "url": self.up.url("/flaky"), "secret": self.secret, "retry_schedule": [0, 0.5, 1, 2]},
            {"name": "down", "url": f"http://127.0.0.1:{self.down_port}/down", "secret": self.secret,
             "retry_schedule": [0, 1, 2, 4, 8, 8, 8, 8, 8, 8, 8, 8]},
            # The sender makes one attempt at a time per endpoint, so the 36 attempts cost 36 timeouts.
            {"name": "hang", "url": self.up.url("/hang"), "secret": self.secret, "timeout": HANG_TIMEOUT,
             "retry_schedule": HANG_SCHEDULE},
        ]
        self.file = state / f"alerts-{model}.json"
        self.file.write_text(json.dumps({"cooldown_seconds": 0, "endpoints": endpoints}))

    def _answer(self, path: str, headers: dict, body: bytes) -> tuple[int, dict]:
        name = path.strip("/")
        try:
            verify(self.secret, headers, body)
        except SignatureError:
            with self.lock:
                self.bad_signatures += 1
            return 400, {}
        msg_id = headers.get("webhook-id", "")
        with self.lock:
            self.requests[name][msg_id] += 1
            attempt = self.requests[name][msg_id]
        if name == "hang":
            self.release.wait(60)
            return 204, {}
        if name == "flaky" and attempt == 1:
            return 500, {}
        with self.lock:
            self.delivered[name][msg_id] += 1
        return 204, {}

    def bring_down_endpoint_up(self) -> None:
        self.down = LoopbackReceiver(self._answer, port=self.down_port).start()

    def settled(self) -> bool:
        with self.lock:
            return (len(self.delivered["flaky"]) >= ALERT_RECORDS and len(self.delivered["down"]) >= ALERT_RECORDS
                    and len(self.requests["hang"]) >= ALERT_RECORDS
                    and all(n >= len(HANG_SCHEDULE) for n in self.requests["hang"].values()))

    def verdict(self) -> dict:
        with self.lock:
            return {
                "flaky_delivered": len(self.delivered["flaky"]), "flaky_twice": sum(n > 1 for n in self.delivered["flaky"].values()),
                "down_delivered": len(self.delivered["down"]), "down_twice": sum(n > 1 for n in self.delivered["down"].values()),
                "hang_attempts": sorted(set(self.requests["hang"].values())), "hang_records": len(self.requests["hang"]),
                "bad_signatures": self.bad_signatures,
            }

    def passed(self, verdict: dict) -> bool:
        return (verdict["flaky_delivered"] == verdict["down_delivered"] == verdict["hang_records"] == ALERT_RECORDS
                and verdict["flaky_twice"] == verdict["down_twice"] == verdict["bad_signatures"] == 0
                and verdict["hang_attempts"] == [len(HANG_SCHEDULE)])

    def stop(self) -> None:
        self.release.set()
        self.up.stop()
        if self.down is not None:
            self.down.stop()


def alert_record(run: str, model: str, i: int) -> bytes:
    return json.dumps({"model": model, "version": 1, "kind": "data_drift", "id": f"{run}-w{i}:data_drift", "ts": time.time(),
                       "drifted_columns": ["x"], "n_drifted": 1, "n_columns": 1, "share": 1.0}).encode()


def plan(name: str, rng: random.Random, kills: int, freeze: float) -> Scenario:
    if name == "worker-kills":
        return Scenario(name, 2, sorted((rng.uniform(0.05, 0.85), ("kill", rng.randrange(2))) for _ in range(kills)))
    if name == "redis-freeze":
        return Scenario(name, 1, sorted((rng.uniform(0.1, 0.8), ("freeze", freeze)) for _ in range(2)))
    if name == "redis-kill":
        return Scenario(name, 1, [(rng.uniform(0.2, 0.7), ("redis-kill", 0))])
    if name == "webhooks":
        return Scenario(name, 1, [(0.5, ("endpoint-up", 0))])
    return Scenario(name, 1, [])


def merged_rows(drift: DriftStore, model: str) -> int:
    """Rows in the model's drift windows: the closed ones and the open one's checkpoint."""
    open_window = drift.load_open(model)
    return sum(w["n_rows"] for w in drift.windows(model)) + (json.loads(open_window[1])["n_rows"] if open_window else 0)


def summary_rows(settings: Settings, model: str) -> int:
    """Rows the model's summaries on ``monitoring`` carry (one per scoring the score path summarised)."""
    return sum(json.loads(m.value)["summary"]["n_rows"] for m in read_to_end(settings, "monitoring") if m.key == model.encode())


def committed_offsets(settings: Settings, topic: str) -> dict[int, int | None]:
    """The workers' group's committed offset of each partition of ``topic`` (the next offset a
    restarted worker reads), fetched without joining the group."""
    name = settings.topic(topic)
    consumer = KafkaConsumer(bootstrap_servers=settings.broker_servers, group_id=settings.app_id, enable_auto_commit=False,
                             client_id=f"{settings.app_id}-offsets")
    try:
        return {p: consumer.committed(TopicPartition(name, p)) for p in sorted(consumer.partitions_for_topic(name) or ())}
    finally:
        consumer.close(autocommit=False)


def redis_pid(base: Settings) -> int:
    return int((base.state_path / "run" / "redis.pid").read_text())


def run_scenario(base: Settings, stack: EmbeddedStack, scenario: Scenario, data, seed: int, n_events: int, rate: float,
                 state: Path, log) -> dict:
    tag = f"f-{scenario.name}"
    settings = dataclasses.replace(base, topic_prefix=f"{tag}-", app_id=f"driftline-{tag}", session_timeout_seconds=8.0,
                                   snapshot_every_examples=500, snapshot_every_seconds=1.0, drift_keep_windows=10_000)
    ensure_topics(settings)
    registry = Registry.from_url(settings.redis_url)
    model = f"{MODEL}-{scenario.name}"
    webhooks = None
    if scenario.name == "webhooks":
        webhooks = Webhooks(state, model)
        settings = dataclasses.replace(settings, alerts_file=str(webhooks.file))
    trained = train(data, "logreg", model, holdout=0.2, seed=seed)
    version = registry.register(artifact.dumps(trained, KEY), trained.metadata, alias="champion", reason="fault runner")
    workers = [WorkerProcess(dataclasses.replace(settings, web_port=free_port()), state / f"{tag}-w{i}.log").start()
               for i in range(scenario.workers)]
    for w in workers:
        w.wait_ready(240, models=[model])
    run = f"{tag}-{seed}"
    producer = make_producer(settings)
    sent_good, labels_sent, poison_sent, poison_kinds = [], 0, Counter(), Counter()
    faults = list(scenario.faults)
    done_faults = []
    started = time.monotonic()
    good = data.rows[0]

    def inject(what) -> None:
        kind, arg = what
        if kind == "kill":
            victim = workers[arg]
            log(f"  {scenario.name}: SIGKILL worker {arg} (pid {victim.process.pid})")
            victim.kill()
            workers[arg] = WorkerProcess(dataclasses.replace(settings, web_port=free_port()),
                                         state / f"{tag}-w{arg}-{len(done_faults)}.log").start()
        elif kind == "freeze":
            pid = redis_pid(base)
            log(f"  {scenario.name}: SIGSTOP Redis for {arg:.0f}s")
            os.kill(pid, signal.SIGSTOP)
            time.sleep(arg)
            os.kill(pid, signal.SIGCONT)
        elif kind == "endpoint-up":
            log(f"  {scenario.name}: the down endpoint comes up")
            webhooks.bring_down_endpoint_up()
        elif kind == "redis-kill":
            log(f"  {scenario.name}: SIGKILL Redis, restart it from its append-only file")
            os.kill(redis_pid(base), signal.SIGKILL)
            time.sleep(1.0)
            stack.up()
        done_faults.append((round(time.monotonic() - started, 1), kind))

    injector_errors = []

    def injector() -> None:
        try:
            while faults:
                share, what = faults[0]
                while len(sent_good) < share * n_events:
                    time.sleep(0.05)
                faults.pop(0)
                inject(what)
        except Exception as exc:
            injector_errors.append(repr(exc))

    thread = threading.Thread(target=injector, daemon=True)
    thread.start()
    poison_every = 100
    for i in range(n_events):
        event_id = f"{run}-{i}"
        x = data.rows[i % len(data.rows)]
        producer.send(settings.topic("events"), key=event_id.encode(),
                      value=json.dumps({"id": event_id, "model": model, "features": x, "ts": time.time()}).encode())
        sent_good.append(event_id)
        if i >= LABEL_DELAY:
            j = i - LABEL_DELAY
            producer.send(settings.topic("labels"), key=f"{run}-{j}".encode(),
                          value=json.dumps({"id": f"{run}-{j}", "model": model, "label": data.targets[j % len(data.targets)]}).encode())
            labels_sent += 1
        if webhooks is not None and i % max(1, n_events // ALERT_RECORDS) == 0 and i // max(1, n_events // ALERT_RECORDS) < ALERT_RECORDS:
            record = alert_record(run, model, i)
            producer.send(settings.topic("drift-events"), key=model.encode(), value=record)
        if i % poison_every == poison_every // 2:
            topic, key, value = poison(i // poison_every, run, good)
            if b'"model": "faults"' in value:
                value = value.replace(b'"model": "faults"', f'"model": "{model}"'.encode())
            producer.send(settings.topic(topic), key=key, value=value)
            poison_sent[topic] += 1
            poison_kinds[POISON_KINDS[(i // poison_every) % len(POISON_KINDS)]] += 1
        ahead = (i + 1) / rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)
    for j in range(max(0, n_events - LABEL_DELAY), n_events):
        producer.send(settings.topic("labels"), key=f"{run}-{j}".encode(),
                      value=json.dumps({"id": f"{run}-{j}", "model": model, "label": data.targets[j % len(data.targets)]}).encode())
        labels_sent += 1
    producer.flush()
    producer.close()
    thread.join(timeout=120)
    streamed = time.monotonic() - started

    # Wait until every good event has an output, the learner has caught up and the monitor's
    # windows (closed, and the open one's checkpoint) hold every summary on ``monitoring`` (or
    # time is up). A worker stopped while the monitor is behind leaves the rest of its summaries
    # unacknowledged, for the next worker: nothing is lost, but the windows in Redis do not show
    # them yet.
    expected = set(sent_good)
    drift = DriftStore.from_url(settings.redis_url)
    deadline = time.monotonic() + 300
    settled_at = None  # the example count when everything last looked done: done twice running is done
    while time.monotonic() < deadline:
        deadletter_now = read_to_end(settings, "deadletter")
        answered = {m.key.decode() for m in read_to_end(settings, "predictions") if m.key} | {m.key.decode() for m in deadletter_now if m.key}
        info = registry.snapshot_info(model) or {}
        examples = {json.loads(m.value)["id"] for m in read_to_end(settings, "training")}
        unmatched = {m.key.decode() for m in deadletter_now if m.key and json.loads(m.value)["reason"] == "unmatched_label"}
        if (expected <= answered and expected <= examples | unmatched and info.get("n_learned", 0) >= len(examples) and info.get("version") == version
                and (webhooks is None or webhooks.settled()) and merged_rows(drift, model) >= summary_rows(settings, model)):
            if settled_at == len(examples):
                break
            settled_at = len(examples)
        else:
            settled_at = None
        time.sleep(1.0)
    # Before the workers stop (a stop commits what they acked): offsets committed beyond where the
    # learner stands would mean examples acked that no checkpoint holds.
    training_committed = committed_offsets(settings, "training")
    offsets_missed = sum((w.health() or {}).get("training_offsets_missed", 0) for w in workers)  # the workers running at the end
    for w in workers:
        w.stop()

    # The verifier ------------------------------------------------------------------------------
    predictions = [json.loads(m.value) for m in read_to_end(settings, "predictions")]
    deadletter_messages = read_to_end(settings, "deadletter")
    deadletters = [json.loads(m.value) for m in deadletter_messages]
    training = [m for m in read_to_end(settings, "training") if m.key == model.encode()]
    predicted = Counter(p["id"] for p in predictions)
    dead_keys = {d.get("id") for d in deadletters} | {m.key.decode() for m in deadletter_messages if m.key}
    missing = sorted(e for e in expected if e not in predicted and e not in dead_keys)
    duplicates = sum(n - 1 for n in predicted.values() if n > 1)
    example_ids = Counter(json.loads(m.value)["id"] for m in training)
    # Every good event's label became its example, or an unmatched_label dead letter (its
    # prediction was not remembered: made while Redis was away, or lost with Redis's last second).
    unmatched = {d.get("id") for d in deadletters if d.get("reason") == "unmatched_label"}
    labels_unaccounted = sorted(e for e in expected if e not in example_ids and e not in unmatched)
    labels_unmatched = sum(1 for e in expected if e in unmatched and e not in example_ids)
    info = registry.snapshot_info(model) or {}
    learned = info.get("n_learned", 0)
    # The same examples, in the same order, learned in this process without faults.
    reference = ModelLearner(model, "champion", version, trained.metadata, artifact.loads(artifact.dumps(trained, KEY), KEY).model)
    for m in training:
        example = json.loads(m.value)
        reference.learn(example["features"], example["label"], example["id"], m.partition, m.offset)
    fetched = registry.fetch_snapshot(model)
    served = artifact.loads(fetched[1], KEY) if fetched else None
    probe = data.rows[:200]
    same_answers = served is not None and all(
        served.model.predict_proba_one(dict(x)) == reference.model.predict_proba_one(dict(x)) for x in probe)
    learned_twice = max(0, learned - len(example_ids))
    # Where the learner stands in each training partition, against what the partition holds: a
    # learner that learned fewer examples than there are either never read the last ones (they lie
    # beyond its offset) or passed over some it read (as duplicates, or as already checkpointed).
    learner_offsets = {int(p): o for p, o in (info.get("offsets") or {}).items()}
    last_offsets = {}
    for m in training:
        last_offsets[m.partition] = max(m.offset, last_offsets.get(m.partition, -1))
    unread = sorted({json.loads(m.value)["id"] for m in training if m.offset > learner_offsets.get(m.partition, -1)})
    # Duplicates beyond the poison's own (an id sent twice is answered twice): at most what each
    # kill can repeat.
    kills = sum(1 for _, kind in done_faults if kind == "kill")
    fault_duplicates = duplicates - poison_kinds["duplicate"]
    duplicate_bound = int(kills * rate * (COMMIT_INTERVAL_SECONDS + 1.0))
    # Drift windows: every scoring summarised exactly once (at-least-once scoring repeats some
    # events; each scoring is a prediction and a summary row, so the windows' rows, closed and
    # open, must equal the prediction messages of the model).
    window_rows = merged_rows(drift, model)
    scorings = sum(1 for p in predictions if p.get("model") == model)
    # The rows the summaries on ``monitoring`` carry: fewer than the scorings means the score path
    # lost a batch's summary; as many but fewer window rows means the monitor lost some in merging.
    summarised_rows = summary_rows(settings, model)
    # Deployment decisions: at most one per retrain trigger (none happen with deploy_policy off;
    # the controller's crash test is tests/test_deployment_integration.py).
    decisions = Counter(r.get("trigger") for r in (json.loads(m.value) for m in read_to_end(settings, "drift-events") if m.value)
                        if r.get("kind") in ("deployed", "challenger_discarded", "rolled_back") and r.get("model") == model)
    decided_twice = sum(1 for n in decisions.values() if n > 1)
    result = {
        "scenario": scenario.name, "events": n_events, "poison": dict(poison_sent), "unique_predictions": len(predicted),
        "deadletters": dict(Counter(d["reason"] for d in deadletters)), "missing": len(missing), "duplicates": duplicates,
        "labels": labels_sent, "labels_unmatched": labels_unmatched, "labels_unaccounted": len(labels_unaccounted),
        "examples": len(example_ids), "learned": learned, "learned_twice": learned_twice,
        "reference_learned": reference.n_learned, "same_answers": same_answers, "faults": done_faults,
        "learner_offsets": learner_offsets, "training_last_offsets": last_offsets, "unread_examples": len(unread),
        "training_committed": {p: o for p, o in training_committed.items() if p in last_offsets}, "offsets_missed": offsets_missed,
        "duplicates_skipped": info.get("duplicates_skipped"),
        "seconds": round(streamed, 1), "injector_errors": injector_errors,
        "fault_duplicates": fault_duplicates, "duplicate_bound": duplicate_bound, "window_rows": window_rows, "summarised_rows": summarised_rows, "scorings": scorings, "decisions": sum(decisions.values()), "decided_twice": decided_twice,
    }
    result["pass"] = (not missing and not labels_unaccounted and learned == reference.n_learned == len(example_ids) and same_answers
                      and not injector_errors and len(done_faults) == len(scenario.faults)
                      and window_rows == scorings and not decided_twice and fault_duplicates <= duplicate_bound)
    if webhooks is not None:
        result["webhooks"] = webhooks.verdict()
        result["pass"] = result["pass"] and webhooks.passed(result["webhooks"])
        webhooks.stop()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=1_000.0)
    parser.add_argument("--kills", type=int, default=4)
    parser.add_argument("--freeze-seconds", type=float, default=5.0)
    parser.add_argument("--only", default="worker-kills,redis-freeze,redis-kill,webhooks,calm")
    args = parser.parse_args()

    state = state_folder("driftline-faults-")
    base = Settings.from_env({}, broker=f"kafka://127.0.0.1:{free_port()}", redis_url=f"redis://127.0.0.1:{free_port()}/0",
                             state_dir=str(state), signing_key=KEY.decode(), deploy_policy="off", label_grace_seconds=LABEL_GRACE_SECONDS)
    rng = random.Random(args.seed)
    data = load_dataset("phishing")
    results = []
    with EmbeddedStack(base, log=lambda m: None) as stack:
        for name in args.only.split(","):
            scenario = plan(name, rng, args.kills, args.freeze_seconds)
            print(f"{name}: {scenario.workers} worker(s), faults {[(round(s, 2), w) for s, w in scenario.faults]}", flush=True)
            results.append(run_scenario(base, stack, scenario, data, args.seed, args.events, args.rate, state,
                                        lambda m: print(m, flush=True)))
            print(json.dumps(results[-1]), flush=True)
    print()
    print(f"seed {args.seed}, {args.events:,} events per scenario at {args.rate:,.0f}/s, 1% poison")
    print("| scenario | faults | events | unique predictions | dead letters | missing | duplicates | labels | "
          "examples | learned | learned twice | same answers as fault-free | drift window rows / scorings | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        dead = ", ".join(f"{k} {v}" for k, v in sorted(r["deadletters"].items()))
        print(f"| {r['scenario']} | {len(r['faults'])} | {r['events']:,} | {r['unique_predictions']:,} | {dead} | {r['missing']} | "
              f"{r['duplicates']} | {r['labels']:,} | {r['examples']:,} | {r['learned']:,} | {r['learned_twice']} | "
              f"{'yes' if r['same_answers'] else 'NO'} | {r['window_rows']:,} / {r['scorings']:,} | {r['seconds']} |")
    print()
    for r in results:
        print(f"{'PASS' if r['pass'] else 'FAIL'} {r['scenario']}: missing {r['missing']}, duplicates {r['duplicates']} "
              f"({r['fault_duplicates']} from faults, bound {r['duplicate_bound']}), "
              f"labels {r['labels']} ({r['labels_unmatched']} unmatched, {r['labels_unaccounted']} unaccounted), "
              f"learned {r['learned']} of {r['examples']} examples (reference {r['reference_learned']}"
              + ("" if r["learned"] == r["examples"] else
                 f"; the learner at offsets {r['learner_offsets']} of {r['training_last_offsets']}, {r['unread_examples']} examples "
                 f"beyond them, {r['duplicates_skipped']} passed over as duplicates, the group's committed offsets "
                 f"{r['training_committed']}, offsets the running workers' learn agents never received {r['offsets_missed']}")
              + "), "
              f"same answers {r['same_answers']}, drift window rows {r['window_rows']} for {r['scorings']} scorings ({r['summarised_rows']} in summaries), "
              f"decisions {r['decisions']} ({r['decided_twice']} triggers decided twice), faults {r['faults']}"
              + (f", webhooks {r['webhooks']}" if "webhooks" in r else "") + (f", injector errors {r['injector_errors']}" if r["injector_errors"] else ""))
    return 0 if all(r["pass"] for r in results) else 1  # run() keeps the state folder when one failed


if __name__ == "__main__":
    run(main)
