"""The prediction reference of one drift window, for a model that learns online.

Prediction drift asks whether the served model answers live data differently from how it answers
reference data. A model that learns online changes its own answers, and a window of 5,000 events
holds the answers of several snapshots (most of all in the first windows after a deployment, when
the model learns fastest). Its fair reference is the same mixture: the answers of the same
snapshots on the baseline's sample rows, in the same proportions.

So the monitor re-scores, for each summary scored by a learned snapshot, a share of the sample
rows with the snapshot it serves (about ``len(sample_rows) / window_size`` rows per event: about
one pass over the sample per full window, the cost of re-scoring it once); rows scored by the
deployed artifact count for the baseline's own prediction reference, which is that artifact's
answers. When the window closes, the two parts mix in the window's proportions.

>>> from monitors import Baseline
>>> from river import linear_model
>>> from stream.model.artifact import Artifact
>>> from stream.training.baseline import with_baseline
>>> from stream.model.predictor import Predictor
>>> meta = {"name": "m", "task": "binary_classification", "classes": [False, True], "positive_class": True,
...         "schema": {"features": {"x": "number"}}}
>>> model = linear_model.LogisticRegression()
>>> for i in range(200):
...     model.learn_one({"x": float(i % 10)}, i % 10 > 4)
>>> deployed = with_baseline(Artifact(meta, model), [{"x": float(i % 10)} for i in range(500)], source="training")
>>> baseline = Baseline.from_dict(deployed.baseline)
>>> reference = PredictionReference(baseline, window_size=1000)
>>> learned = Predictor.from_artifact(deployed, version=1, snapshot=1)
>>> reference.add(600, learned, baseline), reference.add(400, None, baseline)
(True, False)
>>> reference.rescored_rows, reference.deployed_rows, reference.rescored["prediction"].n
(600, 400, 300)
>>> reference.baseline(baseline).predictions["prediction"].stats.n
500
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from stream.training.baseline import rescore, with_prediction_reference


class PredictionReference:
    """The answers, on the baseline's sample rows, of the snapshots that scored one window."""

    def __init__(self, baseline: Any, window_size: int):
        self.size = len(baseline.sample_rows)
        self.rate = min(1.0, self.size / max(1, window_size))  # sample rows re-scored per event
        # A fixed random order of the sample rows (the sample keeps the training data's order).
        self.order = np.random.default_rng(zlib.crc32(baseline.id.encode())).permutation(self.size)
        self.rescored: dict[str, Any] | None = None  # statistics per watched column
        self.rescored_rows = 0  # events of the window scored by learned snapshots
        self.deployed_rows = 0  # events scored by the deployed artifact (or by a model not at hand)
        self.cursor = 0
        self.carry = 0.0

    def add(self, n_rows: int, predictor: Any, baseline: Any) -> bool:
        """Account for ``n_rows`` events scored by ``predictor`` (None: by the deployed artifact,
        or by a version this worker does not serve); True if its answers were used."""
        if predictor is None or not self.size:
            self.deployed_rows += n_rows
            return False
        owed = n_rows * self.rate + self.carry
        take = int(owed)
        if take:
            stats = rescore(baseline, predictor, self._rows(take, baseline))
            if stats is None:
                self.deployed_rows += n_rows
                return False
            self.rescored = stats if self.rescored is None else {n: s.merge(stats[n]) for n, s in self.rescored.items()}
        self.carry = owed - take
        self.rescored_rows += n_rows
        return True

    def _rows(self, n: int, baseline: Any) -> list[list]:
        picked = [self.order[(self.cursor + i) % self.size] for i in range(n)]
        self.cursor = (self.cursor + n) % self.size
        return [baseline.sample_rows[i] for i in picked]

    def baseline(self, baseline: Any) -> Any:
        """``baseline`` with this window's prediction reference (itself when no learned snapshot
        scored the window)."""
        from monitors.stats import mix

        if self.rescored is None:
            return baseline
        if not self.deployed_rows:
            return with_prediction_reference(baseline, self.rescored)
        total = self.deployed_rows + self.rescored_rows
        parts = {name: [(baseline.predictions[name].stats, self.deployed_rows / total),
                        (stats, self.rescored_rows / total)] for name, stats in self.rescored.items()}
        return with_prediction_reference(baseline, {name: mix(p, self.size) for name, p in parts.items()})

    def to_dict(self) -> dict:
        return {"rescored": None if self.rescored is None else {n: s.to_dict() for n, s in self.rescored.items()},
                "rescored_rows": self.rescored_rows, "deployed_rows": self.deployed_rows,
                "cursor": self.cursor, "carry": self.carry}

    @classmethod
    def from_dict(cls, data: dict, baseline: Any, window_size: int) -> "PredictionReference":
        from monitors.stats import stats_from_dict

        reference = cls(baseline, window_size)
        if data.get("rescored") is not None:
            reference.rescored = {n: stats_from_dict(s) for n, s in data["rescored"].items()}
        reference.rescored_rows, reference.deployed_rows = int(data["rescored_rows"]), int(data["deployed_rows"])
        reference.cursor, reference.carry = int(data["cursor"]) % max(1, reference.size), float(data["carry"])
        return reference
