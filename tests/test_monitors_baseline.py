"""Baselines: what they hold, their JSON round trip, and their bounded size."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from monitors import Baseline, DataError, build_baseline
from monitors.stats import DISCRETE_LIMIT


def training_rows(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for a, b, c, d in zip(rng.normal(10, 2, n).tolist(), rng.integers(0, 4, n).tolist(),
                          rng.choice(["x", "y", "z"], n).tolist(), (rng.random(n) < 0.3).tolist()):
        rows.append({"amount": a, "visits": b, "segment": c, "member": d})
    rows[0]["amount"] = None  # one missing value
    del rows[1]["segment"]  # and one absent key
    return rows


KINDS = {"amount": "number", "visits": "number", "segment": "string", "member": "bool"}


def test_numeric_columns_hold_quantile_bins_moments_and_counts():
    rows = training_rows(5000)
    baseline = build_baseline(rows, KINDS, n_bins=20)
    amount = baseline.features["amount"]
    values = np.array([r["amount"] for r in rows[1:]])
    assert not amount.layout.discrete and len(amount.layout.edges) == 19
    assert np.allclose(amount.layout.edges, np.quantile(values, np.linspace(0, 1, 21)[1:-1]))
    stats = amount.stats
    assert (stats.n, stats.missing, int(stats.counts.sum())) == (4999, 1, 4999)
    assert stats.mean == pytest.approx(values.mean(), rel=1e-12)
    assert stats.std == pytest.approx(values.std(), rel=1e-12)
    assert (stats.min, stats.max) == (values.min(), values.max())
    assert np.all(np.abs(stats.counts - 4999 / 20) <= 1)  # quantile bins: equal counts
    assert amount.n_unique == 4999


def test_few_valued_numeric_columns_get_one_bin_per_value_and_categories_their_counts():
    baseline = build_baseline(training_rows(3000), KINDS)
    visits = baseline.features["visits"]
    assert visits.layout.discrete and visits.layout.values == [0.0, 1.0, 2.0, 3.0]
    assert visits.stats.counts[0::2].sum() == 0 and visits.stats.counts[1::2].sum() == 3000
    segment = baseline.features["segment"]
    assert sorted(segment.layout.values) == ["x", "y", "z"] and not segment.layout.truncated
    assert (segment.stats.n, segment.stats.missing) == (2999, 1)
    member = baseline.features["member"]
    assert member.kind == "bool" and set(member.layout.values) == {True, False}


def test_top_k_keeps_the_most_frequent_categories_and_pools_the_rest():
    rows = [{"c": f"v{i % 40}"} for i in range(4000)] + [{"c": "v0"}] * 100
    baseline = build_baseline(rows, {"c": "string"}, top_k=10)
    column = baseline.features["c"]
    assert column.layout.truncated and len(column.layout.values) == 10 and column.layout.values[0] == "v0"
    assert column.stats.counts.sum() + column.stats.other == 4100 and column.n_unique == 40


def test_predictions_as_values_or_dicts_with_inferred_or_given_kinds():
    rows = training_rows(200)
    assert build_baseline(rows, KINDS, predictions=[i % 2 == 0 for i in range(200)]).predictions["prediction"].kind == "bool"
    assert build_baseline(rows, KINDS, predictions=[0.5 * i for i in range(200)]).predictions["prediction"].kind == "number"
    labels = build_baseline(rows, KINDS, predictions=[i % 3 for i in range(200)], prediction_kinds={"prediction": "category"})
    assert labels.predictions["prediction"].kind == "category"
    assert labels.predictions["prediction"].layout.values == [0, 1, 2]
    both = build_baseline(rows, KINDS, predictions=[{"prediction": "yes", "proba": 0.25 * (i % 4)} for i in range(200)])
    assert {n: c.kind for n, c in both.predictions.items()} == {"prediction": "string", "proba": "number"}
    assert [c for c in both.sample_columns if c[0] == "predictions"] == [("predictions", "prediction"), ("predictions", "proba")]


def test_a_dataframe_and_the_same_rows_as_dicts_give_the_same_baseline():
    rows = [{k: v for k, v in row.items() if k != "segment" or v is not None} for row in training_rows(1000)]
    frame = pd.DataFrame(rows)
    assert build_baseline(frame, KINDS).to_dict() == build_baseline(rows, KINDS).to_dict()


def test_json_round_trip_keeps_everything():
    baseline = build_baseline(training_rows(3000), KINDS, predictions=[i % 2 for i in range(3000)],
                              prediction_kinds={"prediction": "category"})
    data = json.loads(json.dumps(baseline.to_dict(), allow_nan=False))
    again = Baseline.from_dict(data)
    assert again.to_dict() == baseline.to_dict() and again.id == baseline.id
    assert again.features["member"].layout.values == baseline.features["member"].layout.values  # bools stay bools
    data["features"]["visits"]["layout"]["values"] = [0.0, 1.0]
    with pytest.raises(ValueError, match="id does not match"):
        Baseline.from_dict(data)
    with pytest.raises(ValueError, match="format_version"):
        Baseline.from_dict({**baseline.to_dict(), "format_version": 99})


def test_sample_rows_stay_aligned_with_their_columns_whatever_the_json_key_order():
    rows = training_rows(300)
    baseline = build_baseline(rows, {"visits": "number", "segment": "string", "amount": "number"},
                              predictions=[{"proba": 0.5, "label": "yes"}] * 300)
    assert baseline.sample_columns == [("features", "amount"), ("features", "segment"), ("features", "visits"),
                                       ("predictions", "label"), ("predictions", "proba")]
    by_name = {name: i for i, (_, name) in enumerate(baseline.sample_columns)}
    assert all(isinstance(row[by_name["segment"]], (str, type(None))) for row in baseline.sample_rows)
    data = baseline.to_dict()
    # A writer that reorders the column dicts (and the stored column list) must not scramble the rows.
    data["sample"]["columns"] = data["sample"]["columns"][::-1]
    data["sample"]["rows"] = [row[::-1] for row in data["sample"]["rows"]]
    data["features"] = dict(reversed(list(data["features"].items())))
    again = Baseline.from_dict(json.loads(json.dumps(data)))
    assert again.sample_columns == baseline.sample_columns and again.sample_rows == baseline.sample_rows
    data["sample"]["columns"] = data["sample"]["columns"][1:]
    with pytest.raises(ValueError, match="sample columns"):
        Baseline.from_dict(data)


def test_size_is_bounded_whatever_the_training_set_size():
    def size(n):
        rng = np.random.default_rng(n)
        frame = pd.DataFrame({f"f{i}": rng.normal(size=n) for i in range(10)})
        frame["city"] = rng.choice([f"c{i}" for i in range(500)], n)
        baseline = build_baseline(frame, {**{f"f{i}": "number" for i in range(10)}, "city": "string"})
        assert len(baseline.sample_rows) == min(n, 2000)
        return len(json.dumps(baseline.to_dict()))

    small, large = size(20_000), size(200_000)
    assert large < small * 1.05, (small, large)


def test_the_sample_is_seeded_and_bounded():
    rows = training_rows(5000)
    first = build_baseline(rows, KINDS, sample_size=100, seed=1)
    assert len(first.sample_rows) == 100 and len(first.sample_rows[0]) == 4
    assert first.sample_rows == build_baseline(rows, KINDS, sample_size=100, seed=1).sample_rows
    assert first.sample_rows != build_baseline(rows, KINDS, sample_size=100, seed=2).sample_rows
    assert build_baseline(rows, KINDS, sample_size=0).sample_rows == []


@pytest.mark.parametrize("arguments, message", [
    ({"n_bins": 1}, "n_bins"),
    ({"top_k": 0}, "top_k"),
    ({"sample_size": -1}, "sample_size"),
    ({"kinds": {"amount": "float"}}, "kind must be one of"),
    ({"predictions": [1, 2]}, "2 predictions for 10 rows"),
    ({"prediction_kinds": {"prediction": "number"}}, "without predictions"),
])
def test_bad_arguments_are_refused(arguments, message):
    kinds = arguments.pop("kinds", KINDS)
    with pytest.raises(ValueError, match=message):
        build_baseline(training_rows(10), kinds, **arguments)


def test_non_numeric_values_in_a_numeric_column_are_a_data_error():
    with pytest.raises(DataError, match="column 'amount' is numeric"):
        build_baseline([{"amount": "lots"}], {"amount": "number"})


def test_discrete_limit_matches_evidentlys_switch_to_value_counts():
    assert DISCRETE_LIMIT == 20  # get_binned_data: numeric columns with > 20 unique values get a histogram
    rows = [{"x": float(i % 21)} for i in range(1000)]
    assert not build_baseline(rows, {"x": "number"}).features["x"].layout.discrete
