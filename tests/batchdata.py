"""Shared data for the batch, export and edge tests: mixed-type rows and files written from them.

The rows exercise what files get wrong: full-precision floats, ints, a string feature whose values
look like numbers ("007") or like a missing value ("NA"), booleans, and missing values in nullable features. ``DIRTY`` rows are
rejected by the schema with a known reason, whatever the path (stream, HTTP, CSV or JSONL file).
"""

from __future__ import annotations

import csv
import json
import math
import random
import urllib.request
from pathlib import Path

from stream.training.datasets import Dataset

# "007" must stay text, and "NA" a city (pandas reads it as missing by default).
CITIES = ["Lyon", "Oslo", "007", "NA", "Rome", None]


def mixed_rows(n: int, seed: int = 3) -> tuple[list[dict], list[str], list[float]]:
    """Rows, a class label per row (low/mid/high) and a numeric target per row."""
    rng = random.Random(seed)
    rows, labels, targets = [], [], []
    for _ in range(n):
        row = {
            "amount": rng.lognormvariate(3, 1),
            "count": rng.randint(0, 20),
            "city": rng.choice(CITIES),
            "vip": rng.random() < 0.3,
            "score": rng.random() if rng.random() > 0.15 else None,
        }
        signal = row["amount"] / 30 + row["count"] / 10 + (1.5 if row["vip"] else 0.0) + (row["score"] or 0.5)
        signal += 0.7 if row["city"] == "007" else 0.0
        signal += rng.gauss(0, 0.4)
        rows.append(row)
        labels.append("high" if signal > 3.4 else "mid" if signal > 2.2 else "low")
        targets.append(signal)
    return rows, labels, targets


def classification(n: int = 400) -> Dataset:
    rows, labels, _ = mixed_rows(n)
    return Dataset("mixed", "multiclass_classification", "label", rows, labels)


def regression(n: int = 400) -> Dataset:
    rows, _, targets = mixed_rows(n)
    return Dataset("mixed", "regression", "y", rows, targets)


def dirty_rows(base: dict) -> list[tuple[dict, str]]:
    """Rows that the schema of a model trained on ``mixed_rows`` rejects, with the reason."""
    return [
        (dict(base, amount=None), "missing_feature"),
        (dict(base, amount="abc"), "wrong_type"),
        (dict(base, vip="maybe"), "wrong_type"),
        (dict(base, amount=math.inf), "not_finite"),
    ]


def write_csv(path: Path, rows: list[dict], ids: list[str] | None = None) -> Path:
    names = list(dict.fromkeys(name for row in rows for name in row))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow((["id"] if ids else []) + names)
        for i, row in enumerate(rows):
            # csv writes floats with repr() and None as an empty cell.
            writer.writerow(([ids[i]] if ids else []) + [row.get(name) for name in names])
    return path


def write_jsonl(path: Path, rows: list[dict], ids: list[str] | None = None) -> Path:
    with path.open("w") as handle:
        for i, row in enumerate(rows):
            handle.write(json.dumps(({"id": ids[i]} if ids else {}) | row) + "\n")
    return path


def write_parquet(path: Path, rows: list[dict], ids: list[str] | None = None) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [({"id": ids[i]} if ids else {}) | row for i, row in enumerate(rows)]
    pq.write_table(pa.Table.from_pylist(records), path)
    return path


WRITERS = {"csv": write_csv, "jsonl": write_jsonl, "parquet": write_parquet}


def read_predictions(path: Path, fmt: str, key: str = "id", regression: bool = False) -> dict:
    """``{key value: {"prediction", "proba"?}}`` from a prediction file of any format.

    CSV cells are text: a regression's predictions are parsed back to floats, labels stay text.
    """
    if fmt == "jsonl":
        records = [json.loads(line) for line in path.read_text().splitlines()]
        return {r[key]: {k: v for k, v in r.items() if k in ("prediction", "proba")} for r in records}
    if fmt == "parquet":
        import pyarrow.parquet as pq

        records = pq.read_table(path).to_pylist()
    else:
        with path.open(newline="") as handle:
            records = list(csv.DictReader(handle))
    out = {}
    for record in records:
        prediction = record["prediction"]
        entry = {"prediction": float(prediction) if regression and fmt == "csv" else prediction}
        proba = {name[len("proba_"):]: value for name, value in record.items() if name.startswith("proba_")}
        if proba:
            entry["proba"] = {c: float(v) for c, v in proba.items() if v not in (None, "")}
        out[record[key] if fmt != "csv" or key != "row" else int(record[key])] = entry
    return out


def read_rejected(path: Path) -> dict:
    """``{row number: reason}`` from a rejected-rows file."""
    return {r["row"]: r["reason"] for r in map(json.loads, path.read_text().splitlines())}


def post(url: str, body) -> tuple[int, dict]:
    """POST JSON to a worker (``/predict``): the status and the decoded answer."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())
