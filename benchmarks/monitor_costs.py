"""What monitoring costs: time per call and JSON sizes, for the numbers the stream has to budget.

    python benchmarks/monitor_costs.py [--features 10] [--repeat 200]

Rows are dicts, as the score agent holds them: ``--features`` numeric features (plus, in the
mixed case, a categorical and a boolean one) and a boolean prediction. Offline, a few seconds
(the Evidently report at the end takes most of it).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitors import build_baseline, compare, merge, render_report, summarize  # noqa: E402

BATCH = 500


def rows_of(n: int, features: int, mixed: bool, rng: np.random.Generator) -> list[dict]:
    values = rng.normal(size=(n, features)).tolist()
    rows = [{f"f{i}": v for i, v in enumerate(row)} for row in values]
    if mixed:
        for row, city, member in zip(rows, rng.choice([f"c{i}" for i in range(20)], n).tolist(), (rng.random(n) < 0.3).tolist()):
            row["city"], row["member"] = city, member
    return rows


def timed(function, repeat: int) -> float:
    """Best-of-3 mean seconds per call."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(repeat):
            function()
        best = min(best, (time.perf_counter() - started) / repeat)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    for mixed in (False, True):
        label = f"{args.features} numeric" + (" + 1 categorical + 1 bool" if mixed else "")
        kinds = {f"f{i}": "number" for i in range(args.features)}
        if mixed:
            kinds.update(city="string", member="bool")
        training = rows_of(20_000, args.features, mixed, rng)
        started = time.perf_counter()
        baseline = build_baseline(training, kinds, predictions=(rng.random(20_000) < 0.4).tolist())
        build_seconds = time.perf_counter() - started
        batch = rows_of(BATCH, args.features, mixed, rng)
        predictions = (rng.random(BATCH) < 0.4).tolist()
        summary = summarize(batch, baseline, predictions)
        per_batch = timed(partial(summarize, batch, baseline, predictions), args.repeat)
        parts = [summarize(rows_of(BATCH, args.features, mixed, rng), baseline, predictions) for _ in range(10)]
        window = merge(parts)
        merge_seconds = timed(partial(merge, parts), max(1, args.repeat // 10))
        compare_seconds = timed(partial(compare, window, baseline), max(1, args.repeat // 10))
        encode_seconds = timed(summary.to_json, args.repeat)
        baseline_json = json.dumps(baseline.to_dict())
        no_sample = json.dumps({**baseline.to_dict(), "sample": None})
        print(f"== {label} features, batches of {BATCH} events")
        print(f"build_baseline, 20,000 rows        {build_seconds * 1000:8.1f} ms")
        print(f"summarize, per batch               {per_batch * 1000:8.2f} ms  ({per_batch / BATCH * 1e6:.2f} us/event)")
        print(f"summary.to_json, per batch         {encode_seconds * 1000:8.2f} ms")
        print(f"merge 10 batch summaries           {merge_seconds * 1000:8.2f} ms")
        print(f"compare, per 5,000-event window    {compare_seconds * 1000:8.2f} ms")
        print(f"summary JSON, per batch            {len(summary.to_json()):8d} bytes ({len(summary.sample.rows)} sampled rows; "
              f"{len(json.dumps({**summary.to_dict(), 'sample': None}, separators=(',', ':')))} without them)")
        print(f"window JSON, 5,000 events          {len(window.to_json()):8d} bytes")
        print(f"baseline JSON                      {len(baseline_json):8d} bytes ({len(baseline.sample_rows)} sample rows; "
              f"{len(no_sample)} without them)")
    with tempfile.TemporaryDirectory() as folder:
        report = compare(window, baseline)
        started = time.perf_counter()
        render_report(baseline, window, Path(folder) / "report.html", drift_report=report)
        print(f"render_report (HTML, first call incl. Evidently import) {time.perf_counter() - started:6.2f} s")
        started = time.perf_counter()
        render_report(baseline, window, Path(folder) / "report.json", fmt="json", drift_report=report)
        print(f"render_report (JSON)               {time.perf_counter() - started:8.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
