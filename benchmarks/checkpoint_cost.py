"""What a learner's checkpoint costs once the learner is warm, against the learning it covers.

    python benchmarks/checkpoint_cost.py [--examples 120000] [--every 1000] [--repeat 20]

A learner (logistic regression on Phishing, ADWIN on its errors, the retrain buffer) learns
``--examples`` examples, more than the 100,000 ids it remembers to pass over duplicates; then a
checkpoint's two costs are timed side by side with the representations they replaced: the state
artifact (the remembered ids sealed in chunks, against one ``OrderedDict`` of them, which pickle
walks id by id) and the ``--every`` examples learned since the last checkpoint encoded for the
registry's buffer (msgspec against ``json.dumps``). Per example, next to the learning itself.
In-process, about a minute.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import OrderedDict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitors import ConceptDriftMonitor  # noqa: E402
from stream.learning.learner import ExampleBuffer, ModelLearner  # noqa: E402
from stream.model import artifact  # noqa: E402
from stream.registry.registry import _example_json  # noqa: E402
from stream.training.datasets import load_dataset  # noqa: E402
from stream.training.trainer import train  # noqa: E402


def best_ms(work, repeat: int) -> float:
    """The fastest of ``repeat`` runs (the least disturbed by the machine), in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=120_000, help="examples learned before timing")
    parser.add_argument("--every", type=int, default=1000, help="examples per checkpoint (DRIFTLINE_SNAPSHOT_EVERY_EXAMPLES)")
    parser.add_argument("--repeat", type=int, default=20, help="timings per figure (the fastest is printed)")
    args = parser.parse_args()

    data = load_dataset("phishing")
    trained = train(data, "logreg", "checkpoint")
    learner = ModelLearner("checkpoint", "champion", 1, trained.metadata, trained.model, concept=ConceptDriftMonitor("adwin"))
    learner.buffer = ExampleBuffer(20_000)
    started = time.perf_counter()
    for i in range(args.examples):
        row = i % len(data.rows)
        learner.learn(data.rows[row], data.targets[row], f"run-{i}", partition=0, offset=i)
    learn_us = (time.perf_counter() - started) / args.examples * 1e6
    print(f"learned {args.examples:,} examples: {learn_us:.1f} us each (validate, predict, metrics, learn, detector, buffer); "
          f"{len(learner.recent_ids):,} ids remembered", flush=True)

    def state_bytes(state: dict) -> bytes:
        return artifact.dumps(artifact.Artifact({"name": "checkpoint", "kind": "learner_state"}, state), b"key", compress=False)

    chunked = learner.state()
    ordered = dict(chunked, recent_ids=OrderedDict((i, None) for i in sorted(learner.recent_ids.members, key=lambda s: int(s[4:]))))
    state_new, state_old = best_ms(lambda: state_bytes(chunked), args.repeat), best_ms(lambda: state_bytes(ordered), args.repeat)
    rows = [(i, x, y) for i, (x, y) in enumerate(list(learner.buffer.examples)[-args.every:])]
    rows_new = best_ms(lambda: [_example_json(r) for r in rows], args.repeat)
    rows_old = best_ms(lambda: [json.dumps(r, separators=(",", ":"), default=str).encode() for r in rows], args.repeat)
    assert all(json.loads(_example_json(r)) == json.loads(json.dumps(r, default=str)) for r in rows)

    print()
    print(f"| one checkpoint every {args.every:,} examples | before (ms) | now (ms) | ratio now / before | now per example (us) |")
    print("|---|---|---|---|---|")
    print(f"| state artifact ({len(state_bytes(ordered)):,} bytes before, {len(state_bytes(chunked)):,} now) | "
          f"{state_old:.2f} | {state_new:.2f} | {state_new / state_old:.2f} | {state_new * 1000 / args.every:.1f} |")
    print(f"| {len(rows):,} examples for the retrain buffer | {rows_old:.2f} | {rows_new:.2f} | {rows_new / rows_old:.2f} | "
          f"{rows_new * 1000 / args.every:.1f} |")
    before_us = (state_old + rows_old) * 1000 / args.every
    now_us = (state_new + rows_new) * 1000 / args.every
    print(f"| both, per example | {before_us:.1f} us | {now_us:.1f} us | {now_us / before_us:.2f} | "
          f"against {learn_us:.1f} us of learning |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
