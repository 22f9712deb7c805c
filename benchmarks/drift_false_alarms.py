"""False alarms of the feature- and prediction-drift verdicts on stationary streams.

For each stationary generator a reference (the "training data") is drawn first, then a long
stream from the same distribution is cut into 500-event batches, summarised, merged into
windows of several sizes and compared with the baseline using the default methods and
thresholds. Every dataset-drift verdict on these streams is a false alarm.

    python benchmarks/drift_false_alarms.py [--events 200000] [--seed 1]

Prints, per generator, configuration (Evidently's default methods, or distances only),
reference size and window size: windows, dataset-drift alarms (and per
100,000 events), prediction-drift alarms, and the per-column alarm rate, worst column named.
Runs offline in about a minute (River's Agrawal generator is the slow part).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from river.datasets import synth

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitors import DriftConfig, DriftWindow, build_baseline, compare, summarize  # noqa: E402

BATCH = 500
WINDOWS = (1000, 2000, 5000, 10000)
REFERENCES = (800, 5000)
#: Evidently's defaults, and distances only (for small references, where the defaults are tests).
CONFIGS = {
    "default": DriftConfig(),
    "distances": DriftConfig(numeric_method="wasserstein", categorical_method="jensenshannon"),
}


def river_stream(generator, n: int):
    rows, labels = [], []
    for x, y in generator.take(n):
        rows.append({str(k): v for k, v in x.items()})
        labels.append(y)
    return rows, labels


def mixed_table(seed: int, n: int):
    """Every column kind: continuous, skewed, bounded, integer counts, categories, booleans."""
    rng = np.random.default_rng(seed)
    cities = [f"city{i}" for i in range(30)]
    weights = 1.0 / np.arange(1, 31)
    city = rng.choice(cities, size=n, p=weights / weights.sum())
    rows = [
        {"normal": a, "lognormal": b, "uniform": c, "visits": int(d), "city": e, "member": bool(f)}
        for a, b, c, d, e, f in zip(
            rng.normal(50, 10, n).tolist(), rng.lognormal(0, 1, n).tolist(), rng.uniform(0, 1, n).tolist(),
            rng.poisson(3, n).tolist(), city.tolist(), (rng.random(n) < 0.3).tolist(),
        )
    ]
    labels = [row["normal"] + 5 * row["member"] > 52 for row in rows]
    return rows, labels


def kinds_of(row: dict) -> dict:
    return {k: "bool" if isinstance(v, bool) else "number" if isinstance(v, (int, float)) else "string" for k, v in row.items()}


def scenarios(seed: int, events: int):
    """(name, rows, labels) of one long stationary stream per generator."""
    yield ("mixed", *mixed_table(seed, events + max(REFERENCES)))
    yield ("agrawal", *river_stream(synth.Agrawal(classification_function=0, seed=seed), events + max(REFERENCES)))
    yield ("sea", *river_stream(synth.SEA(variant=0, seed=seed), events + max(REFERENCES)))
    yield ("hyperplane", *river_stream(synth.Hyperplane(seed=seed, n_features=10), events + max(REFERENCES)))


def run(name, rows, labels, events: int, out) -> None:
    kinds = kinds_of(rows[0])
    stream_rows, stream_labels = rows[max(REFERENCES):], labels[max(REFERENCES):]
    for n_reference in REFERENCES:
        baseline = build_baseline(rows[:n_reference], kinds, predictions=labels[:n_reference],
                                  prediction_kinds={"prediction": "category"})
        summaries = [
            summarize(stream_rows[i:i + BATCH], baseline, predictions=stream_labels[i:i + BATCH], seed=i)
            for i in range(0, events, BATCH)
        ]
        for config_name, size in [(c, w) for c in CONFIGS for w in WINDOWS]:
            if config_name != "default" and n_reference > 1000:
                continue  # with a large reference the defaults already are distances
            window = DriftWindow(size=size)
            config = CONFIGS[config_name]
            reports = [compare(closed, baseline, config) for s in summaries if (closed := window.add(s)) is not None]
            data_alarms = sum(r.features.drifted for r in reports)
            prediction_alarms = sum(bool(r.predictions and r.predictions.drifted) for r in reports)
            per_column = {c: sum(r.features.columns[c].drifted for r in reports) for c in kinds}
            worst = max(per_column, key=per_column.get)
            methods = sorted({c.method for c in reports[0].features.columns.values()})
            print(
                f"{name:<11} {config_name:<9} {n_reference:>6} {size:>7} {len(reports):>8} {data_alarms:>12} "
                f"{data_alarms * 100_000 / events:>9.1f} {prediction_alarms:>11} "
                f"{sum(per_column.values()) / (len(reports) * len(kinds)):>10.3f}  {worst} ({per_column[worst]})"
                f"  [{', '.join(methods)}]",
                file=out,
            )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print(
        f"{'stream':<11} {'config':<9} {'ref':>6} {'window':>7} {'windows':>8} {'data alarms':>12} {'/100k ev':>9} "
        f"{'pred alarms':>11} {'col rate':>10}  worst column (alarms)  [methods]"
    )
    started = time.perf_counter()
    for name, rows, labels in scenarios(args.seed, args.events):
        run(name, rows, labels, args.events, sys.stdout)
    print(f"done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
