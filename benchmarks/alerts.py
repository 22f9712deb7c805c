"""Does an alert endpoint that hangs slow scoring, or another endpoint? Side by side in one run.

Fresh workers (own topics, own consumer group) score the same backlog of events while a record is
produced to ``drift-events`` every 50 ms (deployment records, which are never collapsed, so every
one is a delivery). One worker's alerts file has a healthy endpoint only; the other's also has an
endpoint that holds every request open until its 30-second timeout. Runs alternate (healthy,
hanging, healthy, hanging) because the machine's load drifts. Printed: scoring throughput of each
run, the ratio, and how long the healthy endpoint waited for its alerts in each.

    python benchmarks/alerts.py [--events 60000] [--pairs 2]

Starts its own embedded broker and Redis on free ports and stops them at the end.
"""

from __future__ import annotations

import argparse
import json
import threading
import time

from common import free_port, run, state_folder

from stream.alerts.config import new_secret
from stream.dev.devstack import EmbeddedStack
from stream.dev.outputs import OutputWatcher, percentile
from stream.dev.replay import make_producer, replay
from stream.dev.webhook_receiver import LoopbackReceiver
from stream.dev.workerproc import WorkerProcess
from stream.model import artifact
from stream.registry.registry import Registry
from stream.settings import Settings
from stream.training.datasets import load_dataset
from stream.training.trainer import train
from stream.transport.topics import ensure_topics

MODEL = "phishing"


class Receiver(LoopbackReceiver):
    """``/ok`` answers 204 and notes when each record arrived; ``/hang`` holds the request open."""

    def __init__(self):
        super().__init__(self._answer)
        self.arrived: dict[str, float] = {}
        self.release = threading.Event()
        self.start()

    def _answer(self, path: str, headers: dict, body: bytes) -> tuple[int, dict]:
        if path == "/hang":
            self.release.wait(60)
        else:
            self.arrived.setdefault(json.loads(body)["data"]["id"], time.time())
        return 204, {}

    def stop(self) -> None:
        self.release.set()
        super().stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=60_000, help="backlog scored by each worker")
    parser.add_argument("--pairs", type=int, default=2, help="pairs of runs (healthy endpoint only, then with a hanging one)")
    args = parser.parse_args()

    state = state_folder("driftline-bench-alerts-")
    base = Settings.from_env({}, broker=f"kafka://127.0.0.1:{free_port()}", redis_url=f"redis://127.0.0.1:{free_port()}/0",
                             web_port=free_port(), state_dir=str(state), signing_key="bench", deploy_policy="off")
    receiver = Receiver()
    secret = new_secret()
    results: dict[str, list[tuple[float, list[float]]]] = {"healthy only": [], "healthy + hanging": []}
    with EmbeddedStack(base, log=lambda m: None):
        data = load_dataset("phishing")
        trained = train(data, "logreg", MODEL)
        Registry.from_url(base.redis_url).register(artifact.dumps(trained, b"bench"), trained.metadata, alias="champion")
        print(f"{args.events:,} events per run; a deployment record every 50 ms on drift-events", flush=True)

        def run(tag: str, hanging: bool) -> tuple[float, list[float]]:
            endpoints = [{"name": "healthy", "url": receiver.url("/ok"), "secret": secret}]
            if hanging:
                endpoints.append({"name": "hanging", "url": receiver.url("/hang"), "secret": secret, "timeout": 30})
            alerts_file = state / f"alerts-{tag}.json"
            alerts_file.write_text(json.dumps({"endpoints": endpoints}))
            settings = Settings.from_env(base.to_env(), topic_prefix=f"{tag}-", app_id=f"bench-{tag}", alerts_file=str(alerts_file))
            ensure_topics(settings)
            replay(settings, data.rows, None, MODEL, limit=args.events, run_id="tp")
            watcher = OutputWatcher(settings, "tp-")
            worker = WorkerProcess(settings, state / f"worker-{tag}.log").start()
            stop = threading.Event()
            sent: dict[str, float] = {}

            def records():
                producer = make_producer(settings)
                i = 0
                while not stop.is_set():
                    record_id = f"{tag}:{i}:deployed"
                    sent[record_id] = time.time()
                    record = {"model": MODEL, "version": 1, "kind": "deployed", "ts": sent[record_id], "id": record_id,
                              "from_version": 1, "to_version": 2, "reason": "benchmark"}
                    producer.send(settings.topic("drift-events"), key=MODEL.encode(), value=json.dumps(record).encode())
                    i += 1
                    time.sleep(0.05)
                producer.close()

            try:
                worker.wait_ready(timeout=180)
                thread = threading.Thread(target=records, daemon=True)
                thread.start()
                assert watcher.wait_for(args.events, 600), f"{tag}: {watcher.total} of {args.events} scored"
                stamps = [p["ts_scored"] for p in watcher.predictions.values()]
                rate = len(stamps) / (max(stamps) - min(stamps))
                stop.set()
                thread.join()
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and not set(sent) <= set(receiver.arrived):
                    time.sleep(0.2)
            finally:
                stop.set()
                watcher.close()
                worker.stop()
            waits = sorted(receiver.arrived[r] - sent[r] for r in sent if r in receiver.arrived)
            missing = len(sent) - len(waits)
            print(f"{tag}: {'healthy + hanging' if hanging else 'healthy only'}: {rate:,.0f} events/s; healthy endpoint got "
                  f"{len(waits)} of {len(sent)} alerts, wait p50 {percentile(waits, 0.5) * 1000:.0f} ms, "
                  f"p99 {percentile(waits, 0.99) * 1000:.0f} ms" + (f" ({missing} not yet)" if missing else ""), flush=True)
            return rate, waits

        for pair in range(args.pairs):
            results["healthy only"].append(run(f"a{pair}", False))
            results["healthy + hanging"].append(run(f"b{pair}", True))
    receiver.stop()

    print()
    print("| alerts file | events/s (mean) | healthy endpoint's wait p50 / p99 |")
    print("|---|---|---|")
    means = {}
    for name, runs in results.items():
        means[name] = sum(r for r, _ in runs) / len(runs)
        waits = sorted(w for _, ws in runs for w in ws)
        print(f"| {name} | {means[name]:,.0f} | {percentile(waits, 0.5) * 1000:.0f} ms / {percentile(waits, 0.99) * 1000:.0f} ms |")
    print(f"| ratio with / without the hanging endpoint | {means['healthy + hanging'] / means['healthy only']:.2f} | |")
    return 0


if __name__ == "__main__":
    run(main)
