"""Column kinds and getting one column's values out of rows, a DataFrame or a list of predictions.

The kinds are those of the feature schema (``number``, ``string``, ``bool``) plus ``category``
for labels of any type (integer class labels, for instance). ``number`` columns are treated as
numeric; the others as categorical.

>>> rows = [{"age": 31, "city": "Lyon"}, {"age": None, "city": "Oslo"}, {"city": None}]
>>> numeric_array(column_values(rows, "age"), "age")
array([31., nan, nan])
>>> category_values(column_values(rows, "city"))
['Lyon', 'Oslo', None]
>>> category_values(["a", float("nan"), np.int64(3), float("inf"), 2.5])
['a', None, 3, None, 2.5]
>>> infer_kind([True, False, None]), infer_kind([1, 2.5]), infer_kind(["a", 1])
('bool', 'number', 'string')
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .exceptions import DataError

NUMBER, STRING, BOOL, CATEGORY = "number", "string", "bool", "category"
KINDS = (NUMBER, STRING, BOOL, CATEGORY)

#: The single prediction column's name when predictions are given as plain values.
PREDICTION = "prediction"


def check_kinds(kinds: Mapping[str, str], what: str = "feature") -> dict[str, str]:
    """A copy of ``kinds`` after checking every kind is known (``ValueError`` otherwise)."""
    for name, kind in kinds.items():
        if kind not in KINDS:
            raise ValueError(f"{what} {name!r}: kind must be one of {KINDS}, got {kind!r}")
    return dict(kinds)


def is_numeric(kind: str) -> bool:
    return kind == NUMBER


def is_missing(value: Any) -> bool:
    """None and NaN are missing; so are infinities, which Evidently drops as it drops NaN."""
    if value is None:
        return True
    return isinstance(value, float) and not math.isfinite(value)


def column_values(data: Any, name: str) -> Sequence:
    """One column of a DataFrame (a Series) or of a list of dicts (absent keys are missing)."""
    if hasattr(data, "columns"):
        return data[name] if name in data.columns else [None] * len(data)
    return [row.get(name) for row in data]


def numeric_array(values: Sequence, name: str) -> np.ndarray:
    """A float array with NaN for every missing or infinite value; booleans count as 0 and 1."""
    try:
        if hasattr(values, "to_numpy"):
            array = values.to_numpy(dtype=float, na_value=np.nan)
        else:
            array = np.array(values, dtype=float)  # None becomes NaN
    except (TypeError, ValueError) as exc:
        raise DataError(f"column {name!r} is numeric but holds a non-numeric value ({exc})") from None
    if array.ndim != 1:
        raise DataError(f"column {name!r} must be one-dimensional, got shape {array.shape}")
    array = np.array(array, dtype=float, copy=True)
    array[~np.isfinite(array)] = np.nan
    return array


#: Types whose values are never missing but for None and need no unwrapping: a column of only these
#: is returned as it is (a batch's predicted labels, every batch), without a look at each value.
_PLAIN_TYPES = frozenset({str, bool, int, type(None)})


def category_values(values: Iterable) -> list:
    """Plain Python scalars (numpy scalars unwrapped, for JSON), None for every missing value."""
    if isinstance(values, list) and _PLAIN_TYPES.issuperset(map(type, values)):
        return list(values)
    out = []
    for value in values:
        if isinstance(value, np.generic):
            value = value.item()
        out.append(None if is_missing(value) else value)
    return out


def infer_kind(values: Iterable) -> str:
    """The kind of a column from its values: all booleans, all numbers, or else categorical."""
    found = set()
    for value in category_values(values):
        if value is None:
            continue
        if isinstance(value, bool):
            found.add(BOOL)
        elif isinstance(value, (int, float)):
            found.add(NUMBER)
        else:
            found.add(STRING)
    if found == {BOOL}:
        return BOOL
    if found == {NUMBER}:
        return NUMBER
    return STRING if found else NUMBER


def prediction_table(predictions: Any) -> tuple[Any, list[str]]:
    """Predictions as a table and its column names.

    Plain values (a list, an array, a Series) make one column named ``prediction``; dicts (or a
    DataFrame) keep their own column names, e.g. ``{"prediction": True, "proba": 0.91}``.
    """
    if hasattr(predictions, "columns"):
        return predictions, [str(c) for c in predictions.columns]
    values = list(predictions.tolist() if hasattr(predictions, "tolist") else predictions)
    if values and all(isinstance(v, Mapping) for v in values):
        names: dict[str, None] = {}
        for value in values:
            names.update(dict.fromkeys(value))
        return values, list(names)
    return [{PREDICTION: v} for v in values], [PREDICTION]
