"""Memory soak: one worker scores 1,000,000 events with labels flowing and predictions expiring,
and its resident memory is sampled every 10 s. The promise: flat within ±10% once warm.

The stream is paced (``--rate``); 70% of the events get a label ``--label-delay`` events later
(learned: the label join, ``training``, the learner and its snapshots run all along), the other
30% never do, so their remembered predictions expire after ``--pending-ttl`` seconds (the pending
store's expiry and accounting run all along). Drift monitoring is on (the default). The table
gives, per sample: seconds, events sent, predictions made (from ``/metrics``), examples learned,
the worker's RSS, the group's pending predictions, the CPU of the worker and the broker, and the
worker's fetch wait (``stream/transport/fetchwait.py``: it grows while the embedded broker answers
fetches without the records it has). "Warm" is every sample after the first
``--warmup`` share of the events; the verdict compares the largest warm sample with the first.

    python benchmarks/soak.py [--events 1000000] [--rate 3000] [--label-delay 500] [--pending-ttl 60]
                              [--malloc-mmap-threshold-kib 128]

Starts its own embedded broker and Redis on free ports and stops them at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
import urllib.request
from pathlib import Path

from common import free_port, run, state_folder

from stream.dev.devstack import EmbeddedStack
from stream.dev.replay import make_producer
from stream.dev.workerproc import WorkerProcess
from stream.model import artifact
from stream.registry.registry import Registry
from stream.settings import Settings
from stream.training.datasets import load_dataset
from stream.training.trainer import train
from stream.transport.topics import ensure_topics

MODEL = "soak"
SAMPLE_SECONDS = 10.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def broker_pid(port: int) -> int | None:
    """The embedded broker's process (the one listening on ``port``)."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "tansu" in cmdline and f":{port}" in cmdline:
                return int(proc.name)
    return None


def metric(url: str, name: str) -> float:
    """The sum of a metric's samples in the worker's /metrics text."""
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return float("nan")
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#") and (line[len(name)] in "{ "))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=3_000.0)
    parser.add_argument("--label-delay", type=int, default=500)
    parser.add_argument("--labelled", type=float, default=0.7, help="share of the events that get a label")
    parser.add_argument("--pending-ttl", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=0.2, help="share of the events before the samples count")
    parser.add_argument("--malloc-mmap-threshold-kib", type=int, default=None,
                        help="the worker's DRIFTLINE_MALLOC_MMAP_THRESHOLD_KIB (default: the setting's; 0: glibc's own, for comparison)")
    args = parser.parse_args()

    state = state_folder("driftline-soak-")
    settings = Settings.from_env({}, broker=f"kafka://127.0.0.1:{free_port()}", redis_url=f"redis://127.0.0.1:{free_port()}/0",
                                 web_port=free_port(), state_dir=str(state), signing_key="soak",
                                 pending_ttl_seconds=args.pending_ttl, topic_prefix="soak-", app_id="driftline-soak",
                                 **({} if args.malloc_mmap_threshold_kib is None
                                    else {"malloc_mmap_threshold_kib": args.malloc_mmap_threshold_kib}))
    samples: list[dict] = []
    sent = [0]
    with EmbeddedStack(settings, log=lambda m: None):
        ensure_topics(settings)
        data = load_dataset("phishing")
        trained = train(data, "logreg", MODEL)
        registry = Registry.from_url(settings.redis_url)
        registry.register(artifact.dumps(trained, b"soak"), trained.metadata, alias="champion")
        import redis

        redis_client = redis.Redis.from_url(settings.redis_url)
        worker = WorkerProcess(settings, state / "worker.log").start()
        try:
            worker.wait_ready(240, models=[MODEL])
            pid = worker.process.pid
            broker = broker_pid(int(settings.broker_servers[0].rsplit(":", 1)[1]))
            cpu_before = {"at": time.monotonic(), "worker": cpu_seconds(pid), "broker": cpu_seconds(broker) if broker else 0.0}
            started = time.monotonic()
            stop = threading.Event()

            def sample() -> None:
                info = registry.snapshot_info(MODEL) or {}
                health = worker.health() or {}
                pending = health.get("pending") or {}
                fetch_wait = ((health.get("consumer") or {}).get("fetch_wait") or {})
                expired = redis_client.hget(f"driftline:{settings.app_id}:pending:stats", "expired")
                now = {"at": time.monotonic(), "worker": cpu_seconds(pid), "broker": cpu_seconds(broker) if broker else 0.0}
                span = now["at"] - cpu_before["at"]
                busy = {k: (now[k] - cpu_before[k]) / span if span > 1.0 and (k == "worker" or broker) else float("nan")
                        for k in ("worker", "broker")}  # nan: no interval yet, or no broker found
                cpu_before.update(now)
                samples.append({"worker_cpu": busy["worker"], "broker_cpu": busy["broker"], "t": now["at"] - started, "sent": sent[0],
                                "predictions": metric(worker.url, "driftline_predictions_total"),
                                "learned": info.get("n_learned", 0), "rss": rss_mib(pid), "open": pending.get("open"),
                                "fetch_wait": fetch_wait.get("ms"), "starved": fetch_wait.get("starved_fetches"),
                                "expired": int(expired or 0)})
                s = samples[-1]
                print(f"{s['t']:6.0f} s  sent {s['sent']:>9,}  predictions {s['predictions']:>11,.0f}  learned {s['learned']:>9,}  "
                      f"RSS {s['rss']:7.1f} MiB  pending {s['open']}  expired {s['expired']}  "
                      f"CPU worker {s['worker_cpu']:.0%} broker {s['broker_cpu']:.0%}  fetch wait {s['fetch_wait']} ms "
                      f"(starved fetches {s['starved']})", flush=True)

            def sampler() -> None:
                while not stop.wait(SAMPLE_SECONDS):
                    sample()

            thread = threading.Thread(target=sampler, daemon=True)
            sample()
            thread.start()
            producer = make_producer(settings)
            events, labels = settings.topic("events"), settings.topic("labels")
            rows, targets = data.rows, data.targets
            for i in range(args.events):
                event_id = f"s-{i}"
                producer.send(events, key=event_id.encode(), value=json.dumps(
                    {"id": event_id, "model": MODEL, "features": rows[i % len(rows)], "ts": time.time()}).encode())
                j = i - args.label_delay
                if j >= 0 and (j % 10) < round(args.labelled * 10):
                    producer.send(labels, key=f"s-{j}".encode(), value=json.dumps(
                        {"id": f"s-{j}", "model": MODEL, "label": targets[j % len(targets)]}).encode())
                sent[0] = i + 1
                ahead = (i + 1) / args.rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            producer.flush()
            producer.close()
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and metric(worker.url, "driftline_predictions_total") < args.events:
                time.sleep(2)
            stop.set()
            thread.join()
            sample()
        finally:
            worker.stop()

    warm = [s for s in samples if s["sent"] >= args.warmup * args.events]
    first, high = warm[0]["rss"], max(s["rss"] for s in warm)
    print()
    print(f"{args.events:,} events at {args.rate:,.0f}/s, {args.labelled:.0%} labelled {args.label_delay} events behind, "
          f"predictions without a label expire after {args.pending_ttl:.0f} s; mmap threshold {settings.malloc_mmap_threshold_kib} KiB "
          f"(0: glibc's own); load average at the end {os.getloadavg()[0]:.2f}")
    print("| seconds | events sent | predictions | behind | examples learned | worker RSS (MiB) | pending | expired | worker CPU | broker CPU "
          "| fetch wait (ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for s in samples:
        print(f"| {s['t']:.0f} | {s['sent']:,} | {s['predictions']:,.0f} | {s['sent'] - s['predictions']:,.0f} | {s['learned']:,} | "
              f"{s['rss']:.1f} | {s['open']} | {s['expired']} | {s['worker_cpu']:.0%} | {s['broker_cpu']:.0%} | {s['fetch_wait']} |")
    growth = high / first - 1
    print()
    print(f"warm samples (after {args.warmup:.0%} of the events): RSS {first:.1f} MiB at first, at most {high:.1f} MiB "
          f"({growth:+.1%}) -> {'FLAT' if growth <= 0.10 else 'NOT FLAT'} (bound +10%)")
    scored = samples[-1]["predictions"]
    print(f"scored {scored:,.0f} of {args.events:,} events -> {'ALL' if scored >= args.events else 'NOT ALL (stalled or too slow)'}")
    return 0 if growth <= 0.10 and scored >= args.events else 1


if __name__ == "__main__":
    run(main)
