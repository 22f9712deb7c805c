"""Train a model spec on a data set and package it as an artifact with hold-out metrics and the
drift baseline of its training rows (see :mod:`stream.training.baseline`).

The hold-out is scored through :class:`~stream.model.predictor.Predictor`, the path every service
path scores with, so the metrics measure what the service will serve.

>>> from stream.training.datasets import load_dataset
>>> artifact = train(load_dataset("phishing", limit=400), "logreg", name="phish")
>>> meta = artifact.metadata
>>> meta["task"], meta["n_train"], meta["n_holdout"], meta["classes"]
('binary_classification', 320, 80, [False, True])
>>> sorted(meta["metrics"]["holdout"])
['accuracy', 'f1', 'log_loss']
>>> meta["baseline"]["n_rows"], sorted(artifact.baseline["predictions"])
(320, ['prediction', 'proba'])
"""

from __future__ import annotations

import math
import platform
import random
import time
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from typing import Any, Callable

from river import metrics

from stream.errors import DatasetError
from stream.model.artifact import Artifact, check_model_name
from stream.model.predictor import Predictor
from stream.model.schema import FeatureSchema, InvalidInput, kind_of
from stream.model.specs import get_spec, specs_for

from . import baseline
from .datasets import BINARY, REGRESSION, Dataset, fingerprint

PROGRESS_EVERY = 1000

Progress = Callable[[int, int], Any]


def train(
    dataset: Dataset,
    spec: str,
    name: str,
    holdout: float = 0.2,
    seed: int = 42,
    progress: Progress | None = None,
) -> Artifact:
    """Learn ``spec`` on a seeded random ``1 - holdout`` share of ``dataset``; measure it on the rest.

    ``progress(done, total)`` is called every ~1000 training rows and once at the end.
    """
    model_spec = get_spec(spec)
    if not model_spec.supports(dataset.task):
        raise ValueError(
            f"model spec {spec!r} does not support {dataset.task}; "
            f"specs that do: {', '.join(specs_for(dataset.task))}"
        )
    if not 0.0 <= holdout < 1.0:
        raise ValueError(f"holdout must be in [0, 1), got {holdout!r}")
    check_model_name(name)
    n = len(dataset)
    n_holdout = int(round(n * holdout))
    if n - n_holdout < 1:
        raise DatasetError(f"{dataset.name}: {n} rows leave nothing to train on with holdout={holdout}")
    classes = [] if dataset.task == REGRESSION else sorted(set(dataset.targets), key=str)
    if dataset.task != REGRESSION and len(classes) < 2:
        raise DatasetError(f"{dataset.name}: classification needs at least 2 classes, found {classes!r}")

    order = list(range(n))
    random.Random(seed).shuffle(order)
    train_idx, holdout_idx = order[: n - n_holdout], order[n - n_holdout:]

    schema = FeatureSchema.infer(dataset.rows)
    _check_kinds(dataset, schema)
    model = model_spec.build(schema, dataset.task, classes)
    started = time.perf_counter()
    total = len(train_idx)
    for done, i in enumerate(train_idx, start=1):
        # Missing values are absent keys, exactly as the schema hands features to the served model.
        x = {k: v for k, v in dataset.rows[i].items() if v is not None}
        model.learn_one(x, dataset.targets[i])
        if progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
            progress(done, total)
    seconds = time.perf_counter() - started

    metadata = {
        "name": name,
        "version": None,  # the registry assigns versions
        "task": dataset.task,
        "model_spec": model_spec.name,
        "schema": schema.to_dict(),
        "target": dataset.target,
        "classes": classes,
        "training_fingerprint": fingerprint(dataset.rows, dataset.targets),
        "dataset": dataset.name,
        "n_train": total,
        "n_holdout": n_holdout,
        "split": {"holdout": holdout, "seed": seed},
        "training_seconds": round(seconds, 3),
        "metrics": {},
        "library_versions": library_versions(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if dataset.task == BINARY:
        metadata["positive_class"] = positive_class(classes)
    artifact = Artifact(metadata=metadata, model=model, baseline={})
    predictor = Predictor.from_artifact(artifact)
    metadata["metrics"]["holdout"] = evaluate(
        predictor,
        [dataset.rows[i] for i in holdout_idx],
        [dataset.targets[i] for i in holdout_idx],
        classes,
    )
    # The reference for drift monitoring: the training rows and the trained model's predictions on them.
    artifact.baseline, metadata["baseline"] = baseline.build(
        predictor, (dataset.rows[i] for i in train_idx), source="training", seed=seed,
    )
    return artifact


def positive_class(classes: list) -> Any:
    """The class binary metrics treat as positive: True, else the second class sorted by ``str``.

    >>> positive_class([False, True]), positive_class(["no", "yes"]), positive_class([0, 1])
    (True, 'yes', 1)
    """
    if any(c is True for c in classes):
        return True
    return sorted(classes, key=str)[-1]


def evaluate(predictor: Predictor, rows: list[dict], targets: list, classes: list) -> dict:
    """Hold-out metrics of a predictor: accuracy, F1, log loss, or MAE, RMSE, R2. ``{}`` without rows."""
    if not rows:
        return {}
    if predictor.task == REGRESSION:
        named = {"mae": metrics.MAE(), "rmse": metrics.RMSE(), "r2": metrics.R2()}
        for i, (row, y) in enumerate(zip(rows, targets)):
            y_pred = _score(predictor, row, i)["prediction"]
            for metric in named.values():
                metric.update(y, y_pred)
        return {key: _finite(metric.get()) for key, metric in named.items()}

    binary = predictor.task == BINARY
    positive = positive_class(classes) if binary else None
    accuracy = metrics.Accuracy()
    # River's F1 compares its labels with pos_val after turning them into booleans: with a positive
    # class that is not True (e.g. "yes") it counts no true positive and reads 0. So: booleans.
    f1 = metrics.F1() if binary else metrics.MacroF1()
    # LogLoss reads p(True); CrossEntropy reads the probability of the true class from a dict.
    log_loss = metrics.LogLoss() if binary else metrics.CrossEntropy()
    # Predictor stringifies the proba keys (JSON); the metrics need the original labels back.
    by_str = {str(c): c for c in classes}
    for i, (row, y) in enumerate(zip(rows, targets)):
        scored = _score(predictor, row, i)
        y_pred = scored["prediction"]
        proba = {by_str.get(k, k): p for k, p in scored["proba"].items()}
        accuracy.update(y, y_pred)
        if binary:
            f1.update(y == positive, y_pred == positive)
            log_loss.update(y == positive, proba.get(positive, 0.0))
        else:
            f1.update(y, y_pred)
            log_loss.update(y, proba)
    return {"accuracy": _finite(accuracy.get()), "f1": _finite(f1.get()), "log_loss": _finite(log_loss.get())}


def library_versions() -> dict:
    """Versions of driftline, river and python, for reproducing a model (None when unknown)."""

    def version(distribution: str, module: str) -> str | None:
        try:
            return importlib_metadata.version(distribution)
        except importlib_metadata.PackageNotFoundError:
            # Running from a source tree that is not installed: ask the module itself.
            try:
                return getattr(__import__(module), "__version__", None)
            except ImportError:
                return None

    return {
        "driftline": version("driftline", "stream"),
        "river": version("river", "river"),
        "python": platform.python_version(),
    }


def _check_kinds(dataset: Dataset, schema: FeatureSchema) -> None:
    """``DatasetError`` naming the first row whose value the schema inferred from the data set would
    refuse (a JSONL column of text and numbers, a column of numbers and booleans): caught here, not
    after training as a hold-out row that cannot be scored, or never, when it fell in the training part."""
    for index, row in enumerate(dataset.rows):
        for name, kind in schema.kinds.items():
            if kind_of(row.get(name)) not in (None, kind):  # None: missing, the schema's to allow (nullable)
                try:
                    schema.validate(row)  # its words for what is wrong
                except InvalidInput as exc:
                    raise DatasetError(f"{dataset.name}: row {index}: {exc.detail}, while other rows hold {kind} "
                                       "values there: write each column's values in one kind") from None


def _score(predictor: Predictor, row: dict, index: int) -> dict:
    try:
        return predictor.score(row)
    except InvalidInput as exc:
        # A hold-out row the schema rejects would be dead-lettered in service: the data is at fault.
        raise DatasetError(f"hold-out row {index} cannot be scored: {exc}") from exc


def _finite(value: float) -> float | None:
    """JSON has no NaN or infinity (R2 of a constant target, for instance)."""
    value = float(value)
    return value if math.isfinite(value) else None
