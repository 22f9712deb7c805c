"""The numpy path (baseline → per-batch summaries → merged window → compare) against Evidently 0.7.23.

Evidently runs its legacy ``DataDriftPreset`` (the same per-column code as the new API's preset;
the legacy result states the method, score and verdict of every column) on the raw reference and
current data; Driftline summarises the same data in 500-row batches. Required: the same method
and the same verdict for every column, and scores within these tolerances:

* ``chisquare``, ``z``, and ``jensenshannon`` / ``psi`` on value counts (categorical columns,
  numeric columns with at most 20 distinct reference values): computed from exact counts, equal
  to 1e-9 (relative);
* ``wasserstein``: from counts and offset sums in 50 quantile bins, a lower bound of the exact
  distance, exact when the two CDFs do not cross inside a bin. Within 0.015 below it (measured:
  at most 0.012 over normal, uniform, lognormal and exponential data, 20,000 to 500 values;
  here up to about 0.006);
* ``ks``: the statistic is the largest CDF gap at the bin edges, so it is short of the exact one
  by less than one bin's mass (tolerance 0.02; measured at most 0.011), and the p-value is SciPy's for that statistic
  and the true sizes: never smaller than Evidently's. Exact for columns with at most 20 distinct
  values. Near the threshold this can flip a verdict to "no drift" (see
  ``test_ks_near_the_threshold_errs_towards_no_drift``);
* ``psi`` and ``jensenshannon`` on continuous columns: Evidently bins both sides into an
  equal-width Sturges histogram over their joint range; Driftline spreads each baseline bin's
  values over the part of the bin that gives them their known mean. Within 0.03.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from monitors import DriftConfig, build_baseline, compare, merge, summarize
from monitors.comparison import ColumnComparison
from monitors.methods.ks import ks_pvalue, ks_statistic

pytest.importorskip("evidently")

from evidently.legacy.metric_preset import DataDriftPreset  # noqa: E402
from evidently.legacy.pipeline.column_mapping import ColumnMapping  # noqa: E402
from evidently.legacy.report import Report  # noqa: E402

# Importing Evidently warns about its own dependencies (numpy.core, litestar).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

EXACT = 1e-9
WASSERSTEIN_TOLERANCE = 0.015
KS_STATISTIC_TOLERANCE = 0.02
HISTOGRAM_TOLERANCE = 0.03
EVIDENTLY_NAMES = {
    "K-S p_value": "ks", "Wasserstein distance (normed)": "wasserstein", "chi-square p_value": "chisquare",
    "Z-test p_value": "z", "Jensen-Shannon distance": "jensenshannon", "PSI": "psi",
}
KINDS = {"normal": "number", "uniform": "number", "lognormal": "number", "steps": "number", "levels": "number",
         "city": "string", "member": "bool"}


def evidently_drift(reference: pd.DataFrame, current: pd.DataFrame, kinds: dict, method: str | None = None) -> dict:
    mapping = ColumnMapping(
        numerical_features=[c for c, k in kinds.items() if k == "number"],
        categorical_features=[c for c, k in kinds.items() if k != "number"],
        target=None, prediction=None,
    )
    report = Report(metrics=[DataDriftPreset(stattest=method)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.run(reference_data=reference, current_data=current, column_mapping=mapping)
    table = next(m["result"] for m in report.as_dict()["metrics"] if "drift_by_columns" in m["result"])
    return {
        column: (EVIDENTLY_NAMES[r["stattest_name"]], r["drift_score"], r["drift_detected"])
        for column, r in table["drift_by_columns"].items()
    }


def evidently_new_api_drift(reference: pd.DataFrame, current: pd.DataFrame, kinds: dict) -> tuple[dict, dict]:
    """Evidently 0.7's current API (``evidently.presets.DataDriftPreset``): per column its method
    and score (``ValueDrift``), and the count and share of drifted columns (``DriftedColumnsCount``)."""
    from evidently import DataDefinition, Dataset
    from evidently import Report as NewReport
    from evidently.presets import DataDriftPreset as NewDataDriftPreset

    definition = DataDefinition(
        numerical_columns=[c for c, k in kinds.items() if k == "number"],
        categorical_columns=[c for c, k in kinds.items() if k != "number"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = NewReport([NewDataDriftPreset()]).run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )
    columns, counts = {}, {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            columns[config["column"]] = (EVIDENTLY_NAMES[config["method"]], metric["value"])
        elif config["type"].endswith("DriftedColumnsCount"):
            counts = metric["value"]
    return columns, counts


def driftline_drift(reference: pd.DataFrame, current: pd.DataFrame, kinds: dict, method: str | None = None):
    baseline = build_baseline(reference, kinds)
    window = merge(summarize(current.iloc[i:i + 500], baseline, seed=i) for i in range(0, len(current), 500))
    config = DriftConfig(numeric_method=method, categorical_method=method) if method else None
    return baseline, window, compare(window, baseline, config).features.columns


def check_agreement(reference, current, kinds, method=None) -> list[str]:
    """Assert method, verdict and score tolerance per column; returns what was checked, for messages."""
    theirs = evidently_drift(reference, current, kinds, method)
    baseline, window, ours = driftline_drift(reference, current, kinds, method)
    checked = []
    for column in kinds:
        their_method, their_score, their_verdict = theirs[column]
        mine = ours[column]
        where = f"{column}: evidently {their_method} {their_score:.6g} {their_verdict}, driftline {mine.method} {mine.score:.6g} {mine.drifted}"
        checked.append(where)
        assert mine.method == their_method, where
        assert mine.drifted == their_verdict, where
        reference_column = baseline.features[column]
        discrete = not reference_column.numeric or reference_column.layout.discrete
        if mine.method in ("chisquare", "z") or (mine.method in ("jensenshannon", "psi") and discrete):
            assert mine.score == pytest.approx(their_score, rel=EXACT, abs=1e-300), where
        elif mine.method == "wasserstein":
            # A lower bound (|Σ ∫| <= Σ |∫| per bin), up to the rounding of offset sums on the wire.
            assert -WASSERSTEIN_TOLERANCE <= mine.score - their_score <= 1e-6, where
        elif mine.method == "ks":
            exact = stats.ks_2samp(reference[column].dropna(), current[column].dropna()).statistic
            statistic, _, _ = ks_statistic(ColumnComparison(reference_column, window.features[column]))
            assert -1e-12 <= exact - statistic <= (1e-12 if discrete else KS_STATISTIC_TOLERANCE), where
            assert mine.score >= their_score * (1 - 1e-9), where
        else:
            assert abs(mine.score - their_score) <= HISTOGRAM_TOLERANCE, where
    return checked


def synthetic(n: int, seed: int, shift: bool) -> pd.DataFrame:
    """Every column kind; ``shift`` moves every column clearly (by more than any tolerance)."""
    rng = np.random.default_rng(seed)
    cities = np.array(["Lyon", "Oslo", "Rome", "Kyiv", "Lima"])
    return pd.DataFrame({
        "normal": rng.normal(0.5 if shift else 0.0, 1.0, n),
        "uniform": rng.uniform(0.25 if shift else 0.0, 1.25 if shift else 1.0, n),
        "lognormal": rng.lognormal(0.4 if shift else 0.0, 1.0, n),
        "steps": rng.integers(0, 3 if not shift else 4, n).astype(float),  # 3 values (4 when shifted)
        "levels": rng.binomial(12, 0.6 if shift else 0.5, n).astype(float),  # about 10 values
        "city": rng.choice(cities, n, p=[0.1, 0.2, 0.2, 0.25, 0.25] if shift else [0.3, 0.25, 0.2, 0.15, 0.1]),
        "member": rng.random(n) < (0.45 if shift else 0.3),
    })


@pytest.mark.parametrize("n_reference", [800, 3000], ids=["small-reference", "large-reference"])
@pytest.mark.parametrize("shift", [False, True], ids=["stationary", "shifted"])
def test_default_methods_agree_on_synthetic_data(n_reference, shift):
    reference = synthetic(n_reference, seed=1, shift=False)
    current = synthetic(2500, seed=2, shift=shift)
    check_agreement(reference, current, KINDS)


@pytest.mark.parametrize("shift", [False, True], ids=["stationary", "shifted"])
def test_the_current_api_preset_gives_the_legacy_presets_results(shift):
    """The legacy preset (above) states each column's verdict; the current API's preset runs the
    same per-column code: same methods, same scores, and its count of drifted columns is
    Driftline's."""
    reference, current = synthetic(3000, seed=6, shift=False), synthetic(2500, seed=7, shift=shift)
    columns, counts = evidently_new_api_drift(reference, current, KINDS)
    legacy = evidently_drift(reference, current, KINDS)
    _, _, ours = driftline_drift(reference, current, KINDS)
    assert {c: m for c, (m, _) in columns.items()} == {c: m for c, (m, _, _) in legacy.items()}
    for column, (_, score) in columns.items():
        assert score == pytest.approx(legacy[column][1], rel=1e-12, abs=1e-300), column
    drifted = sum(c.drifted for c in ours.values())
    assert (counts["count"], counts["share"]) == (drifted, drifted / len(KINDS))
    assert drifted == (len(KINDS) if shift else 0)


@pytest.mark.parametrize("method", ["psi", "jensenshannon"])
def test_overridden_methods_agree_on_synthetic_data(method):
    reference = synthetic(3000, seed=3, shift=False)
    for seed, shift in ((4, False), (5, True)):
        check_agreement(reference, synthetic(2500, seed=seed, shift=shift), KINDS, method)


def river_frame(dataset) -> tuple[pd.DataFrame, list]:
    rows, labels = zip(*dataset)
    return pd.DataFrame(list(rows)), list(labels)


def test_default_methods_agree_on_river_phishing():
    from river.datasets import Phishing

    frame, labels = river_frame(Phishing())  # 9 numeric features with 2 or 3 distinct values
    kinds = {column: "number" for column in frame.columns}
    positives = frame[np.array(labels)]
    check_agreement(frame.iloc[:1000], frame.iloc[1000:], kinds)  # chi-square and Z
    check_agreement(frame.iloc[:1000], positives, kinds)
    check_agreement(frame, positives.iloc[:300], kinds)  # > 1000 reference values: Jensen-Shannon


def test_default_methods_agree_on_river_bananas_and_image_segments():
    from river.datasets import Bananas, ImageSegments

    bananas, labels = river_frame(Bananas())
    bananas.columns = [f"x{c}" for c in bananas.columns]
    kinds = {column: "number" for column in bananas.columns}
    check_agreement(bananas.iloc[:3000], bananas.iloc[3000:], kinds)  # Wasserstein
    check_agreement(bananas.iloc[:3000], bananas[np.array(labels)], kinds)
    check_agreement(bananas.iloc[:800], bananas.iloc[800:2000], kinds)  # KS

    segments, _ = river_frame(ImageSegments())  # continuous, integer and 3-4-valued columns
    kinds = {column: "number" for column in segments.columns}
    order = np.random.default_rng(0).permutation(len(segments))  # the file is grouped by class
    shuffled = segments.iloc[order]
    check_agreement(shuffled.iloc[:900], shuffled.iloc[900:], kinds)
    check_agreement(segments.iloc[:900], segments.iloc[900:1800], kinds)


def test_ks_near_the_threshold_errs_towards_no_drift():
    """Random small references and windows with shifts around the detection limit, scored with
    SciPy's ``ks_2samp`` (what Evidently runs) and from Driftline's bins: the binned p-value is
    never below the exact one, and verdicts differ in few cases, always as a missed borderline
    drift, never as an extra alarm."""
    rng = np.random.default_rng(11)
    disagreements, near = 0, 0
    for trial in range(120):
        n, m = int(rng.integers(200, 1001)), int(rng.choice([500, 1000, 2500]))
        reference = pd.DataFrame({"x": rng.normal(0, 1, n)})
        current = pd.DataFrame({"x": rng.normal(rng.uniform(0, 0.3), 1, m)})
        baseline = build_baseline(reference, {"x": "number"})
        window = summarize(current, baseline, seed=trial)
        comparison = ColumnComparison(baseline.features["x"], window.features["x"])
        statistic, ref_below, cur_below = ks_statistic(comparison)
        binned = ks_pvalue(ref_below, n, cur_below, m)
        exact = stats.ks_2samp(reference["x"], current["x"]).pvalue
        assert binned >= exact * (1 - 1e-9)
        near += 0.01 < exact < 0.2
        if (binned <= 0.05) != (exact <= 0.05):
            assert exact <= 0.05 < binned  # a missed borderline drift, not a false alarm
            disagreements += 1
    assert near >= 20  # the trials do probe the threshold
    assert disagreements <= 8, f"{disagreements} of 120 verdicts differ (measured: 5)"
