"""Loading bundled River data sets and CSV / JSONL / Parquet files into plain-Python Datasets."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from river import datasets as river_datasets

from stream.errors import DatasetError
from stream.training.datasets import BUNDLED, Dataset, fingerprint, load_dataset

PLAIN = (int, float, str, bool, type(None))

EXPECTED_TASKS = {
    "phishing": "binary_classification",
    "bananas": "binary_classification",
    "imagesegments": "multiclass_classification",
    # River 0.26 collapses Shuttle's seven classes into 0/1 anomaly labels (its task says Binary).
    "shuttle": "binary_classification",
    "trumpapproval": "regression",
    "chickweights": "regression",
}


def assert_plain(dataset: Dataset) -> None:
    for row in dataset.rows:
        for value in row.values():
            assert type(value) in PLAIN, (value, type(value))
            assert not (isinstance(value, float) and math.isnan(value))
    for label in dataset.targets:
        assert type(label) in (int, float, str, bool), (label, type(label))


@pytest.mark.parametrize("name", sorted(EXPECTED_TASKS))
def test_every_bundled_set_loads_with_its_task_and_plain_values(name):
    dataset = load_dataset(name)
    assert dataset.task == EXPECTED_TASKS[name]
    assert dataset.name == name
    assert len(dataset) == BUNDLED[name]().n_samples
    assert dataset.ids is None
    assert_plain(dataset)


def test_bundled_names_are_case_insensitive_and_limited():
    dataset = load_dataset("ImageSegments", limit=50)
    assert (dataset.name, len(dataset), dataset.target) == ("imagesegments", 50, "category")
    assert set(BUNDLED) >= set(EXPECTED_TASKS)
    assert BUNDLED["phishing"] is river_datasets.Phishing


def test_bundled_binary_vs_multiclass_comes_from_the_labels_not_rivers_task():
    # Bananas' labels are bools; Shuttle's ints; both two-valued.
    assert set(load_dataset("bananas").targets) == {False, True}
    assert set(load_dataset("shuttle").targets) == {0, 1}
    assert load_dataset("imagesegments", task="multiclass_classification").task == "multiclass_classification"
    with pytest.raises(DatasetError, match="at most 2 classes, found 7"):
        load_dataset("imagesegments", task="binary_classification")


def test_bundled_target_is_fixed():
    assert load_dataset("phishing", target="is_phishing", limit=5).target == "is_phishing"
    with pytest.raises(DatasetError, match="fixed target 'is_phishing'"):
        load_dataset("phishing", target="label")


def test_unknown_name_lists_the_bundled_sets():
    with pytest.raises(DatasetError) as info:
        load_dataset("iris")
    for name in BUNDLED:
        assert name in str(info.value)


# Files -------------------------------------------------------------------------------------------

COLUMNS = ["id", "age", "score", "city", "vip", "label"]
RECORDS = [
    {"id": "a1", "age": 31, "score": 0.5, "city": "Lyon", "vip": True, "label": "yes"},
    {"id": "a2", "age": None, "score": 1.25, "city": "Oslo", "vip": False, "label": "no"},
    {"id": "a3", "age": 40, "score": None, "city": None, "vip": None, "label": "yes"},
    {"id": "a4", "age": 22, "score": -3.0, "city": "Rome", "vip": True, "label": "no"},
]


def write_csv(path, records):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for r in records:
            writer.writerow(["" if r[c] is None else r[c] for c in COLUMNS])


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def write_parquet(path, records):
    pq.write_table(pa.Table.from_pylist(records), path)


WRITERS = {"csv": write_csv, "jsonl": write_jsonl, "ndjson": write_jsonl, "parquet": write_parquet}


@pytest.mark.parametrize("suffix", sorted(WRITERS))
def test_files_round_trip_to_the_same_dataset(tmp_path, suffix):
    path = tmp_path / f"data.{suffix}"
    WRITERS[suffix](path, RECORDS)
    dataset = load_dataset(str(path))
    assert (dataset.name, dataset.task, dataset.target) == (str(path), "binary_classification", "label")
    assert dataset.ids == ["a1", "a2", "a3", "a4"]
    assert dataset.targets == ["yes", "no", "yes", "no"]
    expected = [{k: v for k, v in r.items() if k not in ("id", "label")} for r in RECORDS]
    assert dataset.rows == expected
    assert_plain(dataset)
    # Types too: 31 stays an int (a blank cell must not turn the column into floats), True a bool.
    assert [type(v) for v in dataset.rows[0].values()] == [int, float, str, bool]
    assert fingerprint(dataset.rows, dataset.targets) == fingerprint(expected, ["yes", "no", "yes", "no"])


def test_limit_and_id_column_for_files(tmp_path):
    path = tmp_path / "data.csv"
    write_csv(path, RECORDS)
    dataset = load_dataset(str(path), limit=2, id_column="city")
    assert dataset.ids == ["Lyon", "Oslo"]
    assert list(dataset.rows[0]) == ["id", "age", "score", "vip"]
    assert load_dataset(str(path), id_column="").ids is None


def test_nan_in_a_parquet_float_column_becomes_none(tmp_path):
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"x": [1.5, float("nan"), 2.0], "y": [0.1, 0.2, 0.3]}), path)
    dataset = load_dataset(str(path))
    assert [r["x"] for r in dataset.rows] == [1.5, None, 2.0]
    assert dataset.task == "regression"


def test_target_column_choice(tmp_path):
    path = tmp_path / "data.jsonl"
    write_jsonl(path, [{"x": i, "y": i * 0.5, "label": i % 2 == 0} for i in range(10)])
    assert load_dataset(str(path)).target == "label"  # label before y
    by_name = load_dataset(str(path), target="y")
    assert (by_name.target, by_name.task, list(by_name.rows[0])) == ("y", "regression", ["x", "label"])
    with pytest.raises(DatasetError, match="target column 'z' not found; columns: x, y, label"):
        load_dataset(str(path), target="z")


def test_missing_target_lists_the_columns(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DatasetError, match="no target column named target / label / y.*columns: a, b"):
        load_dataset(str(path))


def test_missing_target_values_are_an_error(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,target\n1,2.5\n2,\n")
    with pytest.raises(DatasetError, match="missing in 1 rows"):
        load_dataset(str(path))


@pytest.mark.parametrize(
    ("labels", "task"),
    [
        ([True, False] * 20, "binary_classification"),
        (["yes", "no"] * 20, "binary_classification"),
        ([0, 1] * 20, "binary_classification"),
        (["a", "b", "c"] * 20, "multiclass_classification"),
        ([1, 2, 3] * 40, "multiclass_classification"),
        (list(range(40)), "regression"),  # many distinct ints: a quantity, not a class
        ([0.5 * i for i in range(40)], "regression"),
    ],
)
def test_task_inference_for_files(tmp_path, labels, task):
    path = tmp_path / "data.jsonl"
    write_jsonl(path, [{"x": i, "target": label} for i, label in enumerate(labels)])
    assert load_dataset(str(path)).task == task


def test_explicit_task_is_checked(tmp_path):
    path = tmp_path / "data.jsonl"
    write_jsonl(path, [{"x": i, "target": ["a", "b", "c"][i % 3]} for i in range(30)])
    with pytest.raises(DatasetError, match="regression needs numeric targets"):
        load_dataset(str(path), task="regression")
    with pytest.raises(DatasetError, match="unknown task 'ranking'"):
        load_dataset(str(path), task="ranking")


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(DatasetError, match="data file not found"):
        load_dataset(str(tmp_path / "nope.csv"))
    other = tmp_path / "data.txt"
    other.write_text("a,b\n")
    with pytest.raises(DatasetError, match="unsupported format .txt"):
        load_dataset(str(other))
    broken = tmp_path / "data.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(DatasetError, match="cannot read"):
        load_dataset(str(broken))
    bad_json = tmp_path / "data.jsonl"
    bad_json.write_text('{"target": 1}\n[1, 2]\n')
    with pytest.raises(DatasetError, match="line 2: expected a JSON object"):
        load_dataset(str(bad_json))
    nested = tmp_path / "nested.jsonl"
    nested.write_text('{"x": [1, 2], "target": 1}\n')
    with pytest.raises(DatasetError, match="column 'x', row 0: unsupported value"):
        load_dataset(str(nested))


def test_a_file_named_like_a_bundled_set_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "phishing", [{"x": 1, "target": 2.0}])
    with pytest.raises(DatasetError, match="unsupported format"):
        load_dataset("phishing")


# Fingerprint -------------------------------------------------------------------------------------

ROWS = [{"b": 1, "a": "x", "c": None, "d": True, "e": 0.1}]


def test_fingerprint_is_canonical_and_sensitive():
    assert fingerprint(ROWS, [1.5]) == fingerprint([dict(reversed(list(ROWS[0].items())))], [1.5])
    assert fingerprint(ROWS, [1.5]) != fingerprint(ROWS, [1.0])
    assert fingerprint(ROWS, [1]) != fingerprint(ROWS, [1.0])  # an int label is not a float label
    assert len(fingerprint([], [])) == 64


def test_fingerprint_is_stable_across_processes():
    # String hashing is randomised per process; the fingerprint must not depend on it.
    code = "from stream.training.datasets import fingerprint; print(fingerprint(%r, [1.5]))" % (ROWS,)
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env=dict(os.environ, PYTHONHASHSEED=seed)).stdout.strip()
        for seed in ("1", "2")
    }
    assert outputs == {fingerprint(ROWS, [1.5])}


def test_a_csv_is_read_for_training_as_batch_prediction_reads_it(tmp_path):
    """"NA" in a text column is a value to both (only an empty cell is missing there); in a number
    column it is missing to both. Read otherwise, the baseline would count a city called "NA" as
    missing and the live "NA" would look like an unseen category."""
    from stream.batch.readers import read_chunks
    from stream.model.schema import FeatureSchema
    from stream.training.trainer import train

    path = tmp_path / "na.csv"
    path.write_text("city,age,code,y\n" + "NA,3,007,1\nParis,NA,A1,0\n,5,B2,1\nnull,7,008,0\n" * 5)
    data = load_dataset(str(path), target="y")
    assert [row["city"] for row in data.rows[:4]] == ["NA", "Paris", None, "null"]
    assert [row["age"] for row in data.rows[:4]] == [3, None, 5, 7] and data.rows[0]["code"] == "007"
    schema = FeatureSchema.from_dict(train(data, "hoeffding-tree", "na-check", holdout=0.0).metadata["schema"])
    [chunk] = read_chunks(path, "csv", schema, "id", 1000)
    assert chunk.rows == data.rows
