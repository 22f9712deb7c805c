"""``driftline demo``: the whole online-prediction path on the embedded stack, start to finish.

Starts the broker and Redis (unless already running), trains a logistic regression on River's
Phishing data set, deploys it as champion, starts a worker, streams events through Kafka with a
few malformed ones mixed in, and shows predictions and dead letters as they arrive. Then a second
model meets a concept change with delayed labels, and the demo prints the continuous-deployment
loop as it happens (:mod:`stream.dev.redeploy_demo`): drift detected, retrain, the test in
shadow, the promotion, the version the predictions switch to, while a webhook receiver of the
demo's own on loopback prints each signed alert as it arrives. On the way out (normal end, error
or Ctrl-C) it stops everything it started.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import sys
import threading
import time
from collections import Counter

from stream.errors import DriftlineError
from stream.settings import Settings

MODEL = "phishing"

def malformed_events(good: dict) -> list[bytes]:
    """One of each kind of bad input: the worker must dead-letter each with its reason and keep scoring."""
    def event(event_id, **changes) -> bytes:
        body = {"id": event_id, "model": MODEL, "features": dict(good, **changes)}
        return json.dumps(body).encode()

    return [
        b"this is not JSON",
        b'["an", "array"]',
        json.dumps({"model": MODEL, "features": good}).encode(),
        json.dumps({"id": "no-such-model", "model": "nobody", "features": good}).encode(),
        json.dumps({"id": "missing", "model": MODEL, "features": {"https": 1.0}}).encode(),
        event("text", https="high"),
        event("nan", https=float("nan")),  # Python writes the NaN literal, which JSON parsers accept
    ]


def demo_key(state_path) -> str:
    """The demo's signing key, made once and kept in the state directory (readable by its owner
    only): the registry outlives a run, and its artifacts must still verify in the next one."""
    path = state_path / "demo" / "signing-key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.touch(mode=0o600)
    path.write_text(key)
    return key


def start_receiver(out, earlier: frozenset = frozenset()):
    from stream.alerts.config import new_secret

    from .webhook_receiver import DemoReceiver

    return DemoReceiver(new_secret(), out, earlier).start()


def registered_versions(registry) -> frozenset:
    """Every (model, version) the registry holds: before a run, those of earlier runs."""
    return frozenset((name, int(record["version"])) for name in registry.models() for record in registry.versions(name))


def wait_for_alerts(receiver, kinds: tuple[str, ...], out, timeout: float = 30.0) -> None:
    """The alerts of the second act reach the receiver within moments of their records."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not set(kinds) <= {a["type"] for a in receiver.received}:
        time.sleep(0.2)
    got = sorted({a["type"] for a in receiver.received})
    out(f"alerts received by the webhook, signatures verified: {len(receiver.received)} ({', '.join(got) or 'none'})"
        + (f"; {receiver.rejected} rejected" if receiver.rejected else ""))


def run_demo(settings: Settings, n_events: int = 20_000, rate: float = 2_000.0, keep: bool = False, out=print,
             redeploy: bool = True) -> int:
    from stream.model import artifact
    from stream.registry.registry import Registry
    from stream.training.datasets import load_dataset
    from stream.training.trainer import train
    from stream.transport.topics import ensure_topics

    from .devstack import EmbeddedStack
    from .outputs import OutputWatcher, percentile
    from .replay import make_producer, new_run_id, replay
    from .workerproc import WorkerProcess

    if not settings.signing_key:
        settings = dataclasses.replace(settings, signing_key=demo_key(settings.state_path))
        out(f"DRIFTLINE_SIGNING_KEY is not set: signing with the demo's own key ({settings.state_path / 'demo' / 'signing-key'})")
    stack = EmbeddedStack(settings, log=out)
    started_stack = not all(s.answering for s in stack.status())
    worker = receiver = None
    try:
        stack.up()
        ensure_topics(settings)

        out("\n== 1. train and export")
        data = load_dataset("phishing")
        trained = train(data, "logreg", MODEL)
        path = settings.state_path / "demo" / f"{MODEL}.dla"
        path.parent.mkdir(parents=True, exist_ok=True)
        size = artifact.write(path, trained, settings.signing_key_bytes())
        metrics = trained.metadata["metrics"]["holdout"]
        out(f"logreg on Phishing ({len(data.rows):,} rows): hold-out " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
        out(f"artifact {path} ({size:,} bytes, signed)")

        out("\n== 2. deploy")
        registry = Registry.from_url(settings.redis_url)
        earlier = registered_versions(registry)
        version = registry.register(path.read_bytes(), trained.metadata, alias="champion", reason="driftline demo")
        out(f"{MODEL} version {version} is champion")

        out("\n== 3. start a worker (joining the consumer group takes ~10 s on the embedded broker)")
        # Alerts go to a receiver of the demo's own on loopback, which checks their signatures.
        alerts_file = settings.alerts_file
        if not alerts_file:  # the user's own alerts file wins
            receiver = start_receiver(out, earlier)
            demo_file = settings.state_path / "demo" / "alerts.json"
            demo_file.write_text(json.dumps({"cooldown_seconds": 600, "endpoints": [
                {"name": "demo", "url": receiver.url("/driftline"), "secret": receiver.secret, "retry_schedule": [0, 1, 5, 30]}]}))
            demo_file.chmod(0o600)  # it holds the endpoint's secret
            alerts_file = str(demo_file)
            out(f"alerts: a webhook receiver on {receiver.url('/driftline')}, registered as endpoint 'demo' in {demo_file}")
        # The second act's retrain tries a forest too, and waits for 1,000 labeled examples after the drift.
        worker_settings = dataclasses.replace(settings, retrain_specs=settings.retrain_specs or "hoeffding-tree,arf",
                                              retrain_min_examples=min(settings.retrain_min_examples, 1000),
                                              alerts_file=alerts_file)
        worker = WorkerProcess(worker_settings, settings.state_path / "logs" / "worker.log").start()
        health = worker.wait_ready(timeout=180, models=[MODEL])
        out(f"worker ready at {worker.url}: models {list(health['models'])}, {len(health['assigned_partitions'])} topic partitions assigned (every topic's)")
        out(f"dashboard: {worker.url}/  (Prometheus metrics: {worker.url}/metrics; API: {worker.url}/api/openapi.json)")

        malformed = malformed_events(data.rows[0])
        out(f"\n== 4. stream {n_events:,} events at {rate:,.0f}/s, with {len(malformed)} malformed ones")
        run_id = new_run_id()
        watcher = OutputWatcher(settings, run_id)
        producer = make_producer(settings)
        for i, raw in enumerate(malformed):
            producer.send(settings.topic("events"), key=f"{run_id}-bad-{i}".encode(), value=raw)
        sender = threading.Thread(
            target=replay,
            args=(settings, data.rows, data.targets, MODEL),
            kwargs=dict(rate=rate, limit=n_events, run_id=run_id, producer=producer),
            daemon=True,
        )
        sender.start()
        expected = n_events + len(malformed)
        samples_shown = 0
        last_line, last_total = 0.0, 0

        def report(w: OutputWatcher) -> None:
            nonlocal samples_shown, last_line, last_total
            for record in list(w.predictions.values())[samples_shown:3]:
                out(f"  sample prediction: {record}")
                samples_shown += 1
            now = time.monotonic()
            if now - last_line >= 1.0:
                rate_now = (w.total - last_total) / (now - last_line) if last_line else 0.0
                last_line, last_total = now, w.total
                out(f"  predictions {len(w.predictions):>7,}  dead letters {len(w.deadletters):>3}  ({rate_now:,.0f} outputs/s)")

        complete = watcher.wait_for(expected, timeout=60 + 2 * n_events / rate, on_poll=report)
        sender.join(timeout=5)
        producer.close()

        out("\n== 5. result")
        lat = watcher.latencies()
        out(f"events sent {expected:,}; predictions {len(watcher.predictions):,}; dead letters {len(watcher.deadletters)}; duplicates {watcher.duplicates}")
        for reason, count in sorted(watcher.reasons().items()):
            detail = next(d["detail"] for d in watcher.deadletters.values() if d["reason"] == reason)
            out(f"  dead letter {reason:16} x{count}: {detail}")
        if lat:
            out(f"latency event -> prediction: p50 {percentile(lat, 0.5) * 1000:.0f} ms, p99 {percentile(lat, 0.99) * 1000:.0f} ms")
        answers = Counter(str(p["prediction"]) for p in watcher.predictions.values())
        out(f"predicted classes: {dict(answers)}")
        watcher.close()
        if not complete:
            out(f"INCOMPLETE: {expected - watcher.total:,} events have no output yet; worker log: {worker.log_path}")
            return 1
        out("every event became a prediction or a dead letter.")
        if redeploy:
            from .redeploy_demo import run_redeploy_demo

            out("\n== 6. a concept change: detect, retrain, prove in shadow, promote (and alert)")
            if not run_redeploy_demo(settings, out):
                return 1
            if receiver is not None:
                wait_for_alerts(receiver, ("concept_drift", "deployed"), out)
        return 0
    except KeyboardInterrupt:
        out("\ninterrupted")
        return 130
    except DriftlineError as exc:
        out(f"error: {exc}")
        return 1
    finally:
        if receiver is not None and not keep:
            receiver.stop()
        if keep:
            out(f"\nleft running (--keep): the dashboard at {worker.url + '/' if worker else '-'}; stop with: "
                + (f"kill {worker.process.pid}; " if worker else "") + "driftline dev down")
        else:
            if worker is not None:
                worker.stop()
            if started_stack:
                stack.down()
            out("\nstopped everything the demo started.")
        sys.stdout.flush()
