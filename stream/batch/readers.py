"""Chunked reading of CSV, JSONL and Parquet rows for batch prediction, as plain Python values.

Rows reach :meth:`FeatureSchema.validate` as the stream's events do: dicts of ``int``, ``float``,
``str``, ``bool`` and ``None``, never numpy or pandas scalars. A blank CSV cell, a Parquet null and
a NaN in a CSV or Parquet float column are missing values (``None``), as in
:mod:`stream.training.datasets`; JSONL lines are decoded with ``decode_json`` exactly as the stream decodes
events, so the same bytes give the same answer.

CSV has no types, so the model's schema types its columns: string features and the id column are
read as text (``"007"`` stays ``"007"``, and ``"NA"``, ``"null"`` or ``"None"`` stay those strings,
as they would in an event: only an empty cell is missing), and a number or bool feature whose
column holds some
unparseable text keeps its good cells as numbers or bools while the bad ones stay text (and are
rejected as ``wrong_type``, one row at a time, as the stream would reject them). Floats are parsed
round-trip exact.

Conversion is vectorised per chunk (pandas ``tolist``, pyarrow ``to_pylist``); only a column that
needs it (NaN to None, text coercion) gets a Python pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, NamedTuple

from stream.errors import BatchError
from stream.model.decoding import decode_json
from stream.model.schema import BOOL, NUMBER, STRING, FeatureSchema, InvalidInput

FORMATS = ("csv", "jsonl", "parquet")
SUFFIX_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
# pandas' default spellings of booleans in CSV (read_csv true_values / false_values).
_CSV_TRUE, _CSV_FALSE = frozenset({"True", "TRUE", "true"}), frozenset({"False", "FALSE", "false"})
# pandas' default spellings of a missing value (read_csv na_values), for number and bool columns.
_CSV_MISSING = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)


class Unparsed(NamedTuple):
    """A JSONL line that is not a JSON object: its error, and its text for the rejected file."""

    error: InvalidInput
    raw: str


@dataclass
class Chunk:
    start: int  # row number (0-based) of the first row
    rows: list  # a feature dict per row, or Unparsed
    ids: list | None  # the id column's value as text per row (None where missing); None: no id column
    done: float | None  # share of the input read so far, when known


def detect_format(path: str | Path, override: str | None = None) -> str:
    """The file format: ``override`` when given, else from the suffix.

    >>> detect_format("scores.ndjson"), detect_format("x.data", "csv")
    ('jsonl', 'csv')
    >>> detect_format("x.data")
    Traceback (most recent call last):
    ...
    stream.errors.BatchError: cannot tell the format of x.data from its suffix: use .csv, .jsonl, .ndjson, .parquet, .pq or pass the format (csv, jsonl, parquet)
    """
    if override:
        if override not in FORMATS:
            raise BatchError(f"unknown format {override!r}; formats: {', '.join(FORMATS)}")
        return override
    fmt = SUFFIX_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise BatchError(
            f"cannot tell the format of {path} from its suffix: use {', '.join(SUFFIX_FORMATS)} "
            f"or pass the format ({', '.join(FORMATS)})"
        )
    return fmt


def read_chunks(path: str | Path, fmt: str, schema: FeatureSchema, id_column: str, chunk_rows: int) -> Iterator[Chunk]:
    """Chunks of at most ``chunk_rows`` rows; :class:`BatchError` when the input cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise BatchError(f"input file not found: {path}")
    readers = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}
    try:
        yield from readers[fmt](path, schema, id_column, chunk_rows)
    except BatchError:
        raise
    except Exception as exc:  # pandas and pyarrow raise many types for one cause: a bad file
        raise BatchError(f"cannot read {path} as {fmt}: {type(exc).__name__}: {exc}") from exc


def _wanted(names: list[str], schema: FeatureSchema, id_column: str) -> list[str] | None:
    """Columns worth converting: the model's features and the id (None: all, when none is there)."""
    wanted = [n for n in names if n in schema.kinds or n == id_column]
    return wanted or None


# CSV ---------------------------------------------------------------------------------------------


def _read_csv(path: Path, schema: FeatureSchema, id_column: str, chunk_rows: int) -> Iterator[Chunk]:
    import pandas as pd  # heavy: only batch reading needs it

    header = [str(c) for c in pd.read_csv(path, nrows=0).columns]
    wanted = _wanted(header, schema, id_column)
    text = {n: str for n in header if schema.kinds.get(n) == STRING or (n == id_column and n not in schema.kinds)}
    missing = {n: [""] if n in text else list(_CSV_MISSING) for n in header}
    size = max(path.stat().st_size, 1)
    start = 0
    with path.open("rb") as handle:  # our own handle: its position measures progress
        frames = pd.read_csv(handle, chunksize=chunk_rows, usecols=wanted, dtype=text, float_precision="round_trip",
                             keep_default_na=False, na_values=missing)
        for frame in frames:
            columns = {str(n): _csv_column(frame[n], schema.kinds.get(str(n))) for n in frame.columns}
            rows, ids = _rows_and_ids(columns, len(frame), schema, id_column)
            yield Chunk(start, rows, ids, min(handle.tell() / size, 1.0))
            start += len(frame)


def _csv_column(series: Any, kind: str | None) -> list:
    values = series.tolist()  # numpy scalars become Python ones, in C
    if series.dtype == object:
        return [_csv_cell(v, kind) for v in values]
    if series.dtype.kind == "f" and series.hasnans:
        return [None if v != v else v for v in values]  # v != v: NaN
    return values


def _csv_cell(value: Any, kind: str | None) -> Any:
    """One cell of a text (object) column: missing, or typed as the schema expects when it parses."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if not isinstance(value, str):
        return value
    if kind == NUMBER and "_" not in value:  # int()/float() accept "1_000"; pandas does not
        for parse in (int, float):
            try:
                return parse(value)
            except ValueError:
                pass
    elif kind == BOOL:
        if value in _CSV_TRUE:
            return True
        if value in _CSV_FALSE:
            return False
    return value


# Parquet -----------------------------------------------------------------------------------------


def _read_parquet(path: Path, schema: FeatureSchema, id_column: str, chunk_rows: int) -> Iterator[Chunk]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    total = max(parquet.metadata.num_rows, 1)
    wanted = _wanted(parquet.schema_arrow.names, schema, id_column)
    start = 0
    for batch in parquet.iter_batches(batch_size=chunk_rows, columns=wanted):
        columns = {}
        for name, column in zip(batch.schema.names, batch.columns):
            if pa.types.is_floating(column.type) and column.null_count < len(column):
                column = pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)  # NaN is missing
            columns[name] = column.to_pylist()
        rows, ids = _rows_and_ids(columns, batch.num_rows, schema, id_column)
        start += batch.num_rows
        yield Chunk(start - batch.num_rows, rows, ids, start / total)


# JSONL -------------------------------------------------------------------------------------------


def _read_jsonl(path: Path, schema: FeatureSchema, id_column: str, chunk_rows: int) -> Iterator[Chunk]:
    size = max(path.stat().st_size, 1)
    start = 0
    rows: list = []
    ids: list = []
    with path.open("rb") as handle:
        for line in handle:
            if not line.strip():
                continue
            row = _parse_line(line)
            ids.append(_text_id(row.get(id_column)) if type(row) is dict else None)
            rows.append(schema.row_features(row))  # an event kept from the stream: its features
            if len(rows) >= chunk_rows:
                yield Chunk(start, rows, _some(ids), min(handle.tell() / size, 1.0))
                start += len(rows)
                rows, ids = [], []
    if rows:
        yield Chunk(start, rows, _some(ids), 1.0)


def _some(ids: list) -> list | None:
    """None when no line has an id: the output then falls back to row numbers."""
    return ids if any(i is not None for i in ids) else None


def _parse_line(line: bytes) -> dict | Unparsed:
    """One line as the stream parses an event's bytes (:func:`~stream.model.decoding.decode_json`)."""
    try:
        value = decode_json(line)
    except InvalidInput as error:
        return Unparsed(error, line.decode("utf-8", "replace").rstrip("\r\n"))
    if not isinstance(value, dict):
        return Unparsed(InvalidInput("not_an_object", f"a row must be a JSON object, got {type(value).__name__}"), line.decode("utf-8", "replace").rstrip("\r\n"))
    return value


# Shared ------------------------------------------------------------------------------------------


def _rows_and_ids(columns: dict[str, list], count: int, schema: FeatureSchema, id_column: str) -> tuple[list, list | None]:
    ids = None
    if id_column in columns:
        # The id is not a feature, unless the model has a feature of that name.
        raw_ids = columns[id_column] if id_column in schema.kinds else columns.pop(id_column)
        ids = [_text_id(v) for v in raw_ids]
    names = list(columns)
    if not names:
        return [{} for _ in range(count)], ids
    return [dict(zip(names, values)) for values in zip(*columns.values())], ids


def _text_id(value: Any) -> str | None:
    """Ids travel as text, as on the predictions topic (``str(event_id)``)."""
    return None if value is None else value if type(value) is str else str(value)
