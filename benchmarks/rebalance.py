"""How long a rebalance holds a worker's partitions while a stream with labels flows.

    python benchmarks/rebalance.py [--rounds 2] [--events 24000] [--rate 1000] [--label-delay 200]

Per round, on a fresh embedded stack: a worker scores and learns a stream paced at ``--rate``
events a second with labels ``--label-delay`` events behind; a few seconds in, a second worker
of the same group starts, and the first one gives partitions up. Read from the first worker's
log: from "Revoking previously assigned partitions" to "(Re-)joining group" (what the worker
itself takes: Faust waits until every event it took is acknowledged, and the learner and the
drift monitor acknowledge at a snapshot or a checkpoint), and to "Executing
_on_partitions_assigned" (the whole pause, with the broker's part: Tansu holds a JoinGroup for
half the session timeout). Both workers must then stop by themselves on SIGTERM. About a minute
a round.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import free_port, run, state_folder  # noqa: E402

from stream.dev.devstack import EmbeddedStack  # noqa: E402
from stream.dev.replay import new_run_id, replay  # noqa: E402
from stream.dev.workerproc import WorkerProcess  # noqa: E402
from stream.model import artifact  # noqa: E402
from stream.registry.registry import Registry  # noqa: E402
from stream.settings import Settings  # noqa: E402
from stream.training.datasets import load_dataset  # noqa: E402
from stream.training.trainer import train  # noqa: E402
from stream.transport.topics import ensure_topics  # noqa: E402

KEY = "bench-rebalance-key"
MODEL = "rebalanced"


def log_time(line: str) -> float:
    return datetime.datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def first_revocation(log: Path) -> tuple[float, float] | None:
    """Seconds from the first revocation of held partitions to the rejoin, and to the new assignment."""
    lines = log.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        if "Revoking previously assigned partitions" in line and "set()" not in line:
            rejoin = next((m for m in lines[i:] if "(Re-)joining group" in m), None)
            assigned = next((m for m in lines[i:] if "Executing _on_partitions_assigned" in m), None)
            if rejoin is None or assigned is None:
                return None
            return log_time(rejoin) - log_time(line), log_time(assigned) - log_time(line)
    return None


def one_round(args, n: int) -> dict:
    state = state_folder("driftline-bench-rebalance-")
    settings = Settings.from_env({}, broker=f"kafka://127.0.0.1:{free_port()}", redis_url=f"redis://127.0.0.1:{free_port()}/0",
                                 state_dir=str(state), signing_key=KEY, partitions=4, deploy_policy="off")
    data = load_dataset("bananas")
    rows = (data.rows * (args.events // len(data.rows) + 1))[:args.events]
    targets = (data.targets * (args.events // len(data.targets) + 1))[:args.events]
    with EmbeddedStack(settings, log=lambda m: None):
        ensure_topics(settings)
        trained = train(load_dataset("bananas", limit=500), "logreg", MODEL, holdout=0.5)
        Registry.from_url(settings.redis_url).register(artifact.dumps(trained, KEY.encode()), trained.metadata, alias="champion")
        first = WorkerProcess(dataclasses.replace(settings, web_port=free_port()), state / "first.log").start()
        second = WorkerProcess(dataclasses.replace(settings, web_port=free_port()), state / "second.log")
        try:
            first.wait_ready(240)
            sender = threading.Thread(target=replay, args=(settings, rows, targets, MODEL),
                                      kwargs=dict(rate=args.rate, label_delay=args.label_delay, run_id=new_run_id()))
            sender.start()
            time.sleep(min(8.0, args.events / args.rate / 3))  # learning under way, snapshots pending
            second.start().wait_ready(240)
            sender.join()
        finally:
            stopped = [first.stop(), second.stop()]
    measured = first_revocation(state / "first.log")
    if measured is None:
        raise SystemExit(f"round {n}: no revocation in the first worker's log ({state / 'first.log'})")
    return {"round": n, "revoke_to_rejoin": measured[0], "revoke_to_assigned": measured[1], "stopped_by_themselves": all(stopped)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--events", type=int, default=24_000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--label-delay", type=int, default=200)
    args = parser.parse_args()
    results = []
    for n in range(1, args.rounds + 1):
        result = one_round(args, n)
        results.append(result)
        print(f"round {n}: revocation to rejoin {result['revoke_to_rejoin']:.2f} s, to the new assignment "
              f"{result['revoke_to_assigned']:.2f} s; both workers stopped by themselves: {result['stopped_by_themselves']}",
              flush=True)
    print(f"\n{args.events:,} events at {args.rate:g}/s, labels {args.label_delay} behind; a second worker joins")
    print("| round | revocation to rejoin (s) | revocation to new assignment (s) |")
    print("|---|---|---|")
    for r in results:
        print(f"| {r['round']} | {r['revoke_to_rejoin']:.2f} | {r['revoke_to_assigned']:.2f} |")
    print(f"| median | {statistics.median(r['revoke_to_rejoin'] for r in results):.2f} | "
          f"{statistics.median(r['revoke_to_assigned'] for r in results):.2f} |")
    return 0 if all(r["stopped_by_themselves"] for r in results) else 1


if __name__ == "__main__":
    run(main)
