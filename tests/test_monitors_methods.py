"""Drift methods: the registry, Evidently's thresholds and directions, its rule for choosing a
method, each method's computation, per-column overrides and the dataset verdict."""

from __future__ import annotations

import importlib
import pkgutil
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import monitors.methods
from monitors import (
    DriftConfig,
    DriftMethod,
    IncompatibleError,
    UnknownNameError,
    build_baseline,
    compare,
    summarize,
)
from monitors.comparison import ColumnComparison
from monitors.methods import METHODS, default_method_name, get_method

# Importing Evidently warns about its own dependencies (numpy.core, litestar).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

EVIDENTLY_TESTS = {
    "ks": "ks_stat_test", "wasserstein": "wasserstein_stat_test", "psi": "psi_stat_test",
    "jensenshannon": "jensenshannon_stat_test", "chisquare": "chi_stat_test", "z": "z_stat_test",
}


def all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from all_subclasses(sub)


def test_every_method_subclass_is_registered():
    for module in pkgutil.iter_modules(monitors.methods.__path__):
        importlib.import_module(f"monitors.methods.{module.name}")
    found = set(all_subclasses(DriftMethod))
    assert found, "no DriftMethod subclass found"
    unregistered = {cls.__name__ for cls in found} - {cls.__name__ for cls in METHODS.values()}
    assert not unregistered, f"DriftMethod subclasses missing from METHODS: {sorted(unregistered)}"
    for name, cls in METHODS.items():
        assert cls.name == name and cls.title and cls.families


def test_unknown_method_names_list_the_valid_ones():
    with pytest.raises(UnknownNameError) as error:
        get_method("energy_distance")
    assert error.value.valid == sorted(METHODS)
    assert "valid names: chisquare, jensenshannon, ks, psi, wasserstein, z" in str(error.value)
    with pytest.raises(ValueError):  # also a ValueError, for callers that catch those
        DriftConfig(numeric_method="t_test")


@pytest.mark.parametrize("name", sorted(METHODS))
def test_thresholds_names_and_directions_are_evidentlys(name):
    from evidently.legacy.calculations import stattests
    from evidently.legacy.core import ColumnType

    theirs = getattr(stattests, EVIDENTLY_TESTS[name])
    ours = get_method(name)
    assert (ours.name, ours.title, ours.default_threshold) == (theirs.name, theirs.display_name, theirs.default_threshold)
    allowed = {{ColumnType.Numerical: "numeric", ColumnType.Categorical: "categorical"}[t] for t in theirs.allowed_feature_types}
    assert set(ours.families) == allowed
    # Direction, at the threshold itself: Evidently uses <= for KS, < for its other p-values, >= for distances.
    at_threshold = {"ks": True, "chisquare": False, "z": False}.get(name, True)
    assert ours.is_drift(ours.default_threshold, ours.default_threshold) is at_threshold
    assert ours.is_drift(0.0, ours.default_threshold) is not ours.higher_is_drift
    assert ours.is_drift(1.0, ours.default_threshold) is ours.higher_is_drift


def comparison_of(reference_values, current_values, kind):
    baseline = build_baseline([{"c": v} for v in reference_values], {"c": kind})
    window = summarize([{"c": v} for v in current_values], baseline, seed=0)
    return ColumnComparison(baseline.features["c"], window.features["c"])


RULE_CASES = [
    # (reference values, current values, kind)
    (list(np.arange(1000) % 50 * 1.0), list(np.arange(300) % 50 * 1.0), "number"),  # 1000: ks
    (list(np.arange(1001) % 50 * 1.0), list(np.arange(300) % 50 * 1.0), "number"),  # 1001: wasserstein
    ([0.0, 1.0, 2.0] * 300, [0.0, 1.0, 5.0] * 100, "number"),  # 4 values together: chisquare
    ([0.0, 1.0, 2.0] * 300, [0.0, 1.0, 5.0, 6.0, 7.0] * 100, "number"),  # 6 values: ks
    ([0.0, 1.0] * 300, [0.0, 1.0] * 100, "number"),  # 2 values: z
    ([0.0, 1.0, 2.0] * 400, [0.0, 1.0] * 100, "number"),  # > 1000, 3 values: jensenshannon
    ([float(v) for v in range(30)] * 40, [1.0] * 50, "number"),  # > 1000, 30 values: wasserstein
    (list("abc") * 300, list("ab") * 100, "string"),  # chisquare
    (list("ab") * 300, list("ab") * 100, "string"),  # z
    (list("a") * 300, list("ab") * 100, "string"),  # two values together: z
    ([True, False] * 300, [True] * 100, "bool"),  # z
    ([True, False] * 600, [True] * 100, "bool"),  # jensenshannon
    (list("abcdef") * 200, list("ab") * 100, "string"),  # jensenshannon
]


@pytest.mark.parametrize("reference, current, kind", RULE_CASES)
def test_default_method_follows_evidentlys_rule(reference, current, kind):
    from evidently.legacy.calculations.stattests import get_stattest
    from evidently.legacy.core import ColumnType

    column_type = ColumnType.Numerical if kind == "number" else ColumnType.Categorical
    theirs = get_stattest(pd.Series(reference), pd.Series(current), column_type, None).name
    assert default_method_name(comparison_of(reference, current, kind)) == theirs


def test_value_count_methods_equal_evidentlys_functions():
    from evidently.legacy.calculations.stattests import (
        chi_stat_test,
        jensenshannon_stat_test,
        psi_stat_test,
        z_stat_test,
    )
    from evidently.legacy.core import ColumnType

    rng = np.random.default_rng(3)
    cases = [
        (rng.choice(list("abcd"), 700, p=[0.4, 0.3, 0.2, 0.1]), rng.choice(list("abcde"), 900), "string"),
        (rng.integers(0, 6, 700).astype(float), rng.integers(1, 9, 400).astype(float), "number"),
        (rng.random(700) < 0.3, rng.random(300) < 0.4, "bool"),
    ]
    for reference, current, kind in cases:
        comparison = comparison_of(reference.tolist(), current.tolist(), kind)
        for name, theirs in (("chisquare", chi_stat_test), ("jensenshannon", jensenshannon_stat_test), ("psi", psi_stat_test), ("z", z_stat_test)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = theirs(pd.Series(reference), pd.Series(current), ColumnType.Categorical, None).drift_score
            assert get_method(name).score(comparison) == pytest.approx(expected, rel=1e-9), (name, kind)


def test_new_categories_beyond_the_tracked_twenty_still_score_exactly_where_pooling_is_harmless():
    reference = list("abc") * 200
    current = list("abc") * 100 + [f"new{i}" for i in range(40)]  # 40 new values: 20 named, 20 pooled
    comparison = comparison_of(reference, current, "string")
    keys, ref_counts, cur_counts = comparison.value_counts()
    assert len(keys) == 3 + 20 + 1 and cur_counts.sum() == len(current)
    from evidently.legacy.calculations.stattests import (
        chi_stat_test,
        jensenshannon_stat_test,
    )
    from evidently.legacy.core import ColumnType

    for name, theirs in (("jensenshannon", jensenshannon_stat_test), ("chisquare", chi_stat_test)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = theirs(pd.Series(reference), pd.Series(current), ColumnType.Categorical, None).drift_score
        assert get_method(name).score(comparison) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_ks_is_exact_for_discrete_columns_and_a_lower_bound_for_continuous_ones():
    rng = np.random.default_rng(5)
    reference, current = rng.integers(0, 15, 600).astype(float), rng.integers(2, 16, 900).astype(float)
    exact = stats.ks_2samp(reference, current)
    assert get_method("ks").score(comparison_of(reference.tolist(), current.tolist(), "number")) == pytest.approx(exact.pvalue, rel=1e-12)
    reference, current = rng.normal(0, 1, 600), rng.normal(0.1, 1, 900)
    exact = stats.ks_2samp(reference, current)
    binned = get_method("ks").score(comparison_of(reference.tolist(), current.tolist(), "number"))
    assert exact.pvalue <= binned


def test_wasserstein_is_exact_when_the_cdfs_do_not_cross_inside_a_bin():
    rng = np.random.default_rng(6)
    reference = rng.normal(0, 1, 5000)
    current = reference + 0.3  # shifted copy: F_cur < F_ref everywhere
    expected = stats.wasserstein_distance(reference, current) / np.std(reference)
    assert get_method("wasserstein").score(comparison_of(reference.tolist(), current.tolist(), "number")) == pytest.approx(expected, rel=1e-5)


def shifted_rows(n, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "a": rng.normal(shift, 1, n), "b": rng.normal(0, 1, n), "c": rng.normal(0, 1, n),
        "k": rng.choice(list("xyz"), n),
    })


def test_overrides_per_column_and_per_family():
    kinds = {"a": "number", "b": "number", "c": "number", "k": "string"}
    baseline = build_baseline(shifted_rows(3000, 1), kinds)
    window = summarize(shifted_rows(3000, 2, shift=0.2), baseline, seed=0)
    default = compare(window, baseline).features.columns
    assert [c.method for c in default.values()] == ["wasserstein", "wasserstein", "wasserstein", "jensenshannon"]
    config = DriftConfig(methods={"a": "ks", "k": "chisquare"}, thresholds={"a": 1e-6, "b": 0.5}, categorical_method="psi")
    overridden = compare(window, baseline, config).features.columns
    assert (overridden["a"].method, overridden["a"].threshold) == ("ks", 1e-6)
    assert (overridden["b"].method, overridden["b"].threshold) == ("wasserstein", 0.5)
    assert overridden["k"].method == "chisquare"  # a column's own choice wins over its family's
    assert overridden["a"].drifted and not overridden["b"].drifted
    with pytest.raises(IncompatibleError, match="column 'k' is categorical"):
        compare(window, baseline, DriftConfig(methods={"k": "wasserstein"}))
    with pytest.raises(ValueError, match="does not apply to numeric"):
        DriftConfig(numeric_method="chisquare")


def test_dataset_drift_needs_the_configured_share_of_drifted_columns():
    kinds = {"a": "number", "b": "number", "c": "number", "k": "string"}
    baseline = build_baseline(shifted_rows(3000, 1), kinds)
    window = summarize(shifted_rows(3000, 2, shift=1.0), baseline, seed=0)  # only "a" drifts
    report = compare(window, baseline)
    assert report.features.drifted_columns == ["a"] and report.features.share == 0.25
    assert not report.features.drifted
    assert compare(window, baseline, DriftConfig(drift_share=0.25)).features.drifted
    assert report.to_dict()["features"]["columns"]["a"]["method"] == "wasserstein"
    for bad in (0, 1.5, "half"):
        with pytest.raises(ValueError):
            DriftConfig(drift_share=bad)
    with pytest.raises(ValueError):
        DriftConfig(thresholds={"a": -1})


def test_columns_without_values_are_skipped_not_judged():
    baseline = build_baseline([{"a": float(i), "b": float(i % 7)} for i in range(2000)], {"a": "number", "b": "number"})
    window = summarize([{"a": float(i)} for i in range(2000)], baseline, seed=0)
    report = compare(window, baseline)
    assert list(report.features.columns) == ["a"] and report.features.skipped == ["b"]


def test_a_prediction_reference_re_scored_off_its_layout_counts_its_own_values():
    """A one-leaf Hoeffding tree answers one probability on its whole retrain window, so the
    version's baseline has a one-value layout for ``proba``; once the tree has split, the snapshots
    re-score the sample rows with a dozen values, none on the layout. Those are the reference's
    own counts: left out, its shares were all zero, PSI (the second opinion) raised and the drift
    window was lost, and Jensen-Shannon was NaN."""
    from monitors.baseline import ColumnBaseline, clean_column

    baseline = build_baseline([{"x": float(i)} for i in range(600)], {"x": "number"},
                              predictions=[{"prediction": True, "proba": 0.2078}] * 600)
    column = baseline.predictions["proba"]
    assert column.layout.discrete and column.layout.values == [0.2078]
    learned = [0.0146, 0.1114, 0.1462, 0.2066, 0.2109, 0.4022, 0.4121]
    rescored = column.observe(clean_column([learned[i % 7] for i in range(618)], "number", "proba"))
    reference = ColumnBaseline(column.kind, column.layout, rescored, column.n_unique)
    window = column.observe(clean_column([learned[(i * 3) % 7] for i in range(5020)], "number", "proba"))
    comparison = ColumnComparison(reference, window)
    ref_shares, cur_shares = comparison.binned_shares()
    assert ref_shares.sum() == pytest.approx(1.0) and cur_shares.sum() == pytest.approx(1.0)
    assert get_method("psi").score(comparison) == pytest.approx(0.0, abs=1e-3)  # the same seven values, the same shares
    assert get_method("jensenshannon").score(comparison) == pytest.approx(0.0, abs=1e-2)
