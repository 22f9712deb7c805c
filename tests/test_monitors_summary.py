"""Window summaries: merging per-batch summaries equals summarising the concatenated data.

Counts (per bin, per category, missing, new values) are equal exactly; moments (mean, M2, min,
max) and offset sums equal to floating-point rounding (1e-12 relative). For the row sample the
property is exact too, given the keys: the merged sample is the set of all batches' rows whose
key is below the merged threshold, whatever the order of merging, at most ``sample_size`` rows.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from monitors import (
    DriftWindow,
    IncompatibleError,
    Summary,
    build_baseline,
    compare,
    merge,
    summarize,
)
from monitors.summary import KEY_SPACE


def rows_of(n: int, seed: int, shift: float = 0.0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = [
        {"amount": a, "visits": int(b), "segment": c, "member": d}
        for a, b, c, d in zip(rng.lognormal(shift, 1, n).tolist(), rng.poisson(2 + shift, n).tolist(),
                              rng.choice(["x", "y", "z", "w"], n, p=[0.4, 0.3, 0.2, 0.1]).tolist(),
                              (rng.random(n) < 0.3).tolist())
    ]
    for i in range(0, n, 37):
        rows[i]["amount"] = None
    return rows


KINDS = {"amount": "number", "visits": "number", "segment": "string", "member": "bool"}


@pytest.fixture(scope="module")
def baseline():
    return build_baseline(rows_of(4000, 0), KINDS, predictions=[i % 3 for i in range(4000)],
                          prediction_kinds={"prediction": "category"})


def batches_of(rows, size=500):
    return [rows[i:i + size] for i in range(0, len(rows), size)]


def assert_same_stats(merged, whole):
    for group in ("features", "predictions"):
        for name, expected in getattr(whole, group).items():
            got = getattr(merged, group)[name]
            assert (got.n, got.missing, got.counts.tolist(), got.new_values, got.new_overflow) == (
                expected.n, expected.missing, expected.counts.tolist(), expected.new_values, expected.new_overflow
            ), name
            if hasattr(expected, "mean"):
                assert (got.min, got.max) == (expected.min, expected.max)
                assert got.mean == pytest.approx(expected.mean, rel=1e-12)
                assert got.m2 == pytest.approx(expected.m2, rel=1e-12)
                assert np.allclose(got.offsets, expected.offsets, rtol=1e-12, atol=1e-9)
            else:
                assert got.other == expected.other


def test_merging_batches_equals_summarising_the_concatenated_data(baseline):
    rows = rows_of(3300, 1, shift=0.7)  # a shifted window, with values new to the reference
    predictions = [i % 4 for i in range(3300)]  # class 3 is new
    parts = [summarize(batch, baseline, predictions[i * 500:(i + 1) * 500], seed=i) for i, batch in enumerate(batches_of(rows))]
    whole = summarize(rows, baseline, predictions, seed=99)
    merged = merge(parts)
    assert merged.n_rows == whole.n_rows == 3300
    assert_same_stats(merged, whole)
    assert merged.features["visits"].new_values  # Poisson(2.7) reaches values the reference never had
    assert merged.predictions["prediction"].new_values == {3: 825}
    for got, expected in zip(compare(merged, baseline).features.columns.values(), compare(whole, baseline).features.columns.values()):
        assert (got.method, got.drifted) == (expected.method, expected.drifted)
        assert got.score == pytest.approx(expected.score, rel=1e-9)


def test_merge_is_associative_and_commutative_exactly(baseline):
    parts = [summarize(batch, baseline, seed=i, sample_rate=0.2, sample_size=150) for i, batch in enumerate(batches_of(rows_of(2000, 2), 400))]
    results = set()
    for order in list(itertools.permutations(range(5)))[::17]:
        ordered = [parts[i] for i in order]
        left = merge(ordered)
        right = ordered[0].merge(ordered[1].merge(ordered[2].merge(ordered[3].merge(ordered[4]))))
        results.add(json.dumps(left.to_dict(), sort_keys=True))
        results.add(json.dumps(right.to_dict(), sort_keys=True))
    # Moments can differ in the last bits between orders; everything else is identical.
    def without_moments(text):
        data = json.loads(text)
        for stats in list(data["features"].values()) + list(data["predictions"].values()):
            for key in ("mean", "m2", "offsets"):
                stats.pop(key, None)
        return json.dumps(data, sort_keys=True)
    assert len({without_moments(r) for r in results}) == 1


def test_the_merged_sample_is_every_row_whose_key_is_below_the_merged_threshold(baseline):
    rows = rows_of(3000, 3)
    batches = batches_of(rows)
    # The same seeds draw the same keys: a full sample (rate 1) shows every row's key.
    full = [summarize(batch, baseline, seed=i, sample_rate=1.0, sample_size=10**6) for i, batch in enumerate(batches)]
    keyed = [(key, row) for part in full for key, row in zip(part.sample.keys, part.sample.rows)]
    assert len(keyed) == 3000
    for rate, size in ((0.05, 1000), (0.5, 200), (0.5, 20)):
        parts = [summarize(batch, baseline, seed=i, sample_rate=rate, sample_size=size) for i, batch in enumerate(batches)]
        sample = merge(parts).sample
        expected = sorted((k, r) for k, r in keyed if k < sample.threshold)
        assert sorted(zip(sample.keys, sample.rows)) == expected
        assert len(sample.rows) <= size
        assert sample.threshold <= round(rate * KEY_SPACE)
        if sample.threshold < round(rate * KEY_SPACE):  # cut by the size bound: as large as the bound allows
            assert sum(k <= sample.threshold for k, _ in keyed) > size
    # A uniform sample: each row's chance is the rate, so the sample's mean tracks the window's.
    sample = merge(summarize(b, baseline, seed=100 + i, sample_rate=0.2, sample_size=10**6) for i, b in enumerate(batches)).sample
    visits = [row[[name for _, name in baseline.sample_columns].index("visits")] for row in sample.rows]
    assert np.mean(visits) == pytest.approx(np.mean([r["visits"] for r in rows]), rel=0.1)


def test_samples_with_equal_keys_and_different_thresholds_merge_the_same_in_any_order():
    from monitors.summary import RowSample

    # Keys repeat across parts (ties settled by content) and each part has its own threshold: the
    # side with the higher threshold is cut, and the capacity cut lands on a repeated key.
    parts = [
        RowSample(100, 6, [3, 7, 7, 50], [["c"], ["b"], ["a"], ["d"]]),
        RowSample(60, 6, [7, 20, 59], [["e"], ["f"], ["g"]]),
        RowSample(90, 6, [1, 7, 20, 85], [["i"], ["h"], ["j"], ["k"]]),
    ]
    results = set()
    for order in itertools.permutations(parts):
        for grouping in ("left", "right"):
            a, b, c = (RowSample(p.threshold, p.capacity, list(p.keys), list(p.rows)) for p in order)
            merged = a.merge(b).merge(c) if grouping == "left" else a.merge(b.merge(c))
            results.add(json.dumps(merged.to_dict()))
    assert len(results) == 1
    merged = json.loads(results.pop())
    # Below 60: keys 1, 3, 7, 7, 7, 7, 20, 20, 50, 59; six fit, and the threshold drops to the
    # seventh key (20).
    assert merged["threshold"] == 20
    assert merged["keys"] == [1, 3, 7, 7, 7, 7]
    assert merged["rows"] == [["i"], ["c"], ["a"], ["b"], ["e"], ["h"]]  # a tie is ordered by content


def test_json_round_trip_and_compact_size(baseline):
    summary = summarize(rows_of(500, 4), baseline, [1] * 500, seed=0, start=10.0, end=12.5)
    text = summary.to_json()
    again = Summary.from_dict(json.loads(text))
    assert again.to_dict() == summary.to_dict()
    assert (again.start, again.end, again.n_rows) == (10.0, 12.5, 500)
    assert "NaN" not in text and len(text) < 6000

    names = [f"f{i}" for i in range(10)]
    rng = np.random.default_rng(0)
    wide = build_baseline(pd.DataFrame(rng.normal(size=(20000, 10)), columns=names), {n: "number" for n in names})
    batch = summarize(pd.DataFrame(rng.normal(size=(500, 10)), columns=names), wide, seed=1)
    without_sample = {**batch.to_dict(), "sample": None}
    assert len(json.dumps(without_sample, separators=(",", ":"))) < 8000  # 10 x 50 bins: measured ~7.3 KB
    assert len(batch.to_json()) < 14000  # plus ~25 sampled rows: measured ~12 KB


def test_summaries_of_different_baselines_do_not_mix(baseline):
    other = build_baseline(rows_of(1000, 5), KINDS)
    first, second = summarize(rows_of(10, 6), baseline, seed=0), summarize(rows_of(10, 6), other, seed=0)
    with pytest.raises(IncompatibleError, match="different baselines"):
        first.merge(second)
    with pytest.raises(IncompatibleError):
        compare(second, baseline)
    with pytest.raises(ValueError, match="nothing to merge"):
        merge([])


def test_batches_without_predictions_count_them_as_missing(baseline):
    with_predictions = summarize(rows_of(100, 7), baseline, [0] * 100, seed=0)
    without = summarize(rows_of(100, 8), baseline, seed=0)
    merged = with_predictions.merge(without)
    assert (merged.predictions["prediction"].n, merged.predictions["prediction"].missing) == (100, 100)
    assert compare(without, baseline).predictions is None  # nothing to judge


@pytest.mark.parametrize("arguments", [{"sample_rate": 1.5}, {"sample_rate": -0.1}, {"sample_size": -1}])
def test_bad_arguments_are_refused(baseline, arguments):
    with pytest.raises(ValueError):
        summarize(rows_of(10, 9), baseline, **arguments)


def test_count_and_time_based_windows(baseline):
    parts = [summarize(batch, baseline, seed=i) for i, batch in enumerate(batches_of(rows_of(6000, 10)))]
    window = DriftWindow(size=2000)
    closed = [c for p in parts if (c := window.add(p)) is not None]
    assert [c.n_rows for c in closed] == [2000] * 3 and window.n_rows == 0

    timed = DriftWindow(size=10**6, max_seconds=60, min_rows=1200)
    assert timed.add(parts[0], now=0.0) is None
    assert timed.add(parts[1], now=30.0) is None
    assert timed.add(parts[2], now=61.0).n_rows == 1500  # 60 s passed with enough rows
    assert timed.add(parts[3], now=100.0) is None
    assert timed.add(parts[4], now=200.0) is None  # 100 s passed but only 1000 rows: wait for more
    assert timed.add(parts[5], now=210.0).n_rows == 1500
    assert timed.flush() is None
    # A timer closes a time-based window that no new summary would close.
    assert [timed.add(parts[i], now=300.0 + i) for i in (6, 7, 8)] == [None] * 3
    assert timed.poll(now=350.0) is None  # 44 s after the first summary: not yet
    assert timed.poll(now=367.0).n_rows == 1500 and timed.poll(now=999.0) is None
    assert window.poll() is None  # count-based windows close only on size
    for bad in ({"size": 0}, {"max_seconds": 0}, {"min_rows": -1}):
        with pytest.raises(ValueError):
            DriftWindow(**bad)
