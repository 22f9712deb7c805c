"""A loaded model ready to score: the artifact's model plus its schema, task and version.

Standard library and River only (no Kafka, Redis or Faust), shared by the stream, the HTTP view,
batch prediction and the edge runtime, so that all of them give the same answers.

>>> from river import linear_model
>>> model = linear_model.LinearRegression()
>>> meta = {"name": "demo", "task": "regression", "schema": {"features": {"x": "number"}}}
>>> scorer = Predictor.from_artifact(Artifact(metadata=meta, model=model), version=3)
>>> scorer.score({"x": 2.0})
{'prediction': 0.0}
>>> scorer.score({"y": 1})
Traceback (most recent call last):
...
stream.model.schema.InvalidInput: missing_feature: feature 'x' is missing
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .artifact import Artifact
from .schema import FeatureSchema, InvalidInput

CLASSIFICATION_TASKS = {"binary_classification", "multiclass_classification"}


@dataclass(frozen=True)
class Predictor:
    """Immutable: the worker swaps whole predictors, so no event sees a half-loaded model."""

    name: str
    version: Any
    task: str
    schema: FeatureSchema
    model: Any
    metadata: dict
    snapshot: int | None = None  # revision of the learner's snapshot, None for the deployed artifact

    @classmethod
    def from_artifact(cls, artifact: Artifact, version: Any = None, snapshot: int | None = None) -> "Predictor":
        meta = artifact.metadata
        return cls(
            name=meta["name"],
            version=meta.get("version") if version is None else version,
            task=meta["task"],
            schema=FeatureSchema.from_dict(meta["schema"]),
            model=artifact.model,
            metadata=meta,
            snapshot=snapshot,
        )

    @property
    def is_classifier(self) -> bool:
        return self.task in CLASSIFICATION_TASKS

    def score(self, features: Any) -> dict:
        """Validate and predict: ``{"prediction": ..., "proba": {class: p}}`` (proba for classifiers)."""
        return self.predict(self.schema.validate(features))

    def predict(self, x: dict) -> dict:
        """Predict for features that already passed :meth:`FeatureSchema.validate`."""
        try:
            if self.is_classifier:
                proba = self.model.predict_proba_one(x)
                if not proba:
                    raise ValueError("the model returned no probabilities")
                prediction = max(proba, key=proba.get)
                return {"prediction": prediction, "proba": {str(k): float(v) for k, v in proba.items()}}
            prediction = float(self.model.predict_one(x))
        except InvalidInput:
            raise
        except Exception as exc:  # a model bug must not stop the stream: dead-letter the event
            raise InvalidInput("prediction_failed", f"{type(exc).__name__}: {exc}") from exc
        if not math.isfinite(prediction):
            raise InvalidInput("prediction_failed", f"the model predicted {prediction!r}")
        return {"prediction": prediction}
