"""False alarms are a cost: 200,000 stationary events, default window size and thresholds.

Every window of a stationary stream that is judged drifted is a false alarm. With a reference of
more than 1,000 rows (Evidently's defaults are then distances: Wasserstein, Jensen-Shannon) not
one of the 40 windows of 5,000 events may raise data drift or prediction drift. With a smaller
reference Evidently's defaults are p-value tests, which alarm in about 5% of windows per column
(its chi-square far more often, see ``benchmarks/drift_false_alarms.py``); distances are then
the configuration to use, and they must not alarm either.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitors import (
    DEFAULT_WINDOW_SIZE,
    DriftConfig,
    DriftWindow,
    build_baseline,
    compare,
    summarize,
)

EVENTS = 200_000
BATCH = 500
KINDS = {"normal": "number", "lognormal": "number", "uniform": "number", "visits": "number",
         "city": "string", "member": "bool"}


def stationary(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, list]:
    weights = 1.0 / np.arange(1, 31)
    table = pd.DataFrame({
        "normal": rng.normal(50, 10, n), "lognormal": rng.lognormal(0, 1, n), "uniform": rng.uniform(0, 1, n),
        "visits": rng.poisson(3, n), "city": rng.choice([f"city{i}" for i in range(30)], n, p=weights / weights.sum()),
        "member": rng.random(n) < 0.3,
    })
    predictions = (table["normal"] + 5 * table["member"] > 52).tolist()
    return table, predictions


def alarms(n_reference: int, config: DriftConfig | None, seed: int) -> tuple[int, int, int, int]:
    rng = np.random.default_rng(seed)
    reference, reference_predictions = stationary(n_reference, rng)
    baseline = build_baseline(reference, KINDS, predictions=reference_predictions, prediction_kinds={"prediction": "category"})
    window, reports = DriftWindow(), []
    for start in range(0, EVENTS, BATCH):
        batch, predictions = stationary(BATCH, rng)
        closed = window.add(summarize(batch, baseline, predictions, seed=start))
        if closed is not None:
            reports.append(compare(closed, baseline, config))
    data = sum(r.features.drifted for r in reports)
    prediction = sum(r.predictions.drifted for r in reports)
    columns = sum(r.features.n_drifted for r in reports)
    return len(reports), data, prediction, columns


def test_default_window_size():
    assert DEFAULT_WINDOW_SIZE == 5000


@pytest.mark.parametrize("seed", [1, 2])
def test_no_alarm_on_a_stationary_stream_with_a_large_reference(seed):
    windows, data, prediction, columns = alarms(5000, None, seed)
    assert windows == EVENTS // DEFAULT_WINDOW_SIZE == 40
    assert (data, prediction, columns) == (0, 0, 0)


def test_no_alarm_with_a_small_reference_judged_by_distances():
    config = DriftConfig(numeric_method="wasserstein", categorical_method="jensenshannon")
    windows, data, prediction, _ = alarms(800, config, seed=3)
    assert (windows, data, prediction) == (40, 0, 0)


def test_an_abrupt_shift_is_caught_within_two_windows():
    """The other side of the trade-off: quiet windows must still see a real shift."""
    rng = np.random.default_rng(4)
    reference, reference_predictions = stationary(5000, rng)
    baseline = build_baseline(reference, KINDS, predictions=reference_predictions, prediction_kinds={"prediction": "category"})
    window, verdicts = DriftWindow(), []
    for start in range(0, 20_000, BATCH):
        batch, _ = stationary(BATCH, rng)
        if start >= 7_500:  # mid-window: the window 5,000-10,000 is half shifted
            batch["normal"] += 5.0  # half a standard deviation
            batch["lognormal"] *= 1.5
            batch["member"] = rng.random(BATCH) < 0.5
        predictions = (batch["normal"] + 5 * batch["member"] > 52).tolist()
        closed = window.add(summarize(batch, baseline, predictions, seed=start))
        if closed is not None:
            report = compare(closed, baseline)
            verdicts.append((report.features.drifted, report.predictions.drifted, report.features.drifted_columns))
    assert verdicts[0] == (False, False, [])
    assert verdicts[1] == (False, False, ["lognormal", "normal"])  # half shifted: 2 of 6 columns
    assert verdicts[2] == (True, True, ["lognormal", "member", "normal"])
