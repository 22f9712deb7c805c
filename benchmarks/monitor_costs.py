"""What monitoring costs: time per call and JSON sizes, for the numbers the stream has to budget.

    python benchmarks/monitor_costs.py [--features 10] [--repeat 200]

The last lines set Driftline's drift check against Evidently's ``DataDriftPreset`` on the same
5,000-row window and a 20,000-row reference (normal, uniform, lognormal, discrete, categorical
and boolean columns; a window without drift and one with two columns shifted): the time of each
and whether every column's verdict is the same.

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
    against_evidently()
    with tempfile.TemporaryDirectory() as folder:
        report = compare(window, baseline)
        started = time.perf_counter()
        render_report(baseline, window, Path(folder) / "report.html", drift_report=report)
        print(f"render_report (HTML, first call incl. Evidently import) {time.perf_counter() - started:6.2f} s")
        started = time.perf_counter()
        render_report(baseline, window, Path(folder) / "report.json", fmt="json", drift_report=report)
        print(f"render_report (JSON)               {time.perf_counter() - started:8.2f} s")
    return 0


def frame(n: int, seed: int, shifted: bool):
    """Every column kind; ``shifted`` moves two of the seven (a user's first drift: one or two features)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "normal": rng.normal(0.3 if shifted else 0.0, 1.0, n),
        "uniform": rng.uniform(0.0, 1.0, n),
        "lognormal": rng.lognormal(0.0, 1.0, n),
        "steps": rng.integers(0, 3, n).astype(float),
        "levels": rng.binomial(12, 0.5, n).astype(float),
        "city": rng.choice(["Lyon", "Oslo", "Rome", "Kyiv", "Lima"], n,
                           p=[0.2, 0.25, 0.2, 0.15, 0.2] if shifted else [0.3, 0.25, 0.2, 0.15, 0.1]),
        "member": rng.random(n) < 0.3,
    })


EVIDENTLY_KINDS = {"normal": "number", "uniform": "number", "lognormal": "number", "steps": "number", "levels": "number",
                   "city": "string", "member": "bool"}


def evidently_verdicts(reference, current) -> dict:
    import warnings

    from evidently.legacy.metric_preset import DataDriftPreset
    from evidently.legacy.pipeline.column_mapping import ColumnMapping
    from evidently.legacy.report import Report

    mapping = ColumnMapping(numerical_features=[c for c, k in EVIDENTLY_KINDS.items() if k == "number"],
                            categorical_features=[c for c, k in EVIDENTLY_KINDS.items() if k != "number"],
                            target=None, prediction=None)
    report = Report(metrics=[DataDriftPreset()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.run(reference_data=reference, current_data=current, column_mapping=mapping)
    table = next(m["result"] for m in report.as_dict()["metrics"] if "drift_by_columns" in m["result"])
    return {column: bool(r["drift_detected"]) for column, r in table["drift_by_columns"].items()}


def against_evidently(repeat: int = 3) -> None:
    """Driftline's numpy drift check against Evidently's DataDriftPreset, same data, same verdicts."""
    reference = frame(20_000, 1, shifted=False)
    baseline = build_baseline(reference, EVIDENTLY_KINDS)
    print("== the drift check of one 5,000-row window against a 20,000-row reference (7 columns)")
    evidently_verdicts(reference, frame(500, 9, False))  # Evidently's imports and first-call costs, not timed
    for shifted in (False, True):
        current = frame(5_000, 2, shifted)
        batches = [current.iloc[i:i + BATCH] for i in range(0, len(current), BATCH)]
        summaries = [summarize(b, baseline, seed=i) for i, b in enumerate(batches)]
        window = merge(summaries)
        ours = {c: r.drifted for c, r in compare(window, baseline).features.columns.items()}
        check = timed(partial(lambda parts: compare(merge(parts), baseline), summaries), 50)
        whole = timed(partial(lambda chunks: compare(merge([summarize(b, baseline, seed=i) for i, b in enumerate(chunks)]), baseline),
                              batches), 5)
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            theirs = evidently_verdicts(reference, current)
            best = min(best, time.perf_counter() - started)
        same = ours == theirs
        drifted = sorted(c for c, d in ours.items() if d)
        print(f"{'two columns shifted' if shifted else 'no drift':20s} Evidently DataDriftPreset {best * 1000:8.1f} ms; "
              f"Driftline merge + compare {check * 1000:6.2f} ms ({best / check:,.0f}x faster), "
              f"with the 10 batch summaries (done on the score path) {whole * 1000:6.1f} ms ({best / whole:,.0f}x); "
              f"verdicts {'the same' if same else 'DIFFERENT'} (drifted: {', '.join(drifted) or 'none'})")


if __name__ == "__main__":
    raise SystemExit(main())
