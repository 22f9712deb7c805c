"""Throughput of the score path: the Faust worker against a plain aiokafka loop, side by side.

Both do the same work per event (consume, parse, validate against the schema, predict with the
same River model, JSON-encode, produce, remember the prediction in Redis for its label) through
the same ``Scorer``, the same batch sink (``stream.transport.producer.send_keyed``) and the same
``PendingStore``, so the ratio is what the Faust machinery costs. Each reads a backlog of N
events pre-produced to its own topics, so the ~30 s the worker needs to join its consumer group
is not counted; the rate is N divided by the span of ``ts_scored`` stamps on the outputs. Events
per CPU-second (the worker process's, the reference loop's own) are printed too: other processes
take wall-clock time from a run on a shared 2-core machine, not CPU time. The reference runs
before and after the worker; the ratio uses the mean. Then the worker gets a paced stream for the
latency figures (event timestamp to scoring), and so does the reference loop, between two such
runs of the worker, in a process of its own with the same fetch wait, at the same rate: what the
producer, the broker and the fetch wait cost without the worker, so that the difference is the
worker's share. Last, the same worker reads a second backlog whose labels flow on ``labels``
``--label-delay`` events behind their events, so the label join, the ``training`` topic and the
learner share the process with scoring: events per second with and without labels flowing (per CPU-second, the worker's CPU from
before the first labelled event to the snapshot that holds the last example, so that the learning
after the last prediction counts too). The same stream without labels, produced while the worker
runs and counted the same way, gives the like-for-like base of that ratio.

The worker runs with drift monitoring on (the default: a summary of every scored batch goes to
``monitoring``, and the worker's monitor merges them into windows); a worker with
``DRIFTLINE_MONITORING=false`` reads the same backlog on topics of its own, before and after it,
for the cost of monitoring (the ratio uses the means; ``--monitoring-pairs N`` adds N more runs
of a fresh worker with it on, then off, before the main one).

    python benchmarks/throughput.py [--events 100000] [--rate HALF_THE_MAX] [--seconds 10] [--label-delay 200] [--monitoring-pairs 0]

Starts its own embedded broker and Redis on free ports and stops them at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from common import free_port, run, state_folder

from stream.dev.devstack import EmbeddedStack
from stream.dev.outputs import OutputWatcher, percentile
from stream.dev.replay import replay
from stream.dev.workerproc import WorkerProcess
from stream.learning.pending import PendingStore
from stream.model import artifact
from stream.model.predictor import Predictor
from stream.registry.redis_client import async_redis_client
from stream.registry.registry import Registry
from stream.serving.scoring import Message, Scorer
from stream.settings import Settings
from stream.training.datasets import load_dataset
from stream.training.trainer import train
from stream.transport.producer import BATCH_BYTES, send_keyed
from stream.transport.topics import ensure_topics

MODEL = "bench-phishing"



def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class WorkerCpu:
    """Events per CPU-second of the worker (of all of them, for several): from the first output
    seen to the last (robust to other processes taking wall-clock time, which a 2-core machine
    shares with the broker)."""

    def __init__(self, *pids: int):
        self.pids, self.start = pids, None

    def cpu(self) -> float:
        return sum(process_cpu_seconds(pid) for pid in self.pids)

    def on_poll(self, watcher: OutputWatcher) -> None:
        if self.start is None and watcher.total:
            self.start = (self.cpu(), watcher.total)

    def rate(self, watcher: OutputWatcher) -> float:
        cpu, done = self.start
        return (watcher.total - done) / max(1e-9, self.cpu() - cpu)


def scored_rate(watcher: OutputWatcher) -> float:
    stamps = [p["ts_scored"] for p in watcher.predictions.values()]
    return len(stamps) / (max(stamps) - min(stamps)) if len(stamps) > 1 else float("nan")


class StaticCache:
    """The one model, loaded once: what ModelCache holds after its first refresh."""

    def __init__(self, predictor: Predictor):
        self.predictors, self.known, self.load_errors = {predictor.name: predictor}, {predictor.name: predictor.version}, {}


async def plain_aiokafka_loop(settings: Settings, predictor: Predictor, n_events: int, batch: int,
                              group_id: str = "bench-reference", offset_reset: str = "earliest") -> None:
    scorer = Scorer(StaticCache(predictor), max_event_bytes=settings.max_event_bytes)
    # The worker's fetch wait too: the embedded broker holds a fetch close to its full wait (aiokafka's
    # default is 500 ms), which would count against the reference's latency, not its throughput.
    consumer = AIOKafkaConsumer(
        settings.topic("events"), bootstrap_servers=settings.broker_servers, group_id=group_id,
        auto_offset_reset=offset_reset, enable_auto_commit=False, max_poll_records=batch,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )
    # The worker's producer settings (5 ms linger, BATCH_BYTES per record batch), so the work is the same.
    producer = AIOKafkaProducer(bootstrap_servers=settings.broker_servers, linger_ms=5, max_batch_size=BATCH_BYTES, acks=1)
    # The worker remembers each prediction for its label; so does the reference.
    pending = PendingStore(async_redis_client(settings.redis_url, timeout=1.0), "bench-reference", settings.pending_ttl_seconds,
                           settings.pending_max, settings.label_grace_seconds)
    await consumer.start()
    await producer.start()
    done = 0
    try:
        while done < n_events:
            polled = await consumer.getmany(timeout_ms=1000, max_records=batch)
            for tp, records in polled.items():
                messages = [Message(r.key, r.value, tp.topic, tp.partition, r.offset) for r in records]
                outputs = scorer.score(messages, scorer.parse(messages))
                await asyncio.gather(
                    send_keyed(producer, settings.topic("predictions"), [(o.key, o.value) for o in outputs if o.ok]),
                    send_keyed(producer, settings.topic("deadletter"), [(o.key, o.value) for o in outputs if not o.ok]),
                    pending.remember([o.scored for o in outputs if o.scored is not None]),
                )
                await consumer.commit()
                done += len(records)
    finally:
        await consumer.stop()
        await producer.stop()
        await pending.redis.aclose()


def paced_latencies(settings: Settings, rows: list, rate: float, seconds: float, run_id: str = "lat") -> list[float]:
    """Stream ``rate`` events a second for ``seconds`` into ``settings``' topics and return each
    one's time from its timestamp to its scoring, sorted (only this run's outputs are read)."""
    paced = int(rate * seconds)
    watcher = OutputWatcher(settings, f"{run_id}-", from_now=True)
    try:
        replay(settings, rows, None, MODEL, limit=paced, rate=rate, run_id=run_id)
        assert watcher.wait_for(paced, 120), f"latency run {run_id} produced {watcher.total} of {paced}"
        return watcher.latencies()
    finally:
        watcher.close()


def _reference_for_latency(settings: Settings, blob: bytes, version: int, batch: int) -> None:
    """The reference loop in a process of its own (as the worker is), from the end of its topics on,
    until it is terminated."""
    predictor = Predictor.from_artifact(artifact.loads(blob, b"bench"), version=version)
    asyncio.run(plain_aiokafka_loop(settings, predictor, 10**12, batch, group_id="bench-reference-latency",
                                    offset_reset="latest"))


def reference_latency(settings: Settings, blob: bytes, version: int, batch: int, rows: list, rate: float,
                      seconds: float) -> list[float]:
    """Latencies (event timestamp to scoring, sorted) of the reference loop paced at ``rate``: the same
    producer, broker and fetch wait as the worker's latency run, so what the worker adds to them is
    the difference. Its topics already hold a consumed backlog, as the worker's do (the embedded
    broker's fetches slow down with the batches a partition holds)."""
    process = multiprocessing.get_context("spawn").Process(
        target=_reference_for_latency, args=(settings, blob, version, batch), daemon=True)
    process.start()
    try:
        # Warm up until it answers: its consumer joins its group and starts from the end, so events
        # sent before it has its partitions are never read.
        watcher = OutputWatcher(settings, "latwarm", from_now=True)
        deadline = time.monotonic() + 120
        sent = 0
        while watcher.total == 0:
            if time.monotonic() > deadline or not process.is_alive():
                raise RuntimeError("the reference loop did not start scoring within 120 s")
            replay(settings, rows, None, MODEL, limit=2 * settings.partitions, run_id=f"latwarm{sent}")  # every partition
            sent += 1
            watcher.wait_for(1, 2.0)
        watcher.close()
        return paced_latencies(settings, rows, rate, seconds)
    finally:
        process.terminate()
        process.join(10)


def fetch_wait_reached(process: WorkerProcess) -> str:
    """The highest fetch wait the worker's consumer used and how many fetches the broker starved
    (``stream/transport/fetchwait.py``), from its /health."""
    wait = (((process.health(timeout=10) or {}).get("consumer") or {}).get("fetch_wait")) or {}
    if not wait:
        return "unknown"
    return f"{wait['highest_ms']} ms ({wait['starved_fetches']} starved of {wait['fetches']:,} fetches)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="backlog size for the throughput runs")
    parser.add_argument("--rate", type=float, default=None,
                        help="paced rate for the latency run (events/s; default: half the worker's rate measured in this run)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the latency run")
    parser.add_argument("--batch", type=int, default=500, help="batch size for both")
    parser.add_argument("--label-delay", type=int, default=200, help="events between an event and its label")
    parser.add_argument("--loop-pairs", type=int, default=0,
                        help="only compare event loops: this many pairs of fresh workers, asyncio then uvloop (monitoring on)")
    parser.add_argument("--malloc-pairs", type=int, default=0,
                        help="only compare the worker's mmap threshold: this many rounds of fresh workers, one per --malloc-kib value")
    parser.add_argument("--malloc-kib", default="0,128", help="the thresholds --malloc-pairs compares, in KiB (0: glibc's own)")
    parser.add_argument("--monitoring-pairs", type=int, default=0,
                        help="extra runs of a fresh worker with drift monitoring on, then off (the machine's load drifts)")
    parser.add_argument("--latency-waits", default="",
                        help="only the latency at half the maximum, for each consumer fetch wait in ms (for example "
                             "'100,20,20'): a fresh worker measures its maximum on the backlog, then is paced at half")
    args = parser.parse_args()

    load_start = os.getloadavg()[0]
    state = state_folder("driftline-bench-")
    base = Settings.from_env(
        {}, broker=f"kafka://127.0.0.1:{free_port()}", redis_url=f"redis://127.0.0.1:{free_port()}/0",
        web_port=free_port(), state_dir=str(state), signing_key="bench", batch_size=args.batch,
    )
    faust_settings = Settings.from_env(base.to_env(), topic_prefix="bench-faust-")
    worker = None
    with EmbeddedStack(base, log=lambda m: None):
        data = load_dataset("phishing")
        trained = train(data, "logreg", MODEL)
        blob = artifact.dumps(trained, b"bench")
        version = Registry.from_url(base.redis_url).register(blob, trained.metadata, alias="champion")
        predictor = Predictor.from_artifact(artifact.loads(blob, b"bench"), version=version)
        n = args.events
        print(f"model: logreg on Phishing ({len(trained.metadata['schema']['features'])} features); "
              f"{n:,} events per run, batch {args.batch}, {base.partitions} partitions", flush=True)

        ensure_topics(faust_settings)
        replay(faust_settings, data.rows, None, MODEL, limit=n, run_id="tp")

        # Reference: a plain aiokafka loop in this process, run before and after the worker (the
        # machine's load drifts; the ratio uses the mean of the two).
        def reference(run: str) -> tuple[float, float]:
            settings = Settings.from_env(base.to_env(), topic_prefix=f"bench-ref{run}-")
            ensure_topics(settings)
            replay(settings, data.rows, None, MODEL, limit=n, run_id="tp")
            watcher = OutputWatcher(settings, "tp-")
            cpu = own_cpu_seconds()
            asyncio.run(plain_aiokafka_loop(settings, predictor, n, args.batch))
            cpu = own_cpu_seconds() - cpu
            assert watcher.wait_for(n, 60), f"reference produced {watcher.total} of {n}"
            rate = scored_rate(watcher)
            watcher.close()
            print(f"plain aiokafka loop: {rate:,.0f} events/s, {n / cpu:,.0f} events per CPU-second", flush=True)
            return rate, n / cpu

        references = [reference("1")]

        # A fresh worker on topics of its own, drift monitoring on or off: off before and after the
        # main run (monitoring on), plus --monitoring-pairs more alternations of on and off.
        def fresh_worker(run: str, monitoring: bool, event_loop: str | None = None, **overrides) -> tuple[float, float]:
            tag = f"bench-{'on' if monitoring else 'off'}{run}"
            settings = Settings.from_env(base.to_env(), topic_prefix=f"{tag}-", app_id=tag, monitoring=monitoring,
                                         event_loop=event_loop or base.event_loop, **overrides)
            ensure_topics(settings)
            replay(settings, data.rows, None, MODEL, limit=n, run_id="tp")
            watcher = OutputWatcher(settings, "tp-")
            process = WorkerProcess(settings, state / f"worker-{tag}.log").start()
            try:
                cpu = WorkerCpu(process.process.pid)
                process.wait_ready(timeout=180)
                assert watcher.wait_for(n, 600, on_poll=cpu.on_poll), f"worker ({tag}) produced {watcher.total} of {n}"
                rate, cpu_rate = scored_rate(watcher), cpu.rate(watcher)
            finally:
                watcher.close()
                process.stop()
            print(f"driftline worker ({settings.event_loop}), monitoring {'on' if monitoring else 'off'}: {rate:,.0f} events/s, "
                  f"{cpu_rate:,.0f} events per CPU-second", flush=True)
            return rate, cpu_rate

        if args.latency_waits:
            rows = []
            for i, pair in enumerate(args.latency_waits.split(",")):
                fetch_ms = pair.split("/")[0]  # FETCH_MS/BATCH_TIMEOUT as before: no agent has a batch timeout any more
                tag = f"bench-lat{i}"
                settings = Settings.from_env(base.to_env(), topic_prefix=f"{tag}-", app_id=tag, fetch_max_wait_ms=int(fetch_ms))
                ensure_topics(settings)
                replay(settings, data.rows, None, MODEL, limit=n, run_id="tp")
                watcher = OutputWatcher(settings, "tp-")
                process = WorkerProcess(settings, state / f"worker-{tag}.log").start()
                try:
                    process.wait_ready(timeout=180)
                    assert watcher.wait_for(n, 600), f"worker ({tag}) produced {watcher.total} of {n}"
                    maximum = scored_rate(watcher)
                    latencies = paced_latencies(settings, data.rows, maximum / 2, args.seconds)
                    grown = fetch_wait_reached(process)
                finally:
                    watcher.close()
                    process.stop()
                rows.append((fetch_ms, maximum, percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000, grown))
                print(f"fetch wait {fetch_ms} ms: maximum {maximum:,.0f} events/s; at half: "
                      f"p50 {rows[-1][2]:.0f} ms, p99 {rows[-1][3]:.0f} ms; fetch wait reached {grown}", flush=True)
            print()
            print("| fetch wait (ms) | maximum (events/s) | p50 at half (ms) | p99 at half (ms) | fetch wait reached |")
            print("|---|---|---|---|---|")
            for fetch_ms, maximum, p50, p99, grown in rows:
                print(f"| {fetch_ms} | {maximum:,.0f} | {p50:.0f} | {p99:.0f} | {grown} |")
            return 0

        if args.loop_pairs:
            loops = {"asyncio": [], "uvloop": []}
            for pair in range(args.loop_pairs):
                for name in loops:
                    loops[name].append(fresh_worker(f"{name}{pair}", True, event_loop=name))
            references.append(reference("2"))
            print()
            print("| worker event loop | events/s | events per CPU-second |")
            print("|---|---|---|")
            for name, runs in loops.items():
                print(f"| {name} (mean of {len(runs)}) | {sum(r for r, _ in runs) / len(runs):,.0f} | {sum(c for _, c in runs) / len(runs):,.0f} |")
            print(f"| ratio uvloop / asyncio | {sum(r for r, _ in loops['uvloop']) / sum(r for r, _ in loops['asyncio']):.2f} | "
                  f"{sum(c for _, c in loops['uvloop']) / sum(c for _, c in loops['asyncio']):.2f} |")
            ref_rate = sum(r for r, _ in references) / len(references)
            ref_cpu = sum(c for _, c in references) / len(references)
            for name, runs in loops.items():
                print(f"| {name} / plain aiokafka loop | {sum(r for r, _ in runs) / len(runs) / ref_rate:.2f} | "
                      f"{sum(c for _, c in runs) / len(runs) / ref_cpu:.2f} |")
            return 0
        if args.malloc_pairs:
            thresholds = {int(kib): [] for kib in args.malloc_kib.split(",")}  # 0: glibc's own, rising threshold
            for pair in range(args.malloc_pairs):
                for kib in thresholds:
                    thresholds[kib].append(fresh_worker(f"mmap{kib}-{pair}", True, malloc_mmap_threshold_kib=kib))
            first = next(iter(thresholds))
            print()
            print(f"| worker's mmap threshold (KiB) | events/s | events per CPU-second | ratio to {first or 'glibc default'}, events/s | per CPU-second |")
            print("|---|---|---|---|---|")
            for kib, runs in thresholds.items():
                rate, cpu = (sum(run[i] for run in runs) / len(runs) for i in (0, 1))
                first_rate, first_cpu = (sum(run[i] for run in thresholds[first]) / len(runs) for i in (0, 1))
                print(f"| {kib or 'glibc default'} (mean of {len(runs)}) | {rate:,.0f} | {cpu:,.0f} | {rate / first_rate:.2f} | {cpu / first_cpu:.2f} |")
            return 0
        unmonitored, monitored = [fresh_worker("1", False)], []
        # Before the labelled run below: its learning moves the model's predictions away from the
        # baseline (prediction drift, reports), which is not the score path's cost.
        for pair in range(args.monitoring_pairs):
            monitored.append(fresh_worker(str(pair + 3), True))
            unmonitored.append(fresh_worker(str(pair + 3), False))

        # Driftline: a worker process.
        watcher = OutputWatcher(faust_settings, "tp-")
        try:
            worker = WorkerProcess(faust_settings, state / "worker.log").start()
            cpu = WorkerCpu(worker.process.pid)
            worker.wait_ready(timeout=180)
            assert watcher.wait_for(n, 600, on_poll=cpu.on_poll), f"worker produced {watcher.total} of {n}"
            worker_rate, worker_cpu_rate = scored_rate(watcher), cpu.rate(watcher)
            watcher.close()
            print(f"driftline worker:    {worker_rate:,.0f} events/s, {worker_cpu_rate:,.0f} events per CPU-second", flush=True)
            monitored.append((worker_rate, worker_cpu_rate))
            monitoring = (worker.health() or {}).get("monitoring") or {}
            score_path, monitor = monitoring.get("score_path") or {}, monitoring.get("monitor") or {}
            spent = score_path.get("seconds", 0.0) + monitor.get("seconds", 0.0)
            print(f"  monitoring on: {score_path.get('summaries_sent', 0):,} summaries, {monitor.get('windows_closed', 0)} windows "
                  f"closed, {monitor.get('drift_records', 0)} drift records; building summaries {score_path.get('seconds', 0.0):.2f} CPU-s "
                  f"and merging them {monitor.get('seconds', 0.0):.2f} CPU-s = {spent / (n / worker_cpu_rate):.1%} of the worker's "
                  f"{n / worker_cpu_rate:.1f} CPU-seconds", flush=True)

            latency_rate = args.rate or worker_rate / 2  # half the maximum just measured
            latencies = paced_latencies(faust_settings, data.rows, latency_rate, args.seconds)
            latency_fetch_wait = fetch_wait_reached(worker)
            # The reference loop paced the same, on topics that also hold a consumed backlog of N
            # (bench-ref1-): what the producer, the broker and the fetch wait cost without the worker.
            # Then the worker once more: the embedded broker slows down as it holds more, so the
            # reference is measured between two runs of the worker.
            reference_latencies = reference_latency(Settings.from_env(base.to_env(), topic_prefix="bench-ref1-"), blob,
                                                    version, args.batch, data.rows, latency_rate, args.seconds)
            latencies_after = paced_latencies(faust_settings, data.rows, latency_rate, args.seconds, run_id="lat2")

            # The same stream without labels, produced while the worker runs, its CPU counted the
            # same way as the labelled run's below: the like-for-like base of the labels ratio (a
            # backlog read at full speed costs less per event than a stream arriving as produced).
            watcher = OutputWatcher(faust_settings, "tps-")
            cpu_before = process_cpu_seconds(worker.process.pid)
            replay(faust_settings, data.rows, None, MODEL, limit=n, run_id="tps")
            assert watcher.wait_for(n, 600), f"worker streamed produced {watcher.total} of {n}"
            streamed_rate = scored_rate(watcher)
            streamed_cpu_rate = n / (process_cpu_seconds(worker.process.pid) - cpu_before)
            watcher.close()
            print(f"driftline worker, no labels, streamed while it runs: {streamed_rate:,.0f} events/s, "
                  f"{streamed_cpu_rate:,.0f} events per CPU-second", flush=True)

            # Learning on: a backlog with its labels flowing behind the events.
            registry = Registry.from_url(base.redis_url)
            learned_before = (registry.snapshot_info(MODEL) or {}).get("n_learned", 0)
            watcher = OutputWatcher(faust_settings, "tpl-")
            # The worker scores while the backlog is produced, and learns after its last prediction:
            # its CPU counts from before the first event to the snapshot holding the last example.
            cpu_before = process_cpu_seconds(worker.process.pid)
            replay(faust_settings, data.rows, data.targets, MODEL, limit=n, label_delay=args.label_delay, run_id="tpl")
            assert watcher.wait_for(n, 600), f"worker with labels produced {watcher.total} of {n}"
            labelled_rate = scored_rate(watcher)
            watcher.close()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                learned = (registry.snapshot_info(MODEL) or {}).get("n_learned", 0) - learned_before
                if learned >= n:
                    break
                time.sleep(0.2)
            labelled_cpu_rate = n / (process_cpu_seconds(worker.process.pid) - cpu_before)
            print(f"driftline worker, labels flowing: {labelled_rate:,.0f} events/s; {learned:,} examples learned", flush=True)
            monitoring = (worker.health() or {}).get("monitoring") or {}
            print(f"  monitoring on: {monitoring.get('monitor', {}).get('windows_closed', 0)} windows closed, "
                  f"{monitoring.get('monitor', {}).get('drift_records', 0)} drift records, "
                  f"{monitoring.get('reports', {}).get('rendered', 0)} reports rendered", flush=True)
        finally:
            if worker is not None:
                worker.stop()
        unmonitored.append(fresh_worker("2", False))
        references.append(reference("2"))

        # Scale-out: one worker, then two in one group, on a backlog of their own each; per CPU-second
        # of all the workers (a 2-core machine shows per-core efficiency, not absolute scaling).
        def worker_group(run: str, count: int) -> tuple[float, float]:
            tag = f"bench-group{run}"
            settings = Settings.from_env(base.to_env(), topic_prefix=f"{tag}-", app_id=tag)
            ensure_topics(settings)
            replay(settings, data.rows, None, MODEL, limit=n, run_id="tp")
            watcher = OutputWatcher(settings, "tp-")
            processes = [WorkerProcess(Settings.from_env(settings.to_env(), web_port=free_port()), state / f"worker-{tag}-{i}.log").start()
                         for i in range(count)]
            try:
                cpu = WorkerCpu(*(p.process.pid for p in processes))
                for process in processes:
                    process.wait_ready(timeout=180)
                assert watcher.wait_for(n, 600, on_poll=cpu.on_poll), f"{count} workers produced {watcher.total} of {n}"
                rate, cpu_rate = scored_rate(watcher), cpu.rate(watcher)
            finally:
                watcher.close()
                for process in processes:
                    process.stop()
            print(f"{count} worker(s) in one group: {rate:,.0f} events/s, {cpu_rate:,.0f} events per CPU-second", flush=True)
            return rate, cpu_rate

        scale_out = (worker_group("1", 1), worker_group("2", 2))

        # A challenger in shadow: every event is also scored by it and written to shadow-predictions.
        # Side by side with a run just before it without one.
        without_shadow = fresh_worker("5", True)
        challenger = train(data, "logreg", MODEL, seed=7)
        Registry.from_url(base.redis_url).register(artifact.dumps(challenger, b"bench"), challenger.metadata, alias="challenger")
        with_shadow = fresh_worker("6", True)

    p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
    ref_p50, ref_p99 = percentile(reference_latencies, 0.5) * 1000, percentile(reference_latencies, 0.99) * 1000
    after_p50, after_p99 = percentile(latencies_after, 0.5) * 1000, percentile(latencies_after, 0.99) * 1000
    print()
    reference_rate = sum(r for r, _ in references) / len(references)
    reference_cpu_rate = sum(c for _, c in references) / len(references)
    print("| path | events/s | events per CPU-second |")
    print("|---|---|---|")
    print(f"| plain aiokafka loop (reference; mean of a run before and after the worker's) | {reference_rate:,.0f} | {reference_cpu_rate:,.0f} |")
    print(f"| driftline worker (Faust agent), no labels, drift monitoring on | {worker_rate:,.0f} | {worker_cpu_rate:,.0f} |")
    print(f"| ratio worker / reference | {worker_rate / reference_rate:.2f} | {worker_cpu_rate / reference_cpu_rate:.2f} |")
    on_rate, on_cpu_rate = (sum(m[i] for m in monitored) / len(monitored) for i in (0, 1))
    off_rate, off_cpu_rate = (sum(m[i] for m in unmonitored) / len(unmonitored) for i in (0, 1))
    print(f"| driftline worker, drift monitoring on (mean of {len(monitored)} runs) | {on_rate:,.0f} | {on_cpu_rate:,.0f} |")
    print(f"| driftline worker, drift monitoring off (mean of {len(unmonitored)} runs, alternating with those) | {off_rate:,.0f} | {off_cpu_rate:,.0f} |")
    print(f"| ratio monitoring on / off | {on_rate / off_rate:.2f} | {on_cpu_rate / off_cpu_rate:.2f} |")
    print(f"| driftline worker, labels flowing {args.label_delay} events behind (learning on) | {labelled_rate:,.0f} | {labelled_cpu_rate:,.0f} |")
    print(f"| ratio labels flowing / no labels | {labelled_rate / worker_rate:.2f} | {labelled_cpu_rate / worker_cpu_rate:.2f} |")
    print(f"| driftline worker, no labels, the same stream produced while it runs | {streamed_rate:,.0f} | {streamed_cpu_rate:,.0f} |")
    print(f"| ratio labels flowing / no labels, both streamed | {labelled_rate / streamed_rate:.2f} | "
          f"{labelled_cpu_rate / streamed_cpu_rate:.2f} |")
    print(f"| driftline worker, a challenger in shadow | {with_shadow[0]:,.0f} | {with_shadow[1]:,.0f} |")
    print(f"| ratio with / without a challenger (the run before it, {without_shadow[0]:,.0f} events/s) | "
          f"{with_shadow[0] / without_shadow[0]:.2f} | {with_shadow[1] / without_shadow[1]:.2f} |")
    print(f"examples learned during the labelled run (from snapshots): {learned:,} of {n:,}")
    print(f"latency event -> prediction at {latency_rate:,.0f} events/s"
          f"{' (half the maximum measured above)' if args.rate is None else ''} for {args.seconds:.0f} s: "
          f"p50 {p50:.0f} ms, p99 {p99:.0f} ms (fetch wait {base.fetch_max_wait_ms} ms; "
          f"the fetch wait reached {latency_fetch_wait})")
    print(f"  then the plain aiokafka loop paced the same (same producer, broker and fetch wait): p50 {ref_p50:.0f} ms, "
          f"p99 {ref_p99:.0f} ms; then the worker again: p50 {after_p50:.0f} ms, p99 {after_p99:.0f} ms "
          f"(worker minus reference, mean of its two runs: p50 {(p50 + after_p50) / 2 - ref_p50:+.0f} ms, "
          f"p99 {(p99 + after_p99) / 2 - ref_p99:+.0f} ms)")
    one, two = scale_out
    print(f"scale-out on this machine: 1 worker {one[0]:,.0f} events/s, {one[1]:,.0f} events per CPU-second; "
          f"2 workers {two[0]:,.0f} events/s, {two[1]:,.0f} events per CPU-second (all workers' CPU; ratio {two[1] / one[1]:.2f})")
    print(f"load average (1 min) at the start {load_start:.2f}, at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    run(main)
