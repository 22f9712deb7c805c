"""The drift baseline in the artifact: built at training from the training rows and the model's
predictions on them, the same view of rows and predictions that the score path summarises, and
its replacement from other rows."""

from __future__ import annotations

import random
from collections import Counter

import batchdata
import numpy as np
import pytest
from drift_helpers import rescored_predictions

from monitors import Baseline, compare, get_method, summarize
from stream.errors import DatasetError
from stream.model import artifact as artifact_io
from stream.model.predictor import Predictor
from stream.training.baseline import monitored_prediction, positive_key, with_baseline
from stream.training.datasets import load_dataset
from stream.training.trainer import train

KEY = b"test-signing-key"


def training_rows(dataset, holdout=0.2, seed=42):
    """The rows ``train`` learns from: the same seeded split."""
    order = list(range(len(dataset)))
    random.Random(seed).shuffle(order)
    n_holdout = int(round(len(dataset) * holdout))
    return [dataset.rows[i] for i in order[: len(dataset) - n_holdout]]


@pytest.fixture(scope="module")
def multiclass():
    dataset = batchdata.classification(1500)
    return dataset, train(dataset, "logreg", "tb-multi")


def test_training_stores_the_baseline_of_the_training_rows(multiclass):
    dataset, trained = multiclass
    rows = training_rows(dataset)
    baseline = Baseline.from_dict(trained.baseline)
    info = trained.metadata["baseline"]
    assert info == {"id": baseline.id, "source": "training", "n_rows": 1200, "rejected": {}}
    assert {name: column.kind for name, column in baseline.features.items()} == trained.metadata["schema"]["features"]

    amount = baseline.features["amount"]  # continuous: quantile bins with counts, and moments
    values = np.array([row["amount"] for row in rows])
    assert not amount.layout.discrete
    assert np.allclose(amount.layout.edges, np.quantile(values, np.linspace(0, 1, 51)[1:-1]))
    assert amount.stats.counts.sum() == 1200 and np.all(np.abs(amount.stats.counts - 24) <= 1)
    assert amount.stats.mean == pytest.approx(values.mean()) and amount.stats.std == pytest.approx(values.std())
    assert (amount.stats.min, amount.stats.max) == (values.min(), values.max())

    score = baseline.features["score"]  # nullable: missing values are counted, not binned
    assert score.stats.missing == sum(row["score"] is None for row in rows) > 0
    count = baseline.features["count"]  # 21 integer values: binned as a continuous column
    assert count.stats.n == 1200

    city = baseline.features["city"]  # categorical: frequencies of the top values, missing apart
    expected = Counter(row["city"] for row in rows if row["city"] is not None)
    assert dict(zip(city.layout.values, city.stats.counts.tolist())) == dict(expected)
    assert city.stats.missing == sum(row["city"] is None for row in rows)
    assert baseline.features["vip"].kind == "bool"

    predictor = Predictor.from_artifact(trained)
    labels = Counter(predictor.score(row)["prediction"] for row in rows)
    prediction = baseline.predictions["prediction"]  # class shares of the predictions
    assert list(baseline.predictions) == ["prediction"] and prediction.kind == "category"
    assert dict(zip(prediction.layout.values, prediction.stats.counts.tolist())) == dict(labels)
    assert len(baseline.sample_rows) == 1200  # every row: fewer than the 2,000 kept at most


def test_binary_and_regression_predictions():
    phishing = load_dataset("phishing", limit=600)
    binary = train(phishing, "logreg", "tb-binary")
    baseline = Baseline.from_dict(binary.baseline)
    assert {name: c.kind for name, c in baseline.predictions.items()} == {"prediction": "category", "proba": "number"}
    predictor = Predictor.from_artifact(binary)
    probas = [predictor.score(row)["proba"]["True"] for row in training_rows(phishing)]
    assert baseline.predictions["proba"].stats.mean == pytest.approx(np.mean(probas), rel=1e-12)

    regression = train(batchdata.regression(600), "linreg", "tb-reg")
    assert {name: c.kind for name, c in Baseline.from_dict(regression.baseline).predictions.items()} == {"prediction": "number"}


def test_the_score_paths_view_of_the_same_rows_shows_no_drift_and_a_shift_shows_where(multiclass, tmp_path):
    dataset, trained = multiclass
    path = tmp_path / "model.dla"
    artifact_io.write(path, trained, KEY)
    loaded = artifact_io.read(path, KEY)
    baseline = Baseline.from_dict(loaded.baseline)
    assert baseline.id == loaded.metadata["baseline"]["id"]
    assert baseline.to_dict() == Baseline.from_dict(trained.baseline).to_dict()  # sample rows included
    predictor = Predictor.from_artifact(loaded)
    positive = positive_key(predictor.metadata)

    def summary_of(rows, seed):
        # Exactly what the scorer has per event: the validated row and its prediction.
        validated = [predictor.schema.validate(row) for row in rows]
        watched = [monitored_prediction(predictor.predict(x), positive) for x in validated]
        return summarize(validated, baseline, watched, seed=seed)

    same = compare(summary_of(training_rows(dataset), 0), baseline)
    assert same.features.n_drifted == 0 and same.predictions.n_drifted == 0
    for column in same.features.columns.values():  # distances 0 (to the rounding of offset sums in JSON), p-values 1
        expected = 0.0 if get_method(column.method).higher_is_drift else 1.0
        assert column.score == pytest.approx(expected, abs=1e-6), column

    shifted = [dict(row, amount=row["amount"] * 3) for row in training_rows(dataset)]
    report = compare(summary_of(shifted, 1), baseline)
    assert report.features.drifted_columns == ["amount"]
    assert report.predictions.drifted  # larger amounts move the predicted classes


def test_a_replaced_baseline_keeps_the_model_and_counts_rejected_rows(multiclass):
    dataset, trained = multiclass
    rows, _, _ = batchdata.mixed_rows(500, seed=11)
    dirty = [row for row, _ in batchdata.dirty_rows(rows[0])]
    replaced = with_baseline(trained, rows + dirty, source="recent.csv", seed=1, rejected=Counter(invalid_json=2))
    info = replaced.metadata["baseline"]
    assert info["source"] == "recent.csv" and info["n_rows"] == 500
    assert info["rejected"] == {"invalid_json": 2, "missing_feature": 1, "wrong_type": 2, "not_finite": 1}
    assert Baseline.from_dict(replaced.baseline).id == info["id"] != trained.metadata["baseline"]["id"]
    assert replaced.model is trained.model
    assert {k: v for k, v in replaced.metadata.items() if k != "baseline"} == {
        k: v for k, v in trained.metadata.items() if k != "baseline"}
    with pytest.raises(DatasetError, match="no row can be scored by 'tb-multi'.*wrong_type \\(1\\)"):
        with_baseline(trained, [dict(rows[0], city=7)], source="bad.csv")


def test_prediction_reference_follows_the_model_that_is_served():
    """A model that learned since deployment is judged against its own answers on the reference."""
    data = load_dataset("phishing")
    trained = train(data, "logreg", "served", seed=3)
    deployed = Predictor.from_artifact(trained)
    baseline = Baseline.from_dict(trained.baseline)

    same = rescored_predictions(baseline, deployed)
    assert same.id == baseline.id and len(same.sample_rows) == len(baseline.sample_rows)
    sample_shares = Counter(row[-2] for row in baseline.sample_rows)  # columns: features..., prediction, proba
    assert dict(zip(same.predictions["prediction"].layout.to_dict()["values"], same.predictions["prediction"].stats.counts)) \
        == {k: sample_shares[k] for k in same.predictions["prediction"].layout.to_dict()["values"]}

    # The "learned" model answers True for every row: the reference says so, the features are untouched.
    learned = Predictor.from_artifact(artifact_io.Artifact(metadata=trained.metadata, model=AlwaysTrue(), baseline=trained.baseline))
    moved = rescored_predictions(baseline, learned)
    assert moved.id == baseline.id
    counts = dict(zip(moved.predictions["prediction"].layout.to_dict()["values"], moved.predictions["prediction"].stats.counts))
    assert counts[True] == len(baseline.sample_rows) and counts[False] == 0
    assert moved.features["https"].stats.to_dict() == baseline.features["https"].stats.to_dict()


class AlwaysTrue:
    def predict_proba_one(self, x):
        return {True: 1.0, False: 0.0}

    def predict_one(self, x):
        return True
