"""The drift baseline an artifact carries: built at export from the training rows, replaceable later.

A baseline (see :mod:`monitors.baseline`) describes the rows the model was trained on, *as the
scorer sees them* (validated by the feature schema), and the model's predictions on those rows
*as drift monitoring watches them* (:func:`monitored_prediction`): the predicted label for
classifiers (a category), with the probability of the positive class for binary ones, and the
predicted value for regressors. The score path must summarise exactly these two things, so the
scorer builds its per-batch summaries with the same two functions::

    x = predictor.schema.validate(features)             # the row, as the baseline saw it
    watched = monitored_prediction(predictor.predict(x), positive_key(predictor.metadata))
    summary = monitors.summarize(rows, baseline, watched_predictions)

The artifact's metadata says where its baseline came from under ``"baseline"``: its id (which a
summary carries), the source (``training`` or a file name), the number of rows, and the rows the
schema rejected by reason (a replacement file may hold rows the model cannot score).

>>> from river import linear_model
>>> from stream.model.artifact import Artifact
>>> meta = {"name": "m", "task": "binary_classification", "classes": [False, True], "positive_class": True,
...         "schema": {"features": {"x": "number", "member": "bool"}}}
>>> model = linear_model.LogisticRegression()
>>> for i in range(100):
...     model.learn_one({"x": float(i % 10)}, i % 10 > 4)
>>> rows = [{"x": float(i % 10), "member": i % 3 == 0} for i in range(300)] + [{"x": "bad", "member": True}]
>>> artifact = with_baseline(Artifact(meta, model), rows, source="training")
>>> artifact.metadata["baseline"]["n_rows"], artifact.metadata["baseline"]["rejected"]
(300, {'wrong_type': 1})
>>> sorted(artifact.baseline["features"]), sorted(artifact.baseline["predictions"])
(['member', 'x'], ['prediction', 'proba'])
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

from stream.errors import DatasetError
from stream.model.artifact import Artifact
from stream.model.predictor import Predictor
from stream.model.schema import InvalidInput

from .datasets import BINARY, REGRESSION

#: Rows kept in the baseline for Evidently reports (the statistics use every row).
SAMPLE_SIZE = 2000


def positive_key(metadata: dict) -> str | None:
    """The ``proba`` key of a binary classifier's positive class (None for other tasks).

    >>> positive_key({"task": "binary_classification", "positive_class": True}), positive_key({"task": "regression"})
    ('True', None)
    """
    if metadata.get("task") != BINARY:
        return None
    return str(metadata.get("positive_class", True))


def monitored_prediction(result: dict, positive: str | None = None) -> dict:
    """What drift monitoring watches of one :meth:`Predictor.predict` result.

    >>> monitored_prediction({"prediction": "yes", "proba": {"no": 0.25, "yes": 0.75}}, "yes")
    {'prediction': 'yes', 'proba': 0.75}
    >>> monitored_prediction({"prediction": 3.5})
    {'prediction': 3.5}
    """
    if positive is None:
        return {"prediction": result["prediction"]}
    return {"prediction": result["prediction"], "proba": result["proba"].get(positive, 0.0)}


def monitored_columns(results: list[dict], positive: str | None = None) -> dict[str, list]:
    """:func:`monitored_prediction` of many results, column by column (no dict per result).

    >>> results = [{"prediction": "yes", "proba": {"no": 0.25, "yes": 0.75}}, {"prediction": "no", "proba": {"no": 1.0}}]
    >>> monitored_columns(results, "yes")
    {'prediction': ['yes', 'no'], 'proba': [0.75, 0.0]}
    """
    columns = {"prediction": [r["prediction"] for r in results]}
    if positive is not None:
        columns["proba"] = [r["proba"].get(positive, 0.0) for r in results]
    return columns


def prediction_kinds(task: str) -> dict[str, str]:
    """Kinds of the watched prediction columns: class labels are categories whatever their type."""
    if task == REGRESSION:
        return {"prediction": "number"}
    if task == BINARY:
        return {"prediction": "category", "proba": "number"}
    return {"prediction": "category"}


def build(predictor: Predictor, rows: Iterable[dict], source: str, seed: int = 42,
          rejected: Counter | None = None) -> tuple[dict, dict]:
    """The baseline (JSON-ready) of ``rows`` scored by ``predictor``, and its metadata entry.

    Rows the schema rejects are left out and counted by reason, in ``rejected`` when given (a
    reader may count there the rows it could not even parse); :class:`DatasetError` when no row
    is left.
    """
    from monitors import (
        build_baseline,  # numpy and scipy: only where a baseline is built
    )

    positive = positive_key(predictor.metadata)
    validated, predictions = [], []
    rejected = Counter() if rejected is None else rejected
    for row in rows:
        try:
            x = predictor.schema.validate(row)
            result = predictor.predict(x)
        except InvalidInput as exc:
            rejected[exc.reason] += 1
            continue
        validated.append(x)
        predictions.append(monitored_prediction(result, positive))
    if not validated:
        reasons = ", ".join(f"{reason} ({count:,})" for reason, count in rejected.most_common()) or "no rows"
        raise DatasetError(f"{source}: no row can be scored by {predictor.name!r} to build a baseline from: {reasons}")
    baseline = build_baseline(
        validated, predictor.schema.kinds, predictions,
        prediction_kinds=prediction_kinds(predictor.task), sample_size=SAMPLE_SIZE, seed=seed,
    )
    info = {"id": baseline.id, "source": source, "n_rows": len(validated), "rejected": dict(rejected)}
    return baseline.to_dict(), info


def with_baseline(artifact: Artifact, rows: Iterable[dict], source: str, seed: int = 42,
                  rejected: Counter | None = None) -> Artifact:
    """A copy of ``artifact`` whose baseline is built from ``rows`` (model and the rest unchanged)."""
    baseline, info = build(Predictor.from_artifact(artifact), rows, source, seed, rejected)
    return Artifact(metadata=dict(artifact.metadata, baseline=info), model=artifact.model, baseline=baseline)


def rescore(baseline: Any, predictor: Predictor, rows: Iterable[list]) -> dict[str, Any] | None:
    """Statistics, on the baseline's prediction bins, of ``predictor``'s answers on some of the
    baseline's ``sample_rows``; None when it answers none of them (or not every watched column)."""
    from monitors.baseline import clean_column

    names = list(baseline.features)
    results = []
    for row in rows:
        x = {name: value for name, value in zip(names, row) if value is not None}
        try:
            results.append(predictor.predict(x))
        except Exception:  # a row this model cannot score: left out, as at build time
            continue
    if not results:
        return None
    columns = monitored_columns(results, positive_key(predictor.metadata))
    if not set(baseline.predictions) <= set(columns):
        return None
    return {name: column.observe(clean_column(columns[name], column.kind, name))
            for name, column in baseline.predictions.items()}


def with_prediction_reference(baseline: Any, predictions: dict[str, Any]) -> Any:
    """``baseline`` with ``predictions`` (statistics per watched column, on its bins) as the
    prediction reference: the same id, bins and feature reference, so the same summaries apply."""
    from monitors import Baseline, ColumnBaseline

    columns = {name: ColumnBaseline(column.kind, column.layout, predictions[name], column.n_unique)
               for name, column in baseline.predictions.items()}
    n_rows = max((stats.n + stats.missing for stats in predictions.values()), default=0)
    return Baseline(baseline.features, columns, baseline.sample_rows, n_rows, baseline.settings)


def describe(info: dict[str, Any]) -> str:
    """One line about a baseline's metadata entry, for the CLI.

    >>> describe({"id": "ab12", "source": "training", "n_rows": 900, "rejected": {"wrong_type": 2}})
    'baseline ab12 from training: 900 rows (rejected: wrong_type 2)'
    """
    rejected = ", ".join(f"{reason} {count:,}" for reason, count in sorted(info.get("rejected", {}).items()))
    return f"baseline {info['id']} from {info['source']}: {info['n_rows']:,} rows" + (f" (rejected: {rejected})" if rejected else "")
