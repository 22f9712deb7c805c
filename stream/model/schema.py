"""Feature schemas: inferred from training rows, enforced on every event and every batch row.

Standard library only: the same checks run in the stream, over HTTP, in batch prediction and on
an edge device with nothing but River installed.

>>> schema = FeatureSchema.infer([{"age": 31, "city": "Lyon", "vip": False}, {"age": 40.5, "city": "Oslo", "vip": True}])
>>> schema.kinds
{'age': 'number', 'city': 'string', 'vip': 'bool'}
>>> schema.validate({"age": 22, "city": "Rome", "vip": True, "extra": 1})
{'age': 22, 'city': 'Rome', 'vip': True}
>>> schema.validate({"age": "22", "city": "Rome", "vip": True})
Traceback (most recent call last):
...
stream.model.schema.InvalidInput: wrong_type: feature 'age' must be a number, got str '22'
"""

from __future__ import annotations

import math
import sys
from typing import Any, Iterable, Mapping

from stream.errors import DriftlineError

NUMBER, STRING, BOOL = "number", "string", "bool"
#: Ints beyond this do not fit in a float: ``float(x)`` raises OverflowError.
FLOAT_MAX = sys.float_info.max
KINDS = (NUMBER, STRING, BOOL)


class InvalidInput(DriftlineError):
    """An event or row that cannot be scored. ``reason`` is a stable code for the dead-letter topic.

    Reasons: ``oversized``, ``invalid_json``, ``unprocessable``, ``not_an_object``, ``missing_id``,
    ``invalid_field``, ``unknown_model``, ``no_champion``, ``missing_feature``, ``wrong_type``,
    ``not_finite``, ``prediction_failed``, ``processing_error``; for labels also ``missing_label``,
    ``invalid_label``, ``model_mismatch`` and ``unmatched_label`` (the README's list).
    """

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        # The message's id and model, where they were read before the error: its dead letter names them.
        self.event_id: str | None = None
        self.model: str | None = None


def kind_of(value: Any) -> str | None:
    """The schema kind of one value, or None for a missing value (None or NaN).

    >>> [kind_of(v) for v in (1, 2.5, True, "a", None, float("nan"))]
    ['number', 'number', 'bool', 'string', None, None]
    """
    if value is None:
        return None
    if isinstance(value, bool):  # before int: bool is a subclass of int
        return BOOL
    if isinstance(value, (int, float)):
        return None if isinstance(value, float) and math.isnan(value) else NUMBER
    if hasattr(value, "item") and callable(value.item):  # numpy / pandas scalars
        return kind_of(value.item())
    return STRING


class FeatureSchema:
    """Feature names with their kind (number, string, bool) and whether they may be missing."""

    def __init__(self, kinds: Mapping[str, str], nullable: Iterable[str] = ()):
        for name, kind in kinds.items():
            if kind not in KINDS:
                raise ValueError(f"feature {name!r}: kind must be one of {KINDS}, got {kind!r}")
        self.kinds = dict(kinds)
        self.nullable = frozenset(nullable)
        unknown = self.nullable - self.kinds.keys()
        if unknown:
            raise ValueError(f"nullable features not in the schema: {sorted(unknown)}")
        # Checked in this order on the hot path; precomputed once.
        self._checks = [(name, kind, name in self.nullable) for name, kind in self.kinds.items()]

    @classmethod
    def infer(cls, rows: Iterable[Mapping[str, Any]]) -> "FeatureSchema":
        """Infer kinds from rows; a feature seen missing in any row becomes nullable.

        Numbers and booleans in one column make it a number column; anything with a string in it
        becomes a string column.
        """
        seen: dict[str, set[str]] = {}
        missing: set[str] = set()
        count = 0
        for row in rows:
            count += 1
            for name in seen.keys() - row.keys():
                missing.add(name)
            for name, value in row.items():
                if name not in seen:
                    seen[name] = set()
                    if count > 1:
                        missing.add(name)
                kind = kind_of(value)
                if kind is None:
                    missing.add(name)
                else:
                    seen[name].add(kind)
        kinds = {}
        for name, found in seen.items():
            if STRING in found:
                kinds[name] = STRING
            elif NUMBER in found:
                kinds[name] = NUMBER
            elif BOOL in found:
                kinds[name] = BOOL
            else:
                kinds[name] = NUMBER  # never observed with a value: accept numbers, allow missing
                missing.add(name)
        return cls(kinds, nullable=missing & kinds.keys())

    def validate(self, features: Any) -> dict:
        """Return the features the model uses, or raise :class:`InvalidInput` saying what is wrong."""
        if not isinstance(features, dict):
            raise InvalidInput("invalid_field", f"'features' must be an object, got {type(features).__name__}")
        clean = {}
        for name, kind, nullable in self._checks:
            value = features.get(name)
            if value is None:
                if nullable:
                    continue
                raise InvalidInput("missing_feature", f"feature {name!r} is missing" if name not in features else
                                   f"feature {name!r} is null, and the model was trained without missing values in it")
            value_type = type(value)
            if kind == NUMBER:
                if value_type is float:
                    if not math.isfinite(value):
                        if math.isnan(value) and nullable:
                            continue
                        raise InvalidInput("not_finite", f"feature {name!r} is {value!r}")
                elif value_type is not int:
                    raise InvalidInput("wrong_type", _wrong(name, "a number", value))
                elif not -FLOAT_MAX <= value <= FLOAT_MAX:  # float(value) would overflow in the model
                    raise InvalidInput("not_finite", f"feature {name!r} is an integer too large for a float")
            elif kind == STRING:
                if value_type is not str:
                    raise InvalidInput("wrong_type", _wrong(name, "a string", value))
            elif value_type is not bool:
                raise InvalidInput("wrong_type", _wrong(name, "true or false", value))
            clean[name] = value
        return clean

    def row_features(self, row: Any) -> Any:
        """The features of a row read from a file: the row itself, or, for a line shaped like an
        event of the wire contract (``{"id", "model"?, "features": {...}, "label"?}``), its
        ``features`` object, so that events kept from the stream score as they are. A model with a
        feature named ``features`` takes every row as it is.

        >>> schema = FeatureSchema({"x": "number"})
        >>> schema.row_features({"id": "e1", "model": "m", "features": {"x": 1.0}})
        {'x': 1.0}
        >>> schema.row_features({"id": "e1", "x": 1.0})
        {'id': 'e1', 'x': 1.0}
        """
        if type(row) is dict and "features" not in self.kinds:
            features = row.get("features")
            if type(features) is dict:
                return features
        return row

    def to_dict(self) -> dict:
        return {"features": dict(self.kinds), "nullable": sorted(self.nullable)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FeatureSchema":
        return cls(data["features"], data.get("nullable", ()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FeatureSchema) and (self.kinds, self.nullable) == (other.kinds, other.nullable)

    def __repr__(self) -> str:
        return f"FeatureSchema({self.kinds!r}, nullable={sorted(self.nullable)!r})"


def _wrong(name: str, expected: str, value: Any) -> str:
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"feature {name!r} must be {expected}, got {type(value).__name__} {shown}"
