"""Retraining on recent labeled examples: the challenger of the continuous-deployment loop.

Each candidate spec learns the window's examples in the order they arrived, except the most
recent ``holdout`` share, on which it is then measured (the part most like what comes next);
the best candidate then learns the hold-out too, so the challenger knows the whole window. The
new version's drift baseline is the window's features and the challenger's predictions on them:
after a drift, that is what the new champion should be judged against.

>>> import random
>>> rng = random.Random(1)
>>> rows = [{"x": rng.uniform(0, 10)} for _ in range(600)]
>>> examples = [(row, row["x"] > 5) for row in rows]
>>> parent = {"name": "m", "version": 3, "task": "binary_classification", "model_spec": "logreg",
...           "schema": {"features": {"x": "number"}}, "classes": [False, True], "positive_class": True}
>>> result = retrain(examples, parent, ["logreg", "gaussian-nb"], context={"trigger": "w1:data_drift"})
>>> sorted(result.candidates), result.spec in result.candidates, result.holdout["accuracy"] > 0.9
(['gaussian-nb', 'logreg'], True, True)
>>> meta = result.artifact.metadata
>>> meta["retrain"]["parent_version"], meta["retrain"]["trigger"], meta["n_train"], meta["n_holdout"]
(3, 'w1:data_drift', 480, 120)
>>> meta["baseline"]["n_rows"]
600
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, NamedTuple, Sequence

from stream.model.artifact import Artifact
from stream.model.predictor import Predictor
from stream.model.schema import FeatureSchema
from stream.model.specs import get_spec

from . import baseline
from .datasets import REGRESSION
from .trainer import evaluate, library_versions


class Retrained(NamedTuple):
    artifact: Artifact
    spec: str  # the candidate that won
    holdout: dict  # its metrics on the hold-out part
    candidates: dict[str, dict]  # spec -> hold-out metrics (or {"error": ...})
    seconds: float


def retrain(examples: Sequence[tuple[dict, Any]], parent: dict, specs: Sequence[str], *, holdout: float = 0.2,
            seed: int = 42, context: dict | None = None) -> Retrained:
    """Train every spec of ``specs`` on ``examples`` ((validated features, label) in arrival order)
    with the parent version's schema and classes; return the best as a new artifact."""
    if len(examples) < 10:
        raise ValueError(f"a retrain needs at least 10 labeled examples, got {len(examples)}")
    if not specs:
        raise ValueError("a retrain needs at least one model spec")
    started = time.perf_counter()
    task, classes = parent["task"], list(parent.get("classes") or [])
    schema = FeatureSchema.from_dict(parent["schema"])
    n_holdout = max(1, int(round(len(examples) * holdout)))
    head, tail = examples[:-n_holdout], examples[-n_holdout:]
    candidates: dict[str, dict] = {}
    trained: dict[str, tuple[Any, dict]] = {}
    for name in dict.fromkeys(specs):
        spec = get_spec(name)
        if not spec.supports(task):
            candidates[name] = {"error": f"{name} does not support {task}"}
            continue
        model = spec.build(schema, task, classes)
        for x, y in head:
            model.learn_one(x, y)
        metadata = _metadata(parent, name, len(head), n_holdout, context, seed)
        predictor = Predictor.from_artifact(Artifact(metadata=metadata, model=model))
        metrics = evaluate(predictor, [x for x, _ in tail], [y for _, y in tail], classes)
        candidates[name] = metrics
        trained[name] = (model, metadata)
    if not trained:
        raise ValueError(f"no spec among {', '.join(specs)} supports {task}")
    best = min(trained, key=lambda name: _loss(task, candidates[name]))
    model, metadata = trained[best]
    for x, y in tail:  # the challenger knows the whole window
        model.learn_one(x, y)
    metadata["metrics"] = {"holdout": candidates[best]}
    metadata["retrain"]["candidates"] = candidates
    artifact = Artifact(metadata=metadata, model=model, baseline={})
    predictor = Predictor.from_artifact(artifact)
    artifact.baseline, metadata["baseline"] = baseline.build(predictor, (x for x, _ in examples), source="retrain", seed=seed)
    metadata["training_seconds"] = round(time.perf_counter() - started, 3)
    return Retrained(artifact, best, candidates[best], candidates, time.perf_counter() - started)


def retrain_signed(examples: Sequence[tuple[dict, Any]], parent: dict, specs: Sequence[str], holdout: float,
                   context: dict, key: bytes | None) -> tuple[bytes, dict, dict]:
    """:func:`retrain`, as plain data for a process of its own: (the signed artifact's bytes, its
    metadata, a summary: the winning spec, its hold-out metrics, every candidate's, seconds)."""
    from stream.model import artifact as artifacts

    result = retrain(examples, parent, specs, holdout=holdout, context=context)
    summary = {"spec": result.spec, "holdout": result.holdout, "candidates": result.candidates, "seconds": result.seconds}
    return artifacts.dumps(result.artifact, key), result.artifact.metadata, summary


def warm_up() -> bool:
    """Import what a retrain needs, so the first one does not pay for it (run in the process)."""
    import river.forest  # noqa: F401
    import river.tree  # noqa: F401

    import monitors  # noqa: F401

    return True


def _loss(task: str, metrics: dict) -> float:
    """What the candidates are ranked by (lower is better): MAE, or 1 - accuracy."""
    if task == REGRESSION:
        mae = metrics.get("mae")
        return mae if mae is not None else float("inf")
    accuracy = metrics.get("accuracy")
    return 1.0 - accuracy if accuracy is not None else float("inf")


def _metadata(parent: dict, spec: str, n_train: int, n_holdout: int, context: dict | None, seed: int) -> dict:
    keep = ("name", "task", "schema", "target", "classes", "positive_class")
    metadata = {k: parent[k] for k in keep if k in parent}
    metadata.update({
        "version": None,
        "model_spec": spec,
        "dataset": "retrain",
        "n_train": n_train,
        "n_holdout": n_holdout,
        "split": {"holdout": "most recent", "seed": seed},
        "metrics": {},
        "library_versions": library_versions(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "retrain": dict(context or {}, parent_version=parent.get("version"), n_examples=n_train + n_holdout),
    })
    return metadata
