"""How fast the answers the service serves follow what the learner learns: the adaptation lag.

A model is trained on one Agrawal concept, deployed as champion, and a stream of another concept
is replayed through the real embedded stack (broker, Redis, one worker) with each label sent
``--label-delay`` events after its event. For every label this measures the **adaptation lag**:
the time from the label's arrival on ``labels`` (its record timestamp) to the first prediction
served by a snapshot that has learned it (the snapshot's training offsets include the label's
example). It also reports the share of predictions by the age of the snapshot that made them, and
the served accuracy over the events from ``--after`` on, side by side with River run in-process
on the same events with the same label delay, and with the deployed artifact kept frozen.

    python benchmarks/adaptation.py [--rates 500,2000,5000] [--specs logreg,hoeffding-tree,arf]
                                    [--events 8000] [--arf-events 3000] [--label-delay 300]

Starts its own embedded broker and Redis on free ports and stops them at the end. The worker runs
with the default settings (the publishing cadence, the refresh interval).
"""

from __future__ import annotations

import argparse
import json
import threading
import time

from common import free_port, run, state_folder, take, wait_learned
from kafka import KafkaConsumer
from river.datasets import synth

from stream.dev.devstack import EmbeddedStack
from stream.dev.outputs import OutputWatcher, percentile
from stream.dev.replay import new_run_id, replay
from stream.dev.workerproc import WorkerProcess
from stream.model import artifact
from stream.registry import Registry
from stream.registry.registry import SNAPSHOT_CHANNEL
from stream.settings import Settings
from stream.training.datasets import Dataset
from stream.training.trainer import train
from stream.transport.topics import ensure_topics

KEY = "bench"
AGES = ((0.5, "< 0.5 s"), (1.0, "0.5-1 s"), (2.0, "1-2 s"), (float("inf"), ">= 2 s"))



class Publications:
    """Every snapshot notification the learner publishes, heard as the scorers hear them."""

    def __init__(self, redis_url: str):
        self.by_model: dict[str, dict[int, dict]] = {}
        self._pubsub = Registry.from_url(redis_url).redis.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(SNAPSHOT_CHANNEL)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            message = self._pubsub.get_message(timeout=0.5)
            if message is not None:
                note = json.loads(message["data"])
                if note.get("alias") == "champion":
                    self.by_model.setdefault(note["model"], {})[int(note["revision"])] = note

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._pubsub.close()


def read_topic(settings: Settings, topic: str, keep) -> list:
    consumer = KafkaConsumer(settings.topic(topic), bootstrap_servers=settings.broker_servers, group_id=None,
                             auto_offset_reset="earliest", consumer_timeout_ms=3000)
    messages = [m for m in consumer if keep(m)]
    consumer.close()
    return messages


def in_process_accuracy(model, rows: list[dict], targets: list, delay: int, start: int) -> float:
    """River on the same events: each event predicted once every label sent before it is learned."""
    hits = []
    for i, x in enumerate(rows):
        j = i - 1 - delay  # the label sent last before event i (the replay sends label j after event j + delay)
        if j >= 0:
            model.learn_one(rows[j], targets[j])
        if i >= start:
            hits.append(model.predict_one(x) == targets[i])
    return sum(hits) / len(hits)


def measure(settings, registry, publications, name: str, rows, targets, rate: float, delay: int, after: int, blob: bytes):
    run_id = new_run_id()
    watcher = OutputWatcher(settings, run_id, from_now=True)
    replay(settings, rows, targets, name, rate=rate, label_delay=delay, run_id=run_id)
    assert watcher.wait_for(len(rows), 600), f"{name}: {watcher.total} of {len(rows)} scored"
    watcher.close()
    time.sleep(1.0)  # the last notifications

    labels = {m.key.decode(): m.timestamp / 1000 for m in read_topic(settings, "labels", lambda m: m.key.startswith(run_id.encode()))}
    examples = {json.loads(m.value)["id"]: (m.partition, m.offset, m.timestamp / 1000)
                for m in read_topic(settings, "training", lambda m: m.key == name.encode())}
    notes = sorted(publications.by_model.get(name, {}).values(), key=lambda n: n["revision"])
    predictions = [watcher.predictions[f"{run_id}-{i}"] for i in range(len(rows))]
    served = sorted(((p["ts_scored"], p["snapshot"]) for p in predictions if p["snapshot"] is not None))

    # Lag per label: its first covering revision, then the first prediction made with it or a later one.
    lags, unserved = [], 0
    parts: dict[str, list[float]] = {"join": [], "learn and publish": [], "serve": []}
    first_scored_from: dict[int, float] = {}
    earliest = float("inf")
    for ts_scored, revision in reversed(served):
        earliest = min(earliest, ts_scored)
        first_scored_from[revision] = earliest  # first prediction made with this revision or a later one
    revisions = sorted(first_scored_from)
    for label_id, label_ts in labels.items():
        example = examples.get(label_id)
        if example is None:
            continue
        partition, offset, example_ts = example
        covering = next((n for n in notes if n.get("offsets", {}).get(str(partition), -1) >= offset), None)
        later = [r for r in revisions if covering is not None and r >= covering["revision"]]
        if not later:
            unserved += 1
            continue
        served_at = min(first_scored_from[r] for r in later)
        lags.append(served_at - label_ts)
        parts["join"].append(example_ts - label_ts)
        parts["learn and publish"].append(covering["written_at"] - example_ts)
        parts["serve"].append(served_at - covering["written_at"])
    lags.sort()

    written = {n["revision"]: n["written_at"] for n in notes}
    ages = [0] * (len(AGES) + 1)  # [deployed artifact, then each age bucket]
    for p in predictions:
        if p["snapshot"] is None:
            ages[0] += 1
            continue
        age = p["ts_scored"] - written.get(p["snapshot"], p["ts_scored"])
        ages[1 + next(k for k, (bound, _) in enumerate(AGES) if age < bound)] += 1

    frozen = artifact.loads(blob, KEY.encode()).model
    first_label = min(labels.values())
    first_example = min((ts for _, _, ts in examples.values()), default=float("nan"))
    first_publish = notes[0]["written_at"] if notes else float("nan")
    return {
        "lag_p50": percentile(lags, 0.5), "lag_p99": percentile(lags, 0.99), "lag_max": lags[-1] if lags else None,
        "lags": len(lags), "unserved": unserved, "ages": [a / len(predictions) for a in ages],
        "served": sum(p["prediction"] == y for p, y in zip(predictions[after:], targets[after:])) / (len(rows) - after),
        "in_process": in_process_accuracy(artifact.loads(blob, KEY.encode()).model, rows, targets, delay, after),
        "frozen": sum(frozen.predict_one(x) == y for x, y in zip(rows[after:], targets[after:])) / (len(rows) - after),
        "first_example": first_example - first_label, "first_publish": first_publish - first_label,
        "publications": len(notes),
        "parts": {k: percentile(sorted(v), 0.5) for k, v in parts.items()},
    }


def wait_quiet(worker, registry, name: str, n: int, timeout: float = 300.0) -> None:
    """Start each run on a quiet worker: the previous run's learner has caught up and no drift
    report of it is being rendered (a report takes seconds of CPU in a process of its own)."""
    wait_learned(registry, name, n, timeout=timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reports = ((worker.health() or {}).get("monitoring") or {}).get("reports") or {}
        if not reports.get("queued") and not reports.get("rendering"):
            break
        time.sleep(0.5)
    time.sleep(2.0)  # the renderer's last report, and the stream's tail


def run_on_a_stack(runs: list, args) -> list[dict]:
    """Start the embedded stack and a worker, deploy the runs' models, measure each run in turn."""
    state = state_folder("driftline-adapt-")
    settings = Settings.from_env({}, broker=f"kafka://127.0.0.1:{free_port()}", redis_url=f"redis://127.0.0.1:{free_port()}/0",
                                 web_port=free_port(), state_dir=str(state), signing_key=KEY, topic_prefix="adapt-",
                                 monitoring=not args.no_monitoring)
    results = []
    with EmbeddedStack(settings, log=lambda m: None):
        ensure_topics(settings)
        registry = Registry.from_url(settings.redis_url)
        blobs = {}
        for _, _, name, trained, _, _ in runs:
            blobs[name] = artifact.dumps(trained, KEY.encode())
            registry.register(blobs[name], trained.metadata, alias="champion", reason="adaptation benchmark")
        publications = Publications(settings.redis_url)
        worker = WorkerProcess(settings, state / "worker.log").start()
        try:
            worker.wait_ready(timeout=240, models=[r[2] for r in runs])
            previous = None
            for spec, rate, name, _, rows, targets in runs:
                if previous is not None:
                    wait_quiet(worker, registry, *previous)
                previous = (name, len(rows))
                after = int(len(rows) * args.after)
                started = time.monotonic()
                r = measure(settings, registry, publications, name, rows, targets, rate, args.label_delay, after, blobs[name])
                r.update(spec=spec, rate=rate, events=len(rows), after=after)
                results.append(r)
                print(f"{spec} at {rate:,.0f}/s ({time.monotonic() - started:.0f} s): lag p50 {r['lag_p50']:.3f} s, "
                      f"p99 {r['lag_p99']:.3f} s, max {r['lag_max']:.3f} s over {r['lags']:,} labels "
                      f"({r['unserved']} not served before the stream ended); {r['publications']} snapshots; "
                      f"served {r['served']:.3f}, River in-process {r['in_process']:.3f}, frozen {r['frozen']:.3f}; "
                      f"first label to first example {r['first_example']:.2f} s, to first snapshot {r['first_publish']:.2f} s; "
                      "lag p50 by part: " + ", ".join(f"{k} {v:.3f} s" for k, v in r["parts"].items() if v is not None),
                      flush=True)
        finally:
            worker.stop()
            publications.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="500,2000,5000")
    parser.add_argument("--specs", default="logreg,hoeffding-tree,arf")
    parser.add_argument("--events", type=int, default=8_000, help="events per run (logreg, hoeffding-tree)")
    parser.add_argument("--arf-events", type=int, default=3_000, help="events per arf run (it learns ~1k examples/s)")
    parser.add_argument("--after", type=float, default=3 / 8, help="served accuracy from this share of the stream on")
    parser.add_argument("--train", type=int, default=3_000, help="training rows of the first concept")
    parser.add_argument("--label-delay", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-monitoring", action="store_true", help="run the worker with DRIFTLINE_MONITORING=false")
    parser.add_argument("--fresh-stack", action="store_true",
                        help="a new broker, Redis and worker for every run (in one long-running stack later runs are slower)")
    args = parser.parse_args()

    rates = [float(r) for r in args.rates.split(",")]
    rows0, targets0 = take(synth.Agrawal(classification_function=0, seed=args.seed), args.train)
    data = Dataset(name="agrawal-0", task="binary_classification", target="y", rows=rows0, targets=targets0)
    runs = []
    for spec in args.specs.split(","):
        n = args.arf_events if spec == "arf" else args.events
        for rate in rates:
            name = f"adapt-{spec}-{int(rate)}"
            trained = train(data, spec, name, holdout=0.2, seed=args.seed)
            rows, targets = take(synth.Agrawal(classification_function=4, seed=args.seed + int(rate)), n)
            runs.append((spec, rate, name, trained, rows, targets))
    results = []
    for group in ([[one] for one in runs] if args.fresh_stack else [runs]):
        results += run_on_a_stack(group, args)
    print()
    print(f"Labels {args.label_delay} events behind their events; served accuracy from event `after` on.")
    print()
    print("| model | events/s | events | lag p50 (s) | lag p99 (s) | lag max (s) | served by the deployed artifact | "
          + " | ".join(f"snapshot age {label}" for _, label in AGES)
          + " | after | served accuracy | River in-process | frozen artifact |")
    print("|---" * (11 + len(AGES)) + "|")
    for r in results:
        ages = " | ".join(f"{a:.1%}" for a in r["ages"])
        print(f"| {r['spec']} | {r['rate']:,.0f} | {r['events']:,} | {r['lag_p50']:.3f} | {r['lag_p99']:.3f} | {r['lag_max']:.3f} | "
              f"{ages} | {r['after']:,} | {r['served']:.3f} | {r['in_process']:.3f} | {r['frozen']:.3f} |")
    return 0


if __name__ == "__main__":
    run(main)
