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

Each candidate's learning cost is measured (CPU milliseconds to predict, then learn, one example).
Given the most a candidate may take (the learner's share of a core over the label rate), a slower
one is passed over, however well it ranks; when none is fast enough, the retrain fails:

>>> tree_parent = dict(parent, model_spec="hoeffding-tree")  # the parent's own spec always keeps up
>>> fast = retrain(examples, tree_parent, ["arf", "logreg"], max_learn_seconds=0.00006)
>>> fast.spec, fast.learn_ms["arf"] > 0.06 > fast.learn_ms["logreg"], list(fast.passed_over)
('logreg', True, ['arf'])
>>> retrain(examples, tree_parent, ["arf"], max_learn_seconds=0.00006)
Traceback (most recent call last):
    ...
stream.training.retrain.TooSlowToLearn: every candidate learns too slowly to keep up with the labels: arf learns in ... ms an example, more than the 0.06 ms the label rate allows
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
    learn_ms: dict[str, float]  # spec -> CPU milliseconds to predict, then learn, one example
    passed_over: dict[str, str]  # spec -> why it could not be the challenger, however it ranked (too slow)


def retrain(examples: Sequence[tuple[dict, Any]], parent: dict, specs: Sequence[str], *, holdout: float = 0.2,
            seed: int = 42, context: dict | None = None, max_learn_seconds: float | None = None) -> Retrained:
    """Train every spec of ``specs`` on ``examples`` ((validated features, label) in arrival order)
    with the parent version's schema and classes; return the best as a new artifact.

    ``max_learn_seconds``: the most CPU time a candidate may take to predict and learn one example
    (the learner's share of a core over the rate the examples arrive at). A slower candidate cannot
    keep up with the stream it is to learn from, so it is passed over, however it ranks, unless it
    is the parent's own spec (which learns at that rate already); when every candidate is too slow
    the retrain fails with a :class:`TooSlowToLearn` that names them."""
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
    learn_ms: dict[str, float] = {}
    for name in dict.fromkeys(specs):
        spec = get_spec(name)
        if not spec.supports(task):
            candidates[name] = {"error": f"{name} does not support {task}"}
            continue
        model = spec.build(schema, task, classes)
        # CPU time of this thread (the retrain runs in a process of its own, beside a busy worker):
        # what the candidate would cost the learner per example, predicting it first as
        # test-then-train does.
        cpu = time.thread_time()
        for x, y in head:
            model.learn_one(x, y)
        learning = (time.thread_time() - cpu) / max(1, len(head))
        metadata = _metadata(parent, name, len(head), n_holdout, context, seed)
        predictor = Predictor.from_artifact(Artifact(metadata=metadata, model=model))
        cpu = time.thread_time()
        metrics = evaluate(predictor, [x for x, _ in tail], [y for _, y in tail], classes)
        learn_ms[name] = round(1000 * (learning + (time.thread_time() - cpu) / len(tail)), 4)
        candidates[name] = metrics
        trained[name] = (model, metadata)
    if not trained:
        raise ValueError(f"no spec among {', '.join(specs)} supports {task}")
    passed_over = {}
    if max_learn_seconds is not None:
        limit_ms = 1000 * max_learn_seconds
        passed_over = {name: f"learns in {learn_ms[name]:.3g} ms an example, more than the {limit_ms:.3g} ms the label rate allows"
                       for name in trained if learn_ms[name] > limit_ms and name != parent.get("model_spec")}
        if len(passed_over) == len(trained):
            raise TooSlowToLearn(f"every candidate learns too slowly to keep up with the labels: "
                                 f"{'; '.join(f'{name} {why}' for name, why in passed_over.items())}")
    best = min((name for name in trained if name not in passed_over), key=lambda name: _loss(task, candidates[name]))
    model, metadata = trained[best]
    for x, y in tail:  # the challenger knows the whole window
        model.learn_one(x, y)
    metadata["metrics"] = {"holdout": candidates[best]}
    metadata["retrain"].update(candidates=candidates, learn_ms=learn_ms,
                               **({"passed_over": passed_over} if passed_over else {}))
    artifact = Artifact(metadata=metadata, model=model, baseline={})
    predictor = Predictor.from_artifact(artifact)
    artifact.baseline, metadata["baseline"] = baseline.build(predictor, (x for x, _ in examples), source="retrain", seed=seed)
    metadata["training_seconds"] = round(time.perf_counter() - started, 3)
    return Retrained(artifact, best, candidates[best], candidates, time.perf_counter() - started, learn_ms, passed_over)


class TooSlowToLearn(ValueError):
    """No candidate of a retrain learns fast enough for the rate its model's labels arrive at."""


def retrain_signed(examples: Sequence[tuple[dict, Any]], parent: dict, specs: Sequence[str], holdout: float,
                   context: dict, key: bytes | None, max_learn_seconds: float | None = None) -> tuple[bytes, dict, dict]:
    """:func:`retrain`, as plain data for a process of its own: (the signed artifact's bytes, its
    metadata, a summary: the winning spec, its hold-out metrics, every candidate's, seconds, each
    candidate's learning cost and the specs passed over as too slow)."""
    from stream.model import artifact as artifacts

    result = retrain(examples, parent, specs, holdout=holdout, context=context, max_learn_seconds=max_learn_seconds)
    summary = {"spec": result.spec, "holdout": result.holdout, "candidates": result.candidates, "seconds": result.seconds,
               "learn_ms": result.learn_ms, "passed_over": result.passed_over}
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
