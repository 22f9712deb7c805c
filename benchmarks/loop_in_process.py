"""An in-process sketch of the continuous-deployment loop on one of the benchmark's streams: where
the events after a change go when only detection and the test take time.

The champion is the tree Driftline's trainer makes from the first concept; it serves each event
and learns each label ``--label-delay`` events later (test-then-train), its errors feeding
``monitors.ConceptDriftMonitor`` (ADWIN, as the learner feeds it). At the first concept drift
within the change (from half a gradual change's width before its middle) the loop waits for
``--wait`` labeled examples, trains a forest (the ``arf`` spec) on the examples since the
detection, and lets it join the shadow ``--register-lag`` events later, having learned (tested
first) the examples that arrived meanwhile; the same ``monitors.McNemarTest`` the learner runs
(with its restarts) decides, and the forest serves from ``--promote-lag`` events after the test
passed. No Kafka, no Redis, no second process: the stack's own time from trigger to promotion is
what the two lags stand for.

    python benchmarks/loop_in_process.py --scenario agrawal-gradual --seeds 1,2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from continuous_deployment import SCENARIOS, make_stream  # noqa: E402

from monitors.detectors import ConceptDriftMonitor  # noqa: E402
from monitors.promotion import McNemarTest  # noqa: E402
from stream.model.schema import FeatureSchema  # noqa: E402
from stream.model.specs import get_spec  # noqa: E402
from stream.training.datasets import Dataset  # noqa: E402
from stream.training.trainer import train  # noqa: E402


def run(scenario: str, seed: int, args) -> tuple[float, list[tuple]]:
    train_rows, train_targets, rows, targets = make_stream(scenario, seed, args.train, args.before, args.after + args.label_delay,
                                                          args.width)
    trained = train(Dataset("sketch", "binary_classification", "y", train_rows, train_targets), "hoeffding-tree", "sketch",
                    holdout=0.0)
    schema = FeatureSchema.from_dict(trained.metadata["schema"])
    rows = [schema.validate(row) for row in rows]
    champion, challenger, serving = trained.model, None, trained.model
    detector, test = ConceptDriftMonitor("adwin"), None
    begins = args.before - (0 if SCENARIOS[scenario][2] else args.width // 2)
    detected = joins = promoted_at = None
    timeline: list[tuple] = []  # (what, label index, event index), both from the change's middle
    served = []
    for t in range(len(rows)):
        served.append(serving.predict_one(rows[t]) == targets[t])
        j = t - args.label_delay  # the label that arrives now
        if j < 0:
            continue
        x, y = rows[j], targets[j]
        champion_right = champion.predict_one(x) == y
        if challenger is not None:
            test.update(champion_correct=champion_right, challenger_correct=challenger.predict_one(x) == y)
            challenger.learn_one(x, y)
            if promoted_at is None and test.passes(args.alpha, args.min_disagreements, args.min_gain):
                promoted_at = t + args.promote_lag
                timeline.append(("test passed", j - args.before, t - args.before, test.to_dict(args.alpha, args.min_disagreements,
                                                                                               args.min_gain)))
        if detector.update(0.0 if champion_right else 1.0):
            timeline.append(("concept drift", j - args.before, t - args.before))
            if detected is None and j >= begins:
                detected = j
        champion.learn_one(x, y)
        if detected is not None and joins is None and j >= detected + args.wait:
            forest = get_spec("arf").build(schema, "binary_classification", trained.metadata["classes"])
            for k in range(detected + 1, j + 1):
                forest.learn_one(rows[k], targets[k])
            joins = (t + args.register_lag, forest, j)
        if joins is not None and challenger is None and t >= joins[0]:
            forest, learned_through = joins[1], joins[2]
            test = McNemarTest()
            for k in range(learned_through + 1, j + 1):  # what arrived while it was trained: tested, then learned
                test.update(champion_correct=champion.predict_one(rows[k]) == targets[k],
                            challenger_correct=forest.predict_one(rows[k]) == targets[k])
                forest.learn_one(rows[k], targets[k])
            challenger = forest
            timeline.append(("joined the shadow", j - args.before, t - args.before))
        if promoted_at is not None and t >= promoted_at and serving is champion:
            serving = challenger
    window = served[args.before:args.before + args.after]
    return sum(window) / len(window), timeline


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="agrawal-gradual", choices=sorted(SCENARIOS))
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--train", type=int, default=5000)
    parser.add_argument("--before", type=int, default=3000)
    parser.add_argument("--after", type=int, default=5000)
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--label-delay", type=int, default=300)
    parser.add_argument("--wait", type=int, default=100, help="labeled examples after the detection before the retrain")
    parser.add_argument("--register-lag", type=int, default=90, help="events from the retrain's start to joining the shadow")
    parser.add_argument("--promote-lag", type=int, default=60, help="events from the test passing to serving the forest")
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--min-disagreements", type=int, default=30)
    parser.add_argument("--min-gain", type=float, default=0.01)
    args = parser.parse_args()
    for seed in (int(s) for s in args.seeds.split(",")):
        accuracy, timeline = run(args.scenario, seed, args)
        print(f"{args.scenario} seed {seed}: served accuracy over the {args.after:,} events after the change {accuracy:.3f}")
        for step in timeline:
            extra = f" (n {step[3]['n']}, since {step[3]['since']}, E {step[3]['e_value']:.0f}, gain {step[3]['gain']:.3f})" if len(step) > 3 else ""
            print(f"  {step[0]}: label of event {step[1]:+,}, at event {step[2]:+,}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
