"""Tabular data for training: a data set bundled with River, or a CSV, JSONL or Parquet file.

Every value that leaves this module is a plain Python scalar (int, float, str, bool or None),
never a numpy or pandas type: rows go straight into River models, JSON metadata and artifacts.

>>> ds = load_dataset("Phishing", limit=3)
>>> ds.task, ds.target, len(ds), ds.targets
('binary_classification', 'is_phishing', 3, [True, True, True])
>>> sorted(ds.rows[0])[:3]
['age_of_domain', 'anchor_from_other_domain', 'empty_server_form_handler']
>>> load_dataset("iris")
Traceback (most recent call last):
...
stream.errors.DatasetError: unknown data set 'iris': not a file, and not one of the bundled data sets (bananas, chickweights, imagesegments, phishing, shuttle, trumpapproval)
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from river import datasets as river_datasets

from stream.errors import DatasetError

BINARY, MULTICLASS, REGRESSION = "binary_classification", "multiclass_classification", "regression"
TASKS = (BINARY, MULTICLASS, REGRESSION)

BUNDLED = {
    "phishing": river_datasets.Phishing,
    "bananas": river_datasets.Bananas,
    "imagesegments": river_datasets.ImageSegments,
    "shuttle": river_datasets.Shuttle,
    "trumpapproval": river_datasets.TrumpApproval,
    "chickweights": river_datasets.ChickWeights,
}
# River reads these targets from its files but does not expose their names.
_BUNDLED_TARGETS = {
    "phishing": "is_phishing",
    "bananas": "label",
    "imagesegments": "category",
    "shuttle": "anomaly",
    "trumpapproval": "five_thirty_eight",
    "chickweights": "weight",
}
TARGET_CANDIDATES = ("target", "label", "y")
SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")
# Above this many distinct labels a column is more likely a free-text field than a class.
MAX_CLASSES = 50


@dataclass
class Dataset:
    """Features (``rows``) and labels (``targets``), aligned by position."""

    name: str
    task: str
    target: str
    rows: list[dict] = field(repr=False)
    targets: list = field(repr=False)
    ids: list[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if len(self.rows) != len(self.targets) or (self.ids is not None and len(self.ids) != len(self.rows)):
            raise ValueError("rows, targets and ids must have the same length")

    def __len__(self) -> int:
        return len(self.rows)


def load_dataset(
    name_or_path: str,
    target: str | None = None,
    task: str | None = None,
    limit: int | None = None,
    id_column: str = "id",
) -> Dataset:
    """Load a bundled data set by name (case-insensitive) or a ``.csv``/``.jsonl``/``.ndjson``/``.parquet`` file.

    ``task`` is inferred when not given; ``limit`` keeps the first rows only. A file's
    ``id_column``, when present, becomes ``ids`` and is not a feature (``""`` disables it).
    CSV cells are typed by pandas: text that looks like a number ("007") is read as one.
    """
    if task is not None and task not in TASKS:
        raise DatasetError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")
    if limit is not None and limit < 1:
        raise DatasetError(f"limit must be at least 1, got {limit}")
    name = str(name_or_path)
    path = Path(name)
    # A file of that name wins, so that "./phishing" style paths are never shadowed.
    if name.lower() in BUNDLED and not path.is_file():
        return _load_bundled(name.lower(), target, task, limit)
    if not path.exists():
        if path.suffix.lower() in SUFFIXES:
            raise DatasetError(f"data file not found: {name}")
        raise DatasetError(
            f"unknown data set {name!r}: not a file, and not one of the bundled data sets "
            f"({', '.join(sorted(BUNDLED))})"
        )
    if not path.is_file():
        raise DatasetError(f"{name} is not a file")
    columns = _read_columns(path, limit)
    return _from_columns(name, columns, target, task, id_column)


def fingerprint(rows: Iterable[dict], targets: Iterable[Any]) -> str:
    """SHA-256 of a canonical JSON encoding of the rows and targets, stable across runs and machines.

    >>> fingerprint([{"b": 1, "a": "x"}], [True]) == fingerprint([{"a": "x", "b": 1}], [True])
    True
    >>> fingerprint([{"a": 1}], [0])[:16]
    '81fa3ef28fc483f2'
    """
    digest = hashlib.sha256()
    # One line per example: hashing incrementally never builds the whole document in memory.
    for row, label in zip(rows, targets, strict=True):
        line = json.dumps([row, label], sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()


# Bundled data sets ---------------------------------------------------------------------------


def _load_bundled(key: str, target: str | None, task: str | None, limit: int | None) -> Dataset:
    known_target = _BUNDLED_TARGETS[key]
    if target is not None and target != known_target:
        raise DatasetError(f"bundled data set {key!r} has the fixed target {known_target!r}, not {target!r}")
    river_set = BUNDLED[key]()
    rows, targets = [], []
    for i, (x, y) in enumerate(river_set):
        if limit is not None and i >= limit:
            break
        rows.append({str(k): _plain(v, k, i) for k, v in x.items()})
        targets.append(_plain(y, known_target, i))
    if task is None:
        if river_set.task == river_datasets.base.REG:
            task = REGRESSION
        elif river_set.task in (river_datasets.base.BINARY_CLF, river_datasets.base.MULTI_CLF):
            # River's label can be wrong about the label count (it has been for Shuttle): count.
            task = BINARY if len(set(targets)) <= 2 else MULTICLASS
        else:  # pragma: no cover - BUNDLED only lists tabular single-target sets
            raise DatasetError(f"bundled data set {key!r} has an unsupported task {river_set.task!r}")
    _check_task(task, targets, key)
    return Dataset(name=key, task=task, target=known_target, rows=rows, targets=targets)


# Files ---------------------------------------------------------------------------------------


def _read_columns(path: Path, limit: int | None) -> dict[str, list]:
    """The file's columns as lists of plain values, in file order."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".ndjson"):
            return _read_jsonl(path, limit)
        if suffix == ".csv":
            import pandas as pd  # heavy: only data loading needs it

            # Nullable dtypes keep an int column with a blank cell as ints, not floats.
            frame = pd.read_csv(path, nrows=limit, dtype_backend="numpy_nullable")
            # In a text column only an empty cell is missing, as batch prediction reads it ("NA" is
            # a city's text there): pandas' other spellings of missing, taken here, would make the
            # baseline count them as missing and the live "NA" an unseen category.
            text = [name for name in frame.columns if pd.api.types.is_object_dtype(frame[name])
                    or pd.api.types.is_string_dtype(frame[name])]
            if text:
                exact = pd.read_csv(path, nrows=limit, usecols=text, dtype=str, keep_default_na=False, na_values=[""])
                for name in text:
                    frame[name] = exact[name].astype(object).where(exact[name].notna(), None)
        elif suffix == ".parquet":
            import pandas as pd

            frame = pd.read_parquet(path, dtype_backend="numpy_nullable")
            if limit is not None:
                frame = frame.head(limit)
        else:
            raise DatasetError(f"cannot read {path}: unsupported format {suffix or '(no suffix)'}; use one of {', '.join(SUFFIXES)}")
    except DatasetError:
        raise
    except Exception as exc:  # pandas and pyarrow raise many types for one cause: a bad file
        raise DatasetError(f"cannot read {path}: {type(exc).__name__}: {exc}") from exc
    # tolist() turns numpy scalars into Python ones, column by column (fast).
    return {
        str(name): [_plain(v, name, i) for i, v in enumerate(frame[name].tolist())]
        for name in frame.columns
    }


def _read_jsonl(path: Path, limit: int | None) -> dict[str, list]:
    records = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            if limit is not None and len(records) >= limit:
                break
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise DatasetError(f"{path}, line {number}: invalid JSON: {exc}") from None
            if not isinstance(record, dict):
                raise DatasetError(f"{path}, line {number}: expected a JSON object, got {type(record).__name__}")
            records.append(record)
    names = list(dict.fromkeys(name for record in records for name in record))
    # A key absent from a record is a missing value, as a blank CSV cell is.
    return {name: [_plain(r.get(name), name, i) for i, r in enumerate(records)] for name in names}


def _from_columns(name: str, columns: dict[str, list], target: str | None, task: str | None, id_column: str) -> Dataset:
    if not columns:
        raise DatasetError(f"{name} has no columns")
    listed = ", ".join(columns)
    if target is None:
        target = next((c for c in TARGET_CANDIDATES if c in columns), None)
        if target is None:
            raise DatasetError(
                f"{name}: no target column named {' / '.join(TARGET_CANDIDATES)}; pass the target; columns: {listed}"
            )
    elif target not in columns:
        raise DatasetError(f"{name}: target column {target!r} not found; columns: {listed}")
    targets = columns.pop(target)
    missing = [i for i, label in enumerate(targets) if label is None]
    if missing:
        raise DatasetError(f"{name}: target {target!r} is missing in {len(missing)} rows (first: row {missing[0]})")
    if not targets:
        raise DatasetError(f"{name} has no rows")
    ids = None
    if id_column and id_column in columns:
        raw_ids = columns.pop(id_column)
        if any(v is None for v in raw_ids):
            raise DatasetError(f"{name}: id column {id_column!r} has missing values")
        ids = [str(v) for v in raw_ids]
    names = list(columns)
    rows = [dict(zip(names, values)) for values in zip(*columns.values())] if names else [{} for _ in targets]
    task = task or infer_task(targets, name)
    _check_task(task, targets, name)
    return Dataset(name=name, task=task, target=target, rows=rows, targets=targets, ids=ids)


# Values and tasks ----------------------------------------------------------------------------


def infer_task(targets: list, name: str = "data set") -> str:
    """The task a list of labels suggests.

    >>> infer_task([True, False, True]), infer_task(["a", "b", "c"]), infer_task([0.5, 1.5, 2.5])
    ('binary_classification', 'multiclass_classification', 'regression')
    >>> infer_task([1, 2, 3] * 100), infer_task(list(range(300)))
    ('multiclass_classification', 'regression')
    """
    distinct = set(targets)
    if all(isinstance(v, bool) for v in targets) or len(distinct) == 2:
        return BINARY
    if any(isinstance(v, str) for v in distinct):
        if len(distinct) <= MAX_CLASSES:
            return MULTICLASS
        raise DatasetError(
            f"{name}: the target has {len(distinct)} distinct text values (more than {MAX_CLASSES}); "
            f"pass task='{MULTICLASS}' if these really are classes"
        )
    if all(isinstance(v, int) for v in distinct) and len(distinct) <= MAX_CLASSES and len(distinct) < 0.05 * len(targets):
        return MULTICLASS
    return REGRESSION


def _check_task(task: str, targets: list, name: str) -> None:
    distinct = set(targets)
    if task == REGRESSION:
        bad = next((v for v in distinct if isinstance(v, bool) or not isinstance(v, (int, float))), None)
        if bad is not None:
            raise DatasetError(f"{name}: regression needs numeric targets, found {bad!r}")
    elif task == BINARY and len(distinct) > 2:
        raise DatasetError(
            f"{name}: binary classification needs at most 2 classes, found {len(distinct)}; use {MULTICLASS}"
        )


def _plain(value: Any, column: Any, row: int) -> Any:
    """A plain Python scalar, or None for a missing value (None, NaN, pandas NA/NaT)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if type(value).__name__ in ("NAType", "NaTType"):  # pandas' missing markers, without importing pandas
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict)):  # numpy scalars
        try:
            return _plain(value.item(), column, row)
        except (TypeError, ValueError):
            pass
    raise DatasetError(
        f"column {column!r}, row {row}: unsupported value {value!r} ({type(value).__name__}); "
        "features and targets must be numbers, strings, booleans or missing"
    )

