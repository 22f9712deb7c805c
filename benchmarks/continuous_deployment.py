"""Continuous deployment against its alternatives, on River synthetic streams through the real stack.

For each scenario and seed a Hoeffding tree is trained on the first concept and deployed; the
stream then changes concept (abruptly, or gradually over ``--width`` events) and is sent through
Kafka at ``--rate`` events/s with each label ``--label-delay`` events behind its event. Printed
per scenario: served accuracy over the ``--after`` events that follow the change for

  (a) the frozen original (the deployed artifact, offline, on the same events),
  (b) online learning alone (a worker with ``DRIFTLINE_DEPLOY_POLICY=off``),
  (c) Driftline's full loop (a worker with ``DRIFTLINE_DEPLOY_POLICY=auto``),
  (d) River's ARF (its own ADWIN detectors and background trees), in-process, same label delay,
  (e) River's ``DriftRetrainingClassifier`` around the champion's spec, in-process, same delay,
  (f) the loop's served answers until its promotion, then (d)'s from there on: what the loop would
      serve if its challenger were as good as a forest that has learned all along. (d) - (f) is
      what the events before the promotion cost, (f) - (c) what the challenger lacks after it,
  (g) (d)'s forest with its drift detectors off (River's ``NoDrift``), in-process: how much of (d)
      is the handling of drift and how much the forest learning online; where (g) is as good as (d),
      the stream asks for a stronger learner, not for faster drift handling,

with the loop's detection delay, the events and seconds from the change to the promotion (a gradual
change counted from its middle, so a drift found in its first half has a negative delay), the
spec that won the retrain, and finally the retrains and promotions of the full loop on
``--stationary`` events without any change.

    python benchmarks/continuous_deployment.py                    # 5 scenarios x 2 seeds, ~20 min
    python benchmarks/continuous_deployment.py --scenarios agrawal --seeds 1 --stationary 20000
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import free_port, run, state_folder, take  # noqa: E402
from kafka import KafkaConsumer  # noqa: E402
from river import drift, forest, tree  # noqa: E402
from river.datasets import synth  # noqa: E402

from stream.dev.devstack import EmbeddedStack  # noqa: E402
from stream.dev.outputs import OutputWatcher  # noqa: E402
from stream.dev.replay import make_producer, new_run_id  # noqa: E402
from stream.dev.workerproc import WorkerProcess  # noqa: E402
from stream.model import artifact  # noqa: E402
from stream.model.predictor import Predictor  # noqa: E402
from stream.registry.registry import Registry  # noqa: E402
from stream.settings import Settings  # noqa: E402
from stream.training.datasets import Dataset  # noqa: E402
from stream.training.trainer import train  # noqa: E402
from stream.transport.topics import ensure_topics  # noqa: E402

KEY = "continuous-deployment-benchmark"
SCENARIOS = {
    # name: (first concept, second concept, abrupt?)
    "agrawal": (lambda s: synth.Agrawal(classification_function=0, seed=s),
                lambda s: synth.Agrawal(classification_function=4, seed=s + 1000), True),
    "sea": (lambda s: synth.SEA(variant=0, seed=s), lambda s: synth.SEA(variant=3, seed=s + 1000), True),
    "hyperplane": (lambda s: synth.Hyperplane(seed=s), lambda s: synth.Hyperplane(seed=s + 1000), True),
    "rbf": (lambda s: synth.RandomRBF(seed_model=s, seed_sample=s), lambda s: synth.RandomRBF(seed_model=s + 1000, seed_sample=s + 1), True),
    "agrawal-gradual": (lambda s: synth.Agrawal(classification_function=0, seed=s),
                        lambda s: synth.Agrawal(classification_function=4, seed=s + 1000), False),
}


def make_stream(scenario: str, seed: int, n_train: int, n_before: int, n_after: int, width: int):
    first, second, abrupt = SCENARIOS[scenario]
    train_rows, train_targets = take(first(seed), n_train)
    if abrupt:
        rows, targets = take(first(seed + 1), n_before)
        more, more_targets = take(second(seed), n_after)
        return train_rows, train_targets, rows + more, targets + more_targets
    mixed = synth.ConceptDriftStream(stream=first(seed + 1), drift_stream=second(seed), position=n_before, width=width, seed=seed)
    rows, targets = take(mixed, n_before + n_after)
    return train_rows, train_targets, rows, targets


def in_process(model, rows: list[dict], targets: list, delay: int) -> list[bool]:
    """Test at event time, learn each label ``delay`` events later: what a service with that label delay could do."""
    correct = []
    for i, (x, y) in enumerate(zip(rows, targets)):
        correct.append(model.predict_one(x) == y)
        if i >= delay:
            model.learn_one(rows[i - delay], targets[i - delay])
    return correct


def pretrained(model, rows, targets):
    for x, y in zip(rows, targets):
        model.learn_one(x, y)
    return model


def send_stream(settings: Settings, name: str, rows, targets, rate: float, delay: int, run_id: str) -> list[float]:
    """Events paced at ``rate``, each label ``delay`` events behind; returns each event's send time."""
    producer = make_producer(settings)
    sent = []
    started = time.monotonic()
    for i, x in enumerate(rows):
        event_id = f"{run_id}-{i}"
        producer.send(settings.topic("events"), key=event_id.encode(),
                      value=json.dumps({"id": event_id, "model": name, "features": x, "ts": time.time()}).encode())
        sent.append(time.time())
        if i >= delay:
            j = i - delay
            producer.send(settings.topic("labels"), key=f"{run_id}-{j}".encode(),
                          value=json.dumps({"id": f"{run_id}-{j}", "model": name, "label": targets[j]}).encode())
        ahead = (i + 1) / rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)
    for j in range(max(0, len(rows) - delay), len(rows)):
        producer.send(settings.topic("labels"), key=f"{run_id}-{j}".encode(),
                      value=json.dumps({"id": f"{run_id}-{j}", "model": name, "label": targets[j]}).encode())
    producer.flush()
    producer.close()
    return sent


def drift_records(settings: Settings, name: str) -> list[dict]:
    consumer = KafkaConsumer(settings.topic("drift-events"), bootstrap_servers=settings.broker_servers, group_id=None,
                             auto_offset_reset="earliest", consumer_timeout_ms=2000)
    found = [json.loads(m.value) for m in consumer if m.key == name.encode()]
    consumer.close()
    unique = {r["id"]: r for r in found}
    return sorted(unique.values(), key=lambda r: r["ts"])


def through_stack(settings: Settings, registry: Registry, name: str, blob: bytes, metadata: dict, rows, targets,
                  args) -> dict:
    registry.register(blob, metadata, alias="champion", reason="benchmark")
    run_id = new_run_id()
    watcher = OutputWatcher(settings, run_id, from_now=True)
    sent = send_stream(settings, name, rows, targets, args.rate, args.label_delay, run_id)
    complete = watcher.wait_for(len(rows), timeout=120 + len(rows) / args.rate)
    watcher.close()
    time.sleep(1.0)
    predictions = {int(k.rsplit("-", 1)[1]): p for k, p in watcher.predictions.items()}
    return {"predictions": predictions, "sent": sent, "records": drift_records(settings, name), "complete": complete}


def accuracy(correct: list[bool]) -> float:
    return sum(correct) / len(correct) if correct else float("nan")


def start_worker(base: Settings, tmp: Path, tag: str, **overrides) -> tuple[Settings, WorkerProcess]:
    settings = dataclasses.replace(base, topic_prefix=f"{tag}-", app_id=f"driftline-{tag}", web_port=free_port(),
                                   state_dir=str(tmp / tag), **overrides)
    ensure_topics(settings)
    worker = WorkerProcess(settings, tmp / f"{tag}.log").start()
    worker.wait_ready(timeout=240)
    return settings, worker


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--train", type=int, default=5000, help="rows of the first concept the champion is trained on")
    parser.add_argument("--before", type=int, default=3000, help="events of the first concept before the change")
    parser.add_argument("--after", type=int, default=5000, help="events after the change that the accuracies cover")
    parser.add_argument("--tail", type=int, default=5000, help="more events after those, to see the loop settle")
    parser.add_argument("--width", type=int, default=1000, help="width of the gradual change (events)")
    parser.add_argument("--rate", type=float, default=250.0)
    parser.add_argument("--label-delay", type=int, default=300)
    parser.add_argument("--retrain-specs", default="arf")
    parser.add_argument("--retrain-min-examples", type=int, default=100)
    parser.add_argument("--max-learn-share", type=float, default=None,
                        help="DRIFTLINE_RETRAIN_MAX_LEARN_SHARE for the loop's worker (default: the setting's; 0: no limit)")
    parser.add_argument("--stationary", type=int, default=200_000)
    parser.add_argument("--stationary-rate", type=float, default=2000.0)
    args = parser.parse_args()

    tmp = state_folder("driftline-cd-")
    base = Settings.from_env({}, broker=f"kafka://127.0.0.1:{free_port()}", redis_url=f"redis://127.0.0.1:{free_port()}/0",
                             state_dir=str(tmp), signing_key=KEY)
    print(f"rate {args.rate:g} events/s, labels {args.label_delay} behind; champion hoeffding-tree trained on {args.train:,} rows; "
          f"change after {args.before:,} events; accuracy over the {args.after:,} after it; loop: retrain specs "
          f"{args.retrain_specs}, {args.retrain_min_examples} examples after the drift"
          f"{'' if args.max_learn_share is None else f', max learn share {args.max_learn_share:g}'}, other settings default", flush=True)
    rows_out = []
    with EmbeddedStack(base, log=lambda m: None):
        registry = Registry.from_url(base.redis_url)
        off_settings, off_worker = start_worker(base, tmp, "cd-off", deploy_policy="off")
        share = {} if args.max_learn_share is None else {"retrain_max_learn_share": args.max_learn_share}
        auto_settings, auto_worker = start_worker(base, tmp, "cd-auto", deploy_policy="auto", retrain_specs=args.retrain_specs,
                                                  retrain_min_examples=args.retrain_min_examples, **share)
        try:
            for scenario in args.scenarios.split(","):
                for seed in range(1, args.seeds + 1):
                    rows_out.append(run_scenario(scenario, seed, args, registry, off_settings, auto_settings))
                    print_row(rows_out[-1])
            stationary = run_stationary(args, registry, auto_settings) if args.stationary else None
        finally:
            off_worker.stop()
            auto_worker.stop()
    print_table(rows_out, stationary, args)
    return 0


def run_scenario(scenario: str, seed: int, args, registry: Registry, off_settings: Settings, auto_settings: Settings) -> dict:
    n_after = args.after + args.tail
    train_rows, train_targets, rows, targets = make_stream(scenario, seed, args.train, args.before, n_after, args.width)
    window = range(args.before, args.before + args.after)
    result = {"scenario": scenario, "seed": seed, "abrupt": SCENARIOS[scenario][2]}
    data = Dataset(f"{scenario}-train", "binary_classification" if len(set(train_targets)) <= 2 else "multiclass_classification",
                   "y", train_rows, train_targets)
    for policy, settings in (("off", off_settings), ("auto", auto_settings)):
        name = f"cd-{scenario}-{seed}-{policy}"
        trained = train(data, "hoeffding-tree", name, holdout=0.0)
        blob = artifact.dumps(trained, base_key())
        if policy == "off":
            frozen = Predictor.from_artifact(trained)
            result["frozen"] = accuracy([frozen.predict(frozen.schema.validate(rows[i]))["prediction"] == targets[i] for i in window])
        run = through_stack(settings, registry, name, blob, trained.metadata, rows, targets, args)
        served = run["predictions"]
        result[policy] = accuracy([served[i]["prediction"] == targets[i] for i in window if i in served])
        result[f"{policy}_tail"] = accuracy([served[i]["prediction"] == targets[i] for i in range(args.before + args.after, len(rows)) if i in served])
        result[f"{policy}_complete"] = run["complete"]
        if policy == "auto":
            loop_summary(result, run, args)
            loop_served = served
    arf = in_process(pretrained(forest.ARFClassifier(n_models=10, seed=42), train_rows, train_targets), rows, targets, args.label_delay)
    result["arf"] = accuracy(arf[args.before:args.before + args.after])
    no_detectors = forest.ARFClassifier(n_models=10, seed=42, drift_detector=drift.NoDrift(), warning_detector=drift.NoDrift())
    result["arf_no_detectors"] = accuracy(in_process(pretrained(no_detectors, train_rows, train_targets), rows, targets,
                                                     args.label_delay)[args.before:args.before + args.after])
    result["arf_from_promotion"] = None
    if result["promoted_events"] is not None:
        promoted_at = args.before + result["promoted_events"]
        result["arf_from_promotion"] = accuracy([loop_served[i]["prediction"] == targets[i] for i in window if i < promoted_at and i in loop_served]
                                                + [arf[i] for i in window if i >= promoted_at])
    retraining = drift.DriftRetrainingClassifier(model=pretrained(tree.HoeffdingTreeClassifier(), train_rows, train_targets),
                                                 drift_detector=drift.binary.DDM())
    result["drift_retraining"] = accuracy(in_process(retraining, rows, targets, args.label_delay)[args.before:args.before + args.after])
    return result


def base_key() -> bytes:
    return KEY.encode()


def loop_summary(result: dict, run: dict, args) -> None:
    sent, records = run["sent"], run["records"]
    change_at = sent[args.before]
    # A gradual change is under way from half its width before its middle (River's sigmoid): a
    # drift found from there on is found, not a false alarm, and its delay is negative.
    begins_at = sent[args.before - (0 if result["abrupt"] else args.width // 2)]
    triggers = [r for r in records if r["kind"] in ("concept_drift", "data_drift") and r["ts"] >= begins_at]
    deployed = [r for r in records if r["kind"] == "deployed"]
    registered = [r for r in records if r["kind"] == "challenger_registered"]
    result["detected_s"] = triggers[0]["ts"] - change_at if triggers else None
    result["detected_by"] = triggers[0]["kind"] if triggers else None
    result["retrains"] = len([r for r in records if r["kind"] == "retrain_started"])
    result["promotions"] = len(deployed)
    result["false_triggers"] = len([r for r in records if r["kind"] in ("concept_drift", "data_drift") and r["ts"] < begins_at])
    result["spec"] = registered[0]["spec"] if registered else None
    # Each candidate's learning cost, and the specs passed over as too slow for the label rate.
    result["learn_ms"] = registered[0].get("learn_ms") if registered else None
    result["passed_over"] = sorted(registered[0].get("passed_over") or {}) if registered else []
    # Where the events after the change went: each step of the loop, in events after the change.
    steps = [r for r in records if r["ts"] >= begins_at and r["kind"] in ("concept_drift", "data_drift", "retrain_started",
                                                                          "challenger_registered", "deployed")]
    result["timeline"] = ", ".join(f"{r['kind']} {bisect.bisect_left(sent, r['ts']) - args.before:,}" for r in steps[:6])
    if deployed:
        result["promoted_s"] = deployed[0]["ts"] - change_at
        result["promoted_events"] = bisect.bisect_left(sent, deployed[0]["ts"]) - args.before
        result["test"] = deployed[0]["test"]
    else:
        result["promoted_s"] = result["promoted_events"] = result["test"] = None


def run_stationary(args, registry: Registry, settings: Settings) -> dict:
    name = "cd-stationary"
    train_rows, train_targets = take(synth.Agrawal(classification_function=0, seed=7), args.train)
    rows, targets = take(synth.Agrawal(classification_function=0, seed=8), args.stationary)
    trained = train(Dataset("stationary", "binary_classification", "y", train_rows, train_targets), "hoeffding-tree", name, holdout=0.0)
    registry.register(artifact.dumps(trained, base_key()), trained.metadata, alias="champion")
    print(f"stationary: {args.stationary:,} events of Agrawal function 0 at {args.stationary_rate:g}/s ...", flush=True)
    run_id = new_run_id()
    watcher = OutputWatcher(settings, run_id, from_now=True)
    send_stream(settings, name, rows, targets, args.stationary_rate, args.label_delay, run_id)
    watcher.wait_for(len(rows), timeout=600)
    watcher.close()
    time.sleep(3.0)
    records = drift_records(settings, name)
    kinds = [r["kind"] for r in records]
    return {"events": args.stationary, "scored": watcher.total, "drift_records": sum(k in ("data_drift", "concept_drift") for k in kinds),
            "retrains": kinds.count("retrain_started"), "promotions": kinds.count("deployed")}


def fmt(value, pattern="{:.3f}") -> str:
    return "-" if value is None else pattern.format(value)


def print_row(r: dict) -> None:
    print(f"{r['scenario']} seed {r['seed']}: frozen {fmt(r['frozen'])} online {fmt(r['off'])} loop {fmt(r['auto'])} "
          f"arf {fmt(r['arf'])} drift-retraining {fmt(r['drift_retraining'])} arf-from-promotion {fmt(r['arf_from_promotion'])} "
          f"arf-without-detectors {fmt(r['arf_no_detectors'])}; detected after {fmt(r['detected_s'], '{:.1f}')} s "
          f"({r['detected_by']}), promoted after {fmt(r['promoted_s'], '{:.1f}')} s / {fmt(r['promoted_events'], '{:,}')} events, "
          f"spec {r['spec']} (ms an example: {r.get('learn_ms')}; passed over as too slow: {', '.join(r.get('passed_over') or []) or 'none'}), "
          f"retrains {r['retrains']}, promotions {r['promotions']}, test {r['test']}; "
          f"events after the change: {r.get('timeline') or '-'}", flush=True)


def print_table(rows: list[dict], stationary: dict | None, args) -> None:
    print()
    print(f"| scenario | seed | detection (s) | drift to promotion (s / events) | spec | (a) frozen | (b) online | (c) loop | (d) ARF | (e) DriftRetraining | (f) ARF from the promotion | (g) ARF without its detectors | (b) next {args.tail:,} | (c) next {args.tail:,} |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['scenario']} | {r['seed']} | {fmt(r['detected_s'], '{:.1f}')} ({r['detected_by'] or 'none'}) | "
              f"{fmt(r['promoted_s'], '{:.1f}')} / {fmt(r['promoted_events'], '{:,}')} | {r['spec'] or '-'} | {fmt(r['frozen'])} | "
              f"{fmt(r['off'])} | {fmt(r['auto'])} | {fmt(r['arf'])} | {fmt(r['drift_retraining'])} | {fmt(r['arf_from_promotion'])} | "
              f"{fmt(r['arf_no_detectors'])} | {fmt(r['off_tail'])} | {fmt(r['auto_tail'])} |")
    for scenario in dict.fromkeys(r["scenario"] for r in rows):
        mine = [r for r in rows if r["scenario"] == scenario]
        means = {k: statistics.fmean(r[k] for r in mine) for k in ("frozen", "off", "auto", "arf", "drift_retraining", "arf_no_detectors")}
        print(f"| {scenario} | mean | | | | {means['frozen']:.3f} | {means['off']:.3f} | {means['auto']:.3f} | {means['arf']:.3f} | {means['drift_retraining']:.3f} | | {means['arf_no_detectors']:.3f} | | |")
    if stationary:
        print(f"\nstationary: {stationary['events']:,} events ({stationary['scored']:,} scored), drift records {stationary['drift_records']}, "
              f"retrains {stationary['retrains']}, promotions {stationary['promotions']}")


if __name__ == "__main__":
    run(main)
