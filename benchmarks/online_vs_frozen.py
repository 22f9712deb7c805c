"""Online learning against the same artifact kept frozen, after the concept changes.

A model is trained on one concept of a River synthetic generator, deployed as champion, and then
a ConceptDriftStream that switches to another concept part-way is streamed through the real
embedded stack (broker, Redis, one worker) with each label sent ``--label-delay`` events after its
event. The worker scores every event with its current snapshot while the learner learns from
the joined labels; the frozen reference is the deployed artifact predicting the same events
offline. Accuracy is prequential: each event is predicted before its own label is learned.

    python benchmarks/online_vs_frozen.py [--events 20000] [--rate 2000] [--label-delay 100] [--seeds 2]

Starts its own embedded broker and Redis on free ports and stops them at the end.
"""

from __future__ import annotations

import argparse
from statistics import mean

from common import free_port, run, state_folder, take, wait_learned
from river.datasets import synth

from stream.dev.devstack import EmbeddedStack
from stream.dev.outputs import OutputWatcher
from stream.dev.replay import new_run_id, replay
from stream.dev.workerproc import WorkerProcess
from stream.model import artifact
from stream.registry.registry import Registry
from stream.settings import Settings
from stream.training.datasets import Dataset
from stream.training.trainer import train
from stream.transport.topics import ensure_topics

KEY = "bench"

# (name, model spec, concept before, concept after): generators of the same features.
SCENARIOS = {
    "agrawal": ("hoeffding-tree",
                lambda seed: synth.Agrawal(classification_function=0, seed=seed),
                lambda seed: synth.Agrawal(classification_function=4, seed=seed)),
    "hyperplane": ("logreg",
                   lambda seed: synth.Hyperplane(n_features=10, seed=seed),
                   lambda seed: synth.Hyperplane(n_features=10, seed=seed + 1000)),
    "sea": ("hoeffding-tree",
            lambda seed: synth.SEA(variant=0, seed=seed),
            lambda seed: synth.SEA(variant=3, seed=seed)),
}



def accuracy(hits: list[bool]) -> float:
    return sum(hits) / len(hits) if hits else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000, help="events streamed per run")
    parser.add_argument("--train", type=int, default=5_000, help="training rows from the first concept")
    parser.add_argument("--drift-at", type=float, default=0.25, help="where the concept changes, as a share of --events")
    parser.add_argument("--rate", type=float, default=1_000.0, help="events per second sent to the worker")
    parser.add_argument("--label-delay", type=int, default=100, help="events between an event and its label")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--snapshot-every", type=int, default=500, help="examples between the learner's snapshots")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = parser.parse_args()

    state = state_folder("driftline-online-")
    settings = Settings.from_env(
        {}, broker=f"kafka://127.0.0.1:{free_port()}", redis_url=f"redis://127.0.0.1:{free_port()}/0",
        web_port=free_port(), state_dir=str(state), signing_key=KEY, topic_prefix="online-",
        snapshot_every_examples=args.snapshot_every, snapshot_every_seconds=1.0,
    )
    drift_at = int(args.events * args.drift_at)
    results = []
    with EmbeddedStack(settings, log=lambda m: None):
        ensure_topics(settings)
        registry = Registry.from_url(settings.redis_url)
        runs = []
        for scenario in args.scenarios.split(","):
            spec, before, after = SCENARIOS[scenario]
            for seed in range(1, args.seeds + 1):
                name = f"online-{scenario}-{seed}"
                rows, targets = take(before(seed), args.train)
                data = Dataset(name=scenario, task="binary_classification", target="y", rows=rows, targets=targets)
                trained = train(data, spec, name, holdout=0.2, seed=seed)
                blob = artifact.dumps(trained, KEY.encode())
                version = registry.register(blob, trained.metadata, alias="champion", reason="online vs frozen benchmark")
                drifting = synth.ConceptDriftStream(before(seed + 100), after(seed + 100), position=drift_at, width=50, seed=seed)
                runs.append((scenario, seed, name, spec, version, blob, take(drifting, args.events)))
        print(f"{len(runs)} runs of {args.events:,} events, concept change at event {drift_at:,}, "
              f"labels {args.label_delay} events behind, {args.rate:,.0f} events/s", flush=True)

        worker = WorkerProcess(settings, state / "worker.log").start()
        try:
            worker.wait_ready(timeout=240, models=[run[2] for run in runs])
            for scenario, seed, name, spec, _version, blob, (rows, targets) in runs:
                run_id = new_run_id()
                watcher = OutputWatcher(settings, run_id)
                replay(settings, rows, targets, name, rate=args.rate, label_delay=args.label_delay, run_id=run_id)
                assert watcher.wait_for(len(rows), 300), f"{name}: {watcher.total} of {len(rows)} scored"
                watcher.close()
                learned = wait_learned(registry, name, len(rows))
                frozen = artifact.loads(blob, KEY.encode()).model
                online_hits, frozen_hits, snapshots = [], [], set()
                for i, (x, y) in enumerate(zip(rows, targets)):
                    prediction = watcher.predictions[f"{run_id}-{i}"]
                    snapshots.add(prediction.get("snapshot"))
                    online_hits.append(prediction["prediction"] == y)
                    frozen_hits.append(frozen.predict_one(x) == y)
                results.append({
                    "scenario": scenario, "seed": seed, "spec": spec,
                    "online": accuracy(online_hits), "frozen": accuracy(frozen_hits),
                    "online_after": accuracy(online_hits[drift_at:]), "frozen_after": accuracy(frozen_hits[drift_at:]),
                    "online_before": accuracy(online_hits[:drift_at]), "frozen_before": accuracy(frozen_hits[:drift_at]),
                    "snapshots": len(snapshots - {None}),
                    "learner": learned["metrics"]["overall"]["accuracy"],
                    "deadletters": len(watcher.deadletters),
                })
                r = results[-1]
                print(f"{scenario} seed {seed} ({spec}): online {r['online']:.3f} frozen {r['frozen']:.3f}; "
                      f"after the change online {r['online_after']:.3f} frozen {r['frozen_after']:.3f}; "
                      f"{r['snapshots']} snapshots served; "
                      f"the learner's own test-then-train accuracy {r['learner']:.3f}", flush=True)
        finally:
            worker.stop()

    print()
    print(f"| stream ({args.seeds} seeds, {args.events:,} events, change at {drift_at:,}) | model | "
          "online accuracy (served) | frozen accuracy | online after change | frozen after change | learner's test-then-train |")
    print("|---|---|---|---|---|---|---|")
    for scenario in args.scenarios.split(","):
        rs = [r for r in results if r["scenario"] == scenario]
        print(f"| {scenario} | {rs[0]['spec']} | {mean(r['online'] for r in rs):.3f} | {mean(r['frozen'] for r in rs):.3f} | "
              f"{mean(r['online_after'] for r in rs):.3f} | {mean(r['frozen_after'] for r in rs):.3f} | "
              f"{mean(r['learner'] for r in rs):.3f} |")
    return 0


if __name__ == "__main__":
    run(main)
