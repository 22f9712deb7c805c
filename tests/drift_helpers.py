"""Shared by the drift tests: a synthetic stream whose features and concept can be shifted."""

from __future__ import annotations

import numpy as np

from stream.training.datasets import Dataset


def synthetic(n: int, seed: int, shift: tuple = (), label_flip: bool = False) -> Dataset:
    """Five features (four normal numbers, one category); the label is f0 + f1 > 0."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n, 4))
    plans = rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2])
    if "plan" in shift:
        plans = rng.choice(["basic", "plus", "pro"], n, p=[0.1, 0.2, 0.7])
    rows = []
    for row, plan in zip(values.tolist(), plans.tolist()):
        x = {f"f{i}": v + (3.0 if f"f{i}" in shift else 0.0) for i, v in enumerate(row)}
        x["plan"] = plan
        rows.append(x)
    targets = [(r["f0"] + r["f1"] > 0) != label_flip for r in rows]
    return Dataset("synthetic", "binary_classification", "y", rows, targets)


def rescored_predictions(baseline, predictor):
    """``baseline`` with one model's answers on its sample rows as the prediction reference (the
    reference of a window scored by that model alone; itself when the model answers none)."""
    from stream.training.baseline import rescore, with_prediction_reference

    predictions = rescore(baseline, predictor, baseline.sample_rows)
    return baseline if predictions is None else with_prediction_reference(baseline, predictions)
