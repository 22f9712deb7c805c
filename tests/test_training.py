"""Training specs on real data: hold-out metrics, metadata, and artifacts that serve what was measured."""

from __future__ import annotations

import csv
import json
import random
from datetime import datetime, timezone

import pytest
import river

from stream.errors import DatasetError
from stream.model import artifact as artifact_io
from stream.model.predictor import Predictor
from stream.model.schema import FeatureSchema
from stream.training.datasets import Dataset, fingerprint, load_dataset
from stream.training.trainer import train

KEY = b"test-signing-key"


@pytest.fixture(scope="module")
def phishing():
    return load_dataset("phishing")


def round_trip(artifact, tmp_path):
    path = tmp_path / "model.dla"
    artifact_io.write(path, artifact, KEY)
    return artifact_io.read(path, KEY)


def assert_serves_the_same(before, after, rows):
    stored = {k: v for k, v in after.metadata.items() if k != "format_version"}  # added by the writer
    assert stored == json.loads(json.dumps(before.metadata))
    served, reloaded = Predictor.from_artifact(before), Predictor.from_artifact(after)
    for row in rows:
        assert served.score(row) == reloaded.score(row)


# One small slice of a suitable bundled set per (spec, task): every spec, every task it claims.
SLICES = [
    ("logreg", "phishing", 400),
    ("logreg", "imagesegments", 400),
    ("hoeffding-tree", "bananas", 600),
    ("hoeffding-tree", "imagesegments", 400),
    ("hoeffding-tree", "chickweights", 300),
    ("arf", "phishing", 300),
    ("arf", "imagesegments", 300),
    ("arf", "trumpapproval", 300),
    ("gaussian-nb", "bananas", 600),
    ("gaussian-nb", "imagesegments", 400),
    ("linreg", "trumpapproval", 300),
]


@pytest.mark.parametrize(("spec", "name", "limit"), SLICES)
def test_every_spec_trains_and_its_artifact_reloads_with_the_same_predictions(tmp_path, spec, name, limit):
    dataset = load_dataset(name, limit=limit)
    trained = train(dataset, spec, name=f"{name}-{spec}")
    holdout = trained.metadata["metrics"]["holdout"]
    assert trained.metadata["n_holdout"] == round(limit * 0.2) and holdout
    assert all(v is None or isinstance(v, float) for v in holdout.values())
    assert_serves_the_same(trained, round_trip(trained, tmp_path), dataset.rows[:100])


def test_metadata(phishing):
    trained = train(phishing, "logreg", name="phish", holdout=0.25, seed=3)
    meta = trained.metadata
    json.dumps(meta, allow_nan=False)  # JSON as it is, nothing left to ``default=str``
    assert meta["name"] == "phish" and meta["version"] is None
    assert (meta["task"], meta["model_spec"], meta["target"], meta["dataset"]) == (
        "binary_classification", "logreg", "is_phishing", "phishing")
    assert meta["schema"] == FeatureSchema.infer(phishing.rows).to_dict()
    assert meta["classes"] == [False, True] and meta["positive_class"] is True
    assert meta["training_fingerprint"] == fingerprint(phishing.rows, phishing.targets)
    assert (meta["n_train"], meta["n_holdout"]) == (938, 312)
    assert meta["library_versions"]["river"] == river.__version__
    assert meta["library_versions"]["driftline"] and meta["library_versions"]["python"]
    assert datetime.fromisoformat(meta["created_at"]).utcoffset() == timezone.utc.utcoffset(None)
    assert meta["baseline"]["source"] == "training" and meta["baseline"]["n_rows"] == 938 and trained.baseline["features"]


def test_hold_out_metrics_are_sensible_on_full_data_sets(phishing):
    binary = train(phishing, "logreg", name="phish").metadata["metrics"]["holdout"]
    assert binary["accuracy"] > 0.8 and binary["f1"] > 0.8 and 0 < binary["log_loss"] < 0.4
    multi = train(load_dataset("imagesegments"), "logreg", name="seg").metadata["metrics"]["holdout"]
    assert multi["accuracy"] > 0.75 and multi["f1"] > 0.75 and 0 < multi["log_loss"] < 1.5
    reg = train(load_dataset("trumpapproval"), "linreg", name="trump").metadata["metrics"]["holdout"]
    assert reg["mae"] < 1.0 and reg["rmse"] < 1.5 and reg["r2"] > 0.7


def test_the_split_is_seeded(phishing):
    first = train(phishing, "hoeffding-tree", name="a", seed=5).metadata["metrics"]
    again = train(phishing, "hoeffding-tree", name="a", seed=5).metadata["metrics"]
    other = train(phishing, "hoeffding-tree", name="a", seed=6).metadata["metrics"]
    assert first == again and first != other


def test_progress_is_reported_every_thousand_rows():
    calls = []
    train(load_dataset("bananas", limit=2600), "gaussian-nb", name="b", progress=lambda *c: calls.append(c))
    assert calls == [(1000, 2080), (2000, 2080), (2080, 2080)]


def test_without_a_holdout_there_are_no_metrics(phishing):
    meta = train(phishing, "gaussian-nb", name="p", holdout=0.0).metadata
    assert (meta["n_train"], meta["n_holdout"], meta["metrics"]) == (1250, 0, {"holdout": {}})


def test_invalid_arguments():
    phishing = load_dataset("phishing", limit=50)
    with pytest.raises(ValueError, match="'linreg' does not support binary_classification; specs that do: arf, gaussian-nb, hoeffding-tree, logreg"):
        train(phishing, "linreg", name="p")
    with pytest.raises(ValueError, match="unknown model spec"):
        train(phishing, "svm", name="p")
    with pytest.raises(ValueError, match="holdout"):
        train(phishing, "logreg", name="p", holdout=1.0)
    one_class = Dataset("x", "binary_classification", "y", [{"a": 1}] * 5, [True] * 5)
    with pytest.raises(DatasetError, match="at least 2 classes"):
        train(one_class, "logreg", name="p")


def test_a_string_labelled_binary_file(tmp_path):
    # Churn-like data: a yes/no label that depends on a number and a text feature.
    rng = random.Random(1)
    path = tmp_path / "churn.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "tenure", "plan", "churned"])
        for i in range(600):
            tenure, plan = rng.randint(1, 60), rng.choice(["basic", "pro", "max"])
            churned = "yes" if tenure < 20 or (plan == "basic" and tenure < 35) else "no"
            writer.writerow([f"c{i}", tenure if rng.random() > 0.05 else "", plan, churned])
    dataset = load_dataset(str(path), target="churned")
    assert dataset.task == "binary_classification" and dataset.ids[0] == "c0"
    for spec in ("logreg", "hoeffding-tree", "gaussian-nb"):
        trained = train(dataset, spec, name="churn")
        meta = trained.metadata
        assert meta["classes"] == ["no", "yes"] and meta["positive_class"] == "yes"
        assert meta["schema"]["nullable"] == ["tenure"]
        assert meta["metrics"]["holdout"]["accuracy"] > 0.8, (spec, meta["metrics"])
        scored = Predictor.from_artifact(round_trip(trained, tmp_path)).score({"tenure": 5, "plan": "basic"})
        assert scored["prediction"] == "yes" and set(scored["proba"]) == {"no", "yes"}


def test_integer_labels_come_back_as_integers(tmp_path):
    # Shuttle's labels are 0/1 ints; River's LogisticRegression alone would predict True/False.
    trained = train(load_dataset("shuttle", limit=3000), "logreg", name="shuttle")
    assert trained.metadata["classes"] == [0, 1] and trained.metadata["positive_class"] == 1
    prediction = Predictor.from_artifact(round_trip(trained, tmp_path)).score(
        {f"f{i}": 0 for i in range(1, 10)})["prediction"]
    assert type(prediction) is int


@pytest.mark.parametrize("args, says", [
    (["--model", "nosuch"], "Invalid value for --model: unknown model spec 'nosuch'"),
    (["--name", "churn@eu"], "Invalid value for --name: model name 'churn@eu' may not hold '@'"),
    (["--holdout", "1.5"], "Invalid value for --holdout"),
    (["--out", "no-such-folder/m.dla"], "Invalid value for --out: the folder of"),
    (["--dataset", "trumpapproval"], "model spec 'logreg' does not support regression; specs that do: arf, hoeffding-tree, linreg"),
])
def test_train_says_what_is_wrong_with_its_arguments_without_a_traceback(tmp_path, monkeypatch, args, says):
    from click.testing import CliRunner

    from stream.cli import main

    monkeypatch.chdir(tmp_path)
    given = {"--dataset": "phishing", "--model": "logreg", "--name": "m", "--out": "m.dla"}
    given.update(dict(zip(args[::2], args[1::2])))
    result = CliRunner().invoke(main, ["train", *[x for pair in given.items() for x in pair]],
                                env={"DRIFTLINE_SIGNING_KEY": "k"})
    assert result.exit_code in (1, 2) and says in result.output and "Traceback" not in result.output
    assert not (tmp_path / "m.dla").exists()


def test_a_column_of_two_kinds_is_refused_before_training_naming_the_row():
    rows = [{"a": "x" if i else 1, "b": float(i)} for i in range(50)]  # row 0's "a" is a number, the rest text
    data = Dataset("mixed", "binary_classification", "y", rows, [i % 2 for i in range(50)])
    with pytest.raises(DatasetError, match=r"mixed: row 0: feature 'a' must be a string, got int 1, while other rows hold string"):
        train(data, "logreg", "mixed", holdout=0.5, seed=1)
