"""Writers of batch predictions (CSV, JSONL, Parquet) and of rejected rows, a chunk at a time.

Output layout, one row per scored input row:

* CSV and Parquet: the id column (named as the input's, its values as text) or, when the input
  has no id column, ``row`` (the 0-based row number); ``prediction``; for classifiers one
  ``proba_<class>`` column per class of the artifact (empty where the model gave that class no
  probability).
* JSONL: ``{"<id column>": "...", "prediction": ..., "proba": {class: p}}`` per line, the
  ``predictions`` topic's fields; ``"row": n`` replaces the id on a line whose input had none.

Rejected rows go to a JSONL file: ``{"row", "<id column>"?, "reason", "detail", "input"}`` with the
stream's dead-letter reasons. Every file is written under a temporary name next to its target
and renamed when complete, so a failed run never leaves a truncated file that looks finished.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

ROW_COLUMN = "row"


@dataclass
class ScoredChunk:
    rows: list[int]  # row numbers of the scored rows
    ids: list | None  # their ids (text, or None where missing); None: the input has no id column
    predictions: list
    probas: list[dict] | None  # classifiers only


class _AtomicFile:
    """A file written under a temporary name and moved into place by :meth:`commit`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")

    def commit(self) -> None:
        os.replace(self.temp, self.path)

    def discard(self) -> None:
        self.temp.unlink(missing_ok=True)


class PredictionWriter:
    """Opens its file at the first chunk (which tells whether the input has ids), then appends."""

    def __init__(self, path: str | Path, *, id_column: str, classifier: bool, classes: list | None):
        self.target = _AtomicFile(path)
        self.id_column = id_column
        self.classifier = classifier
        self.classes = classes
        self.proba_columns: list[str] = [str(c) for c in classes] if classes else []
        self.opened = False

    def write(self, chunk: ScoredChunk) -> None:
        if not self.opened:
            if self.classifier and not self.classes and chunk.probas:
                self.proba_columns = list(chunk.probas[0])  # an artifact that does not list its classes
            # The first chunk decides: the input's ids, or row numbers when it has none.
            self.key_column = self.id_column if chunk.ids is not None else ROW_COLUMN
            self._open(chunk)
            self.opened = True
        if chunk.rows:
            self._write(chunk)

    def close(self) -> None:
        """Finish the file and move it into place (an input without rows gives a header only)."""
        if not self.opened:
            self.write(ScoredChunk([], None, [], [] if self.classifier else None))
        self._close()
        self.target.commit()

    def abort(self) -> None:
        try:
            if self.opened:
                self._close()
        finally:
            self.target.discard()

    def _keys(self, chunk: ScoredChunk) -> list:
        if self.key_column == ROW_COLUMN:
            return chunk.rows
        return chunk.ids if chunk.ids is not None else [None] * len(chunk.rows)

    def _proba_lists(self, chunk: ScoredChunk) -> list[list]:
        probas = chunk.probas or []
        return [[p.get(c) for p in probas] for c in self.proba_columns]

    def _open(self, chunk: ScoredChunk) -> None:
        raise NotImplementedError

    def _write(self, chunk: ScoredChunk) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError


class CsvWriter(PredictionWriter):
    def _open(self, chunk: ScoredChunk) -> None:
        self.handle = self.target.temp.open("w", newline="", encoding="utf-8")
        self.csv = csv.writer(self.handle)
        self.csv.writerow([self.key_column, "prediction"] + [f"proba_{c}" for c in self.proba_columns])

    def _write(self, chunk: ScoredChunk) -> None:
        # The csv module writes floats with repr(): they read back exactly.
        self.csv.writerows(zip(self._keys(chunk), chunk.predictions, *self._proba_lists(chunk)))

    def _close(self) -> None:
        self.handle.close()


class JsonlWriter(PredictionWriter):
    def _open(self, chunk: ScoredChunk) -> None:
        self.handle = self.target.temp.open("w", encoding="utf-8")

    def _write(self, chunk: ScoredChunk) -> None:
        ids = chunk.ids if chunk.ids is not None else [None] * len(chunk.rows)
        probas = chunk.probas if chunk.probas is not None else [None] * len(chunk.rows)
        lines = []
        for row, id_, prediction, proba in zip(chunk.rows, ids, chunk.predictions, probas):
            record = {ROW_COLUMN: row} if id_ is None else {self.id_column: id_}
            record["prediction"] = prediction
            if proba is not None:
                record["proba"] = proba
            lines.append(json.dumps(record, separators=(",", ":")))
        self.handle.write("\n".join(lines) + "\n")

    def _close(self) -> None:
        self.handle.close()


class ParquetWriter(PredictionWriter):
    def _open(self, chunk: ScoredChunk) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.classifier:
            prediction_type = pa.float64()
        else:
            prediction_type = _arrow_type(self.classes if self.classes else chunk.predictions)
        self.stringify = prediction_type == pa.string()
        fields = [
            pa.field(self.key_column, pa.int64() if self.key_column == ROW_COLUMN else pa.string()),
            pa.field("prediction", prediction_type),
        ] + [pa.field(f"proba_{c}", pa.float64()) for c in self.proba_columns]
        self.schema = pa.schema(fields)
        self.writer = pq.ParquetWriter(self.target.temp, self.schema)

    def _write(self, chunk: ScoredChunk) -> None:
        import pyarrow as pa

        predictions = [str(p) for p in chunk.predictions] if self.stringify else chunk.predictions
        columns = [self._keys(chunk), predictions] + self._proba_lists(chunk)
        arrays = [pa.array(values, type=field.type) for values, field in zip(columns, self.schema)]
        self.writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))

    def _close(self) -> None:
        self.writer.close()


def _arrow_type(values: Iterable[Any]) -> Any:
    """A column type that holds every label: bool, int64, float64, else text."""
    import pyarrow as pa

    kinds = {type(v) for v in values}
    if kinds and kinds <= {bool}:
        return pa.bool_()
    if kinds and kinds <= {int}:
        return pa.int64()
    if kinds and kinds <= {int, float}:
        return pa.float64()
    return pa.string()


WRITERS = {"csv": CsvWriter, "jsonl": JsonlWriter, "parquet": ParquetWriter}


class RejectedWriter:
    """The rejected rows with their reasons, as JSONL (created even when nothing is rejected)."""

    def __init__(self, path: str | Path, id_column: str):
        self.target = _AtomicFile(path)
        self.id_column = id_column
        self.handle = self.target.temp.open("w", encoding="utf-8")
        self.count = 0

    def write(self, records: list[tuple[int, str | None, Any, Any]]) -> None:
        """``records``: (row number, id, InvalidInput, the row as read) per rejected row."""
        lines = []
        for row, id_, error, value in records:
            record: dict[str, Any] = {ROW_COLUMN: row}
            if id_ is not None:
                record[self.id_column] = id_
            record.update(reason=error.reason, detail=error.detail, input=value)
            try:
                lines.append(json.dumps(record, separators=(",", ":"), default=str, allow_nan=False))
            except ValueError:  # NaN or an infinity in the input: written as text, so strict readers can read the line
                record["input"] = _finite_or_text(value)
                lines.append(json.dumps(record, separators=(",", ":"), default=str))
        if lines:
            self.handle.write("\n".join(lines) + "\n")
            self.count += len(lines)

    def close(self) -> None:
        self.handle.close()
        self.target.commit()

    def abort(self) -> None:
        self.handle.close()
        self.target.discard()


def _finite_or_text(value: Any) -> Any:
    """``value`` with every NaN and infinity replaced by its text, which JSON can hold.

    >>> _finite_or_text({"age": float("inf"), "n": [float("nan"), 1.5], "s": "x"})
    {'age': 'inf', 'n': ['nan', 1.5], 's': 'x'}
    """
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite_or_text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_text(v) for v in value]
    return value
