"""How well Driftline's monitors find drift, through the real stack: delay, misses, false alarms.

Every run trains a model on one concept of a River synthetic generator, deploys it, and streams
events (with their labels inline, so the learner sees each error right after scoring) through the
embedded broker, Redis and one worker with monitoring on. The worker's ``drift-events`` are then
read back and set against the known drift position:

- abrupt feature drift: RandomRBF whose centroids move (features and concept change), and Agrawal
  with 5 of its 9 features shifted (a ``data_drift``) or 2 of them (salary x 1.5, age + 15: a
  ``feature_drift``, below the drift share);
- abrupt concept drift: Agrawal classification function 0 -> 4, SEA variant 0 -> 3 (features
  unchanged), FriedmanDrift (regression, global abrupt);
- gradual concept drift: Agrawal 0 -> 4 over a ConceptDriftStream of width 5,000;
- stationary streams of the same generators with no drift.

Topics have one partition by default, so a window holds consecutive events of a run (with
several partitions read from a backlog at different paces, a window mixes events from far apart).
Event timestamps are synthetic (one millisecond apart, from a fixed origin per run), so a window's
bounds name the events it holds. Detection delay is in events after the true drift position: for
feature drift, the last event of the first window judged drifted; for concept drift, the event at
which the learner's detector fired. The reference is River's own ``drift.ADWIN()`` run in this
process on the same error stream (the learner's test-then-train errors, recomputed from the
``training`` topic in the order the learner read it).

    python benchmarks/drift_eval.py [--seeds 3] [--events 20000] [--stationary-events 40000]

Starts its own embedded broker and Redis on free ports and stops them at the end.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from statistics import mean
from typing import Callable

from common import free_port, named, run, state_folder, wait_learned
from kafka import KafkaConsumer
from river import drift
from river.datasets import synth

from stream.dev.devstack import EmbeddedStack
from stream.dev.outputs import OutputWatcher
from stream.dev.replay import make_producer
from stream.dev.workerproc import WorkerProcess
from stream.learning.learner import ModelLearner
from stream.model import artifact
from stream.registry.registry import Registry
from stream.settings import Settings
from stream.training.datasets import Dataset
from stream.training.trainer import train
from stream.transport.topics import ensure_topics

KEY = "bench"
TS_ORIGIN = 1_700_000_000.0
TS_STEP = 0.001  # seconds between consecutive events of a run (synthetic)




def take(stream, n: int, transform: Callable[[int, dict], dict] | None = None) -> tuple[list[dict], list]:
    rows, targets = [], []
    for i, (x, y) in enumerate(stream.take(n)):
        x = named(x)
        rows.append(transform(i, x) if transform else x)
        targets.append(y)
    return rows, targets


SHIFTED_AGRAWAL = ("salary", "commission", "hvalue", "loan", "age")


def agrawal_shift(position: int) -> Callable[[int, dict], dict]:
    def shift(i: int, x: dict) -> dict:
        if i < position:
            return x
        return dict(x, salary=x["salary"] * 1.5, commission=x["commission"] * 1.5 + 10_000,
                    hvalue=x["hvalue"] * 1.5, loan=x["loan"] * 1.5, age=x["age"] + 15)
    return shift


def agrawal_two_shift(position: int) -> Callable[[int, dict], dict]:
    """2 of 9 features: fewer than the drift share, so a feature_drift record (not data_drift)."""
    def shift(i: int, x: dict) -> dict:
        return x if i < position else dict(x, salary=x["salary"] * 1.5, age=x["age"] + 15)
    return shift


def drifting(before, after, position: int, width: int, seed: int):
    # River's ConceptDriftStream overflows for very small widths far from the position.
    return synth.ConceptDriftStream(before, after, position=position, width=max(width, int(position / 150) + 1), seed=seed)


@dataclass
class Scenario:
    name: str
    kind: str  # abrupt feature / abrupt concept / gradual concept / stationary
    spec: str
    task: str
    feature_drift: bool
    concept_drift: bool
    train: Callable[[int], object]  # seed -> generator of the training concept
    stream: Callable[[int, int, int], tuple[list[dict], list]]  # (seed, n, position) -> rows, targets
    shifted: tuple[str, ...] = ()
    width: int = 0  # a gradual drift starts width / 2 events before its position


def scenarios() -> list[Scenario]:
    agrawal = lambda fn: (lambda s: synth.Agrawal(classification_function=fn, seed=s))  # noqa: E731
    rbf = lambda model: (lambda s: synth.RandomRBF(seed_model=model, seed_sample=s, n_features=10))  # noqa: E731
    sea = lambda variant: (lambda s: synth.SEA(variant=variant, seed=s))  # noqa: E731
    return [
        Scenario("rbf-centroids-move", "abrupt feature", "hoeffding-tree", "binary_classification", True, True, rbf(1),
                 lambda s, n, p: take(drifting(rbf(1)(s + 100), rbf(2)(s + 200), p, 1, s), n)),
        # Labels still come from the unshifted features, so how labels follow the features the
        # model sees changes too: concept drift as well as feature drift.
        Scenario("agrawal-5-features-shift", "abrupt feature", "hoeffding-tree", "binary_classification", True, True, agrawal(0),
                 lambda s, n, p: take(agrawal(0)(s + 100), n, agrawal_shift(p)), SHIFTED_AGRAWAL),
        Scenario("agrawal-2-features-shift", "abrupt feature", "hoeffding-tree", "binary_classification", True, True, agrawal(0),
                 lambda s, n, p: take(agrawal(0)(s + 100), n, agrawal_two_shift(p)), ("salary", "age")),
        Scenario("agrawal-function-0-to-4", "abrupt concept", "hoeffding-tree", "binary_classification", False, True, agrawal(0),
                 lambda s, n, p: take(drifting(agrawal(0)(s + 100), agrawal(4)(s + 200), p, 1, s), n)),
        Scenario("sea-variant-0-to-3", "abrupt concept", "hoeffding-tree", "binary_classification", False, True, sea(0),
                 lambda s, n, p: take(drifting(sea(0)(s + 100), sea(3)(s + 200), p, 1, s), n)),
        Scenario("friedman-global-abrupt", "abrupt concept", "hoeffding-tree", "regression", False, True,
                 lambda s: synth.FriedmanDrift(drift_type="gra", position=(10**9, 2 * 10**9), seed=s),
                 lambda s, n, p: take(synth.FriedmanDrift(drift_type="gra", position=(p, 10**9), seed=s + 100), n)),
        Scenario("agrawal-0-to-4-gradual", "gradual concept", "hoeffding-tree", "binary_classification", False, True, agrawal(0),
                 lambda s, n, p: take(drifting(agrawal(0)(s + 100), agrawal(4)(s + 200), p, 5000, s), n), width=5000),
    ]


def stationary_scenarios() -> list[Scenario]:
    gens = {
        "agrawal": ("hoeffding-tree", "binary_classification", lambda s: synth.Agrawal(classification_function=0, seed=s)),
        "sea": ("hoeffding-tree", "binary_classification", lambda s: synth.SEA(variant=0, seed=s)),
        "hyperplane": ("logreg", "binary_classification", lambda s: synth.Hyperplane(n_features=10, seed=s)),
        "rbf": ("hoeffding-tree", "binary_classification", lambda s: synth.RandomRBF(seed_model=1, seed_sample=s, n_features=10)),
        "friedman": ("hoeffding-tree", "regression", lambda s: synth.Friedman(seed=s)),
    }
    return [
        Scenario(f"{name}-stationary", "stationary", spec, task, False, False, gen,
                 (lambda g: lambda s, n, p: take(g(s + 100), n))(gen))
        for name, (spec, task, gen) in gens.items()
    ]


@dataclass
class Run:
    scenario: Scenario
    seed: int
    model: str
    version: int
    blob: bytes
    rows: list[dict]
    targets: list
    position: int | None


def send(producer, settings: Settings, run: Run) -> None:
    topic = settings.topic("events")
    for i, (x, y) in enumerate(zip(run.rows, run.targets)):
        event_id = f"{run.model}-{i}"
        event = {"id": event_id, "model": run.model, "features": x, "label": y, "ts": TS_ORIGIN + i * TS_STEP}
        producer.send(topic, key=event_id.encode(), value=json.dumps(event).encode())
    producer.flush()


def read_all(settings: Settings, topic: str, timeout_ms: int = 5000) -> list:
    consumer = KafkaConsumer(settings.topic(topic), bootstrap_servers=settings.broker_servers, group_id=None,
                             auto_offset_reset="earliest", consumer_timeout_ms=timeout_ms)
    messages = list(consumer)
    consumer.close()
    return sorted(messages, key=lambda m: (m.partition, m.offset))


def index_of_ts(ts: float) -> int:
    return int(round((ts - TS_ORIGIN) / TS_STEP))


def index_of_id(event_id: str) -> int:
    return int(event_id.rsplit("-", 1)[1])


def reference_adwin(run: Run, training: list, key: bytes) -> list[int]:
    """Event indices where River's ADWIN, in this process, fires on the learner's error stream."""
    art = artifact.loads(run.blob, key)
    learner = ModelLearner(run.model, "champion", run.version, art.metadata, art.model)
    detector = drift.ADWIN()
    positions = []
    for message in training:
        example = json.loads(message.value)
        error = learner.learn(example["features"], example["label"], example["id"], message.partition, message.offset)
        if error is None:
            continue
        detector.update(error)
        if detector.drift_detected:
            positions.append(index_of_id(example["id"]))
    return positions


def first_after(positions: list[int], start: int) -> int | None:
    later = [p for p in positions if p >= start]
    return min(later) if later else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--events", type=int, default=20_000, help="events per drifting run; the drift is at the middle")
    parser.add_argument("--stationary-events", type=int, default=40_000, help="events per stationary run (5 generators, 1 seed each)")
    parser.add_argument("--train", type=int, default=4_000, help="training rows from the first concept")
    parser.add_argument("--window", type=int, default=5_000, help="DRIFTLINE_DRIFT_WINDOW_SIZE")
    parser.add_argument("--partitions", type=int, default=1,
                        help="partitions per topic (1 keeps each run's events in order, so windows hold consecutive events)")
    parser.add_argument("--only", default="", help="comma-separated scenario names (default: all)")
    parser.add_argument("--show-status", action="store_true", help="print each model's GET /api/drift/NAME at the end")
    args = parser.parse_args()

    state = state_folder("driftline-drift-eval-")
    settings = Settings.from_env(
        {}, broker=f"kafka://127.0.0.1:{free_port()}", redis_url=f"redis://127.0.0.1:{free_port()}/0",
        web_port=free_port(), state_dir=str(state), signing_key=KEY, topic_prefix="eval-",
        drift_window_size=args.window, drift_window_min_rows=min(1000, args.window), drift_reports=False,
        partitions=args.partitions,
        # Detection is measured, not what the deployment loop does next (a promotion would start
        # the champion's counts again; benchmarks/continuous_deployment.py measures the loop).
        deploy_policy="off",
    )
    key = KEY.encode()
    position = args.events // 2
    runs: list[Run] = []
    with EmbeddedStack(settings, log=lambda m: None):
        ensure_topics(settings)
        registry = Registry.from_url(settings.redis_url)
        plan = [(sc, seed, args.events, position) for sc in scenarios() for seed in range(1, args.seeds + 1)]
        plan += [(sc, 1, args.stationary_events, None) for sc in stationary_scenarios()]
        if args.only:
            plan = [p for p in plan if p[0].name in args.only.split(",")]
        for sc, seed, n, pos in plan:
            model = f"eval-{sc.name}-{seed}"
            rows, targets = take(sc.train(seed), args.train)
            trained = train(Dataset(name=sc.name, task=sc.task, target="y", rows=rows, targets=targets), sc.spec, model, seed=seed)
            blob = artifact.dumps(trained, key)
            version = registry.register(blob, trained.metadata, alias="champion", reason="drift evaluation")
            rows, targets = sc.stream(seed, n, pos if pos is not None else n)
            runs.append(Run(sc, seed, model, version, blob, rows, targets, pos))
        total = sum(len(r.rows) for r in runs)
        print(f"{len(runs)} runs, {total:,} events; drift at event {position:,} of {args.events:,}; "
              f"windows of {args.window:,} events; labels inline", flush=True)

        worker = WorkerProcess(settings, state / "worker.log").start()
        try:
            worker.wait_ready(timeout=240, models=[r.model for r in runs])
            producer = make_producer(settings)
            started = time.monotonic()
            for run in runs:
                watcher = OutputWatcher(settings, run.model + "-")
                send(producer, settings, run)
                assert watcher.wait_for(len(run.rows), 600), f"{run.model}: {watcher.total} of {len(run.rows)} scored"
                assert not watcher.deadletters, f"{run.model}: {dict(watcher.reasons())}"
                watcher.close()
                print(f"  {run.model}: {len(run.rows):,} events scored", flush=True)
            producer.close()
            deadline = time.monotonic() + 300
            for run in runs:  # every example learned (and so every error seen by the detector)
                wait_learned(registry, run.model, len(run.rows), timeout=max(1.0, deadline - time.monotonic()))
            time.sleep(max(3.0, settings.drift_checkpoint_seconds * 2))  # the last windows' records
            print(f"streamed and learned in {time.monotonic() - started:.0f}s", flush=True)
            if args.show_status:
                import urllib.request

                for run in runs:
                    with urllib.request.urlopen(f"{worker.url}/api/drift/{run.model}", timeout=10) as response:
                        print(run.model, response.read().decode()[:3000], flush=True)
        finally:
            worker.stop()

        records: dict[str, list[dict]] = {}
        for message in read_all(settings, "drift-events"):
            record = json.loads(message.value)
            records.setdefault(record["model"], {})[record["id"]] = record  # at-least-once: de-duplicate by id
        training: dict[str, list] = {}
        for message in read_all(settings, "training"):
            training.setdefault(message.key.decode(), []).append(message)

    rows_out = []
    for run in runs:
        recs = list(records.get(run.model, {}).values())
        # Feature drift: a data_drift record (the data-set rule) or a feature_drift one (some columns).
        feature = sorted(index_of_ts(r["window"]["end"]) for r in recs if r["kind"] in ("data_drift", "feature_drift"))
        named_right = all(set(r["drifted_columns"]) == set(run.scenario.shifted)
                          for r in recs if r["kind"] in ("data_drift", "feature_drift") and run.scenario.shifted)
        column_alarms = sum(r["kind"] == "feature_drift" for r in recs)
        prediction = sorted(index_of_ts(r["window"]["end"]) for r in recs if r["kind"] == "prediction_drift")
        concept = sorted(index_of_id(r["event_id"]) for r in recs if r["kind"] == "concept_drift")
        reference = reference_adwin(run, training.get(run.model, []), key)
        pos = run.position
        out = {"run": run, "n": len(run.rows), "named_right": named_right, "prediction_alarms": len(prediction),
               "column_alarms": column_alarms}
        for kind, hits, present in (("feature", feature, run.scenario.feature_drift), ("concept", concept, run.scenario.concept_drift),
                                    ("reference", reference, run.scenario.concept_drift)):
            if pos is None:  # stationary: every detection is a false alarm
                out[kind] = {"false": len(hits), "delay": None, "missed": None}
            elif present:
                begins = pos - run.scenario.width // 2  # detections once a gradual drift has begun are not false
                first = first_after(hits, begins)
                out[kind] = {"false": sum(h < begins for h in hits), "delay": None if first is None else first - pos,
                             "missed": first is None}
            else:  # this kind does not drift in this scenario: every detection is false
                out[kind] = {"false": len(hits), "delay": None, "missed": None}
        rows_out.append(out)
        print(f"{run.model}: feature {feature} prediction {prediction} concept {concept} reference ADWIN {reference}", flush=True)

    print()
    print("Delays are from the drift position (the middle of a gradual drift, which begins 2,500 events earlier: "
          "a negative delay is a detection while it is under way).")
    print("| scenario | kind | runs | feature drift: delay (events) | missed | false alarms | "
          "concept drift: delay | missed | false alarms | in-process ADWIN: delay | missed | false alarms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")

    def cell(outs, kind):
        values = [o[kind] for o in outs]
        delays = [v["delay"] for v in values if v["delay"] is not None]
        missed = [v["missed"] for v in values if v["missed"] is not None]
        delay = f"{mean(delays):,.0f} (max {max(delays):,})" if delays else "-"
        return f"{delay} | {sum(missed) if missed else '-'} | {sum(v['false'] for v in values)}"

    for sc in scenarios() + stationary_scenarios():
        outs = [o for o in rows_out if o["run"].scenario.name == sc.name]
        extra = "" if not sc.shifted else (" (named exactly the shifted features)" if all(o["named_right"] for o in outs)
                                           else " (NOT the shifted features)")
        print(f"| {sc.name}{extra} | {sc.kind} | {len(outs)} | {cell(outs, 'feature')} | {cell(outs, 'concept')} | {cell(outs, 'reference')} |")

    stationary = [o for o in rows_out if o["run"].position is None]
    n_stationary = sum(o["n"] for o in stationary)
    per = 100_000 / max(1, n_stationary)
    print()
    print(f"stationary streams, {n_stationary:,} events: false alarms per 100,000 events: feature drift "
          f"{sum(o['feature']['false'] for o in stationary) * per:.1f} (of which column-level feature_drift "
          f"{sum(o['column_alarms'] for o in stationary) * per:.1f}), prediction drift "
          f"{sum(o['prediction_alarms'] for o in stationary) * per:.1f}, concept drift {sum(o['concept']['false'] for o in stationary) * per:.1f}, "
          f"in-process ADWIN {sum(o['reference']['false'] for o in stationary) * per:.1f}")
    abrupt = [o for o in rows_out if o["run"].scenario.kind.startswith("abrupt")]
    within = [o for o in abrupt if (o["run"].scenario.feature_drift and o["feature"]["delay"] is not None and o["feature"]["delay"] <= 2 * args.window)
              or (not o["run"].scenario.feature_drift and o["concept"]["delay"] is not None)]
    print(f"abrupt drifts detected within two windows ({2 * args.window:,} events): {len(within)} of {len(abrupt)}")
    diffs = [o["concept"]["delay"] - o["reference"]["delay"] for o in rows_out
             if o["concept"]["delay"] is not None and o["reference"]["delay"] is not None]
    if diffs:
        print(f"concept-drift delay minus the in-process ADWIN's: mean {mean(diffs):+.0f} events, worst {max(diffs):+,} "
              f"(one batch = {settings.batch_size} events)")
    return 0


if __name__ == "__main__":
    run(main)
