"""Batch prediction: score a CSV, JSONL or Parquet file with an artifact, chunk by chunk.

Every row goes through :meth:`Predictor.score`, the validation and prediction code the stream and
``POST /predict`` run, so a row gets the same prediction, probabilities or rejection reason in a
file as in an event. Memory stays bounded by the chunk size whatever the file size: rows are read,
scored and appended to the output one chunk at a time. Rejected rows go, with the stream's
dead-letter reason, to a JSONL file next to the output (``OUTPUT.rejected.jsonl`` by default).

>>> import shutil, tempfile
>>> from pathlib import Path
>>> from river import linear_model
>>> from stream.model.artifact import Artifact
>>> meta = {"name": "demo", "task": "regression", "schema": {"features": {"x": "number"}}}
>>> scorer = Predictor.from_artifact(Artifact(metadata=meta, model=linear_model.LinearRegression()))
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "in.jsonl").write_text('{"id": "a", "x": 1.5}\\n{"id": "b", "x": "two"}\\n')
>>> summary = predict_file(scorer, folder / "in.jsonl", folder / "out.csv")
>>> summary.scored, dict(summary.rejected)
(1, {'wrong_type': 1})
>>> print((folder / "out.csv").read_text().strip())
id,prediction
a,0.0
>>> print((folder / "out.csv.rejected.jsonl").read_text().strip())
{"row":1,"id":"b","reason":"wrong_type","detail":"feature 'x' must be a number, got str 'two'","input":{"id":"b","x":"two"}}
>>> shutil.rmtree(folder)
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from stream.errors import BatchError
from stream.model.predictor import Predictor
from stream.model.schema import InvalidInput
from stream.progress import ProgressWriter

from .readers import Chunk, Unparsed, detect_format, read_chunks
from .writers import ROW_COLUMN, WRITERS, RejectedWriter, ScoredChunk

# Rows per chunk: large enough that per-chunk costs vanish, small enough to bound memory.
DEFAULT_CHUNK_ROWS = 20_000

Progress = Callable[[int, "float | None"], None]


@dataclass
class BatchSummary:
    rows: int
    scored: int
    seconds: float
    output: Path
    rejected_path: Path
    rejected: Counter = field(default_factory=Counter)  # reason -> rows
    key_column: str = "id"  # the output's key: the input's id column, or "row" (row numbers)

    @property
    def n_rejected(self) -> int:
        return sum(self.rejected.values())

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        """One line for people.

        >>> BatchSummary(10, 8, 2.0, Path("o.csv"), Path("o.csv.rejected.jsonl"), Counter(wrong_type=2)).describe()
        'scored 8 of 10 rows in 2.0s (5 rows/s) into o.csv; rejected 2 (wrong_type 2) into o.csv.rejected.jsonl'
        >>> BatchSummary(3, 3, 1.0, Path("o.csv"), Path("r.jsonl"), key_column="row").describe()
        'scored 3 of 3 rows in 1.0s (3 rows/s) into o.csv, keyed by row number (no id column in the input); rejected none'
        """
        line = f"scored {self.scored:,} of {self.rows:,} rows in {self.seconds:.1f}s ({self.rate:,.0f} rows/s) into {self.output}"
        if self.key_column == ROW_COLUMN:
            line += ", keyed by row number (no id column in the input)"
        if self.rejected:
            reasons = ", ".join(f"{reason} {count:,}" for reason, count in self.rejected.most_common())
            line += f"; rejected {self.n_rejected:,} ({reasons}) into {self.rejected_path}"
        else:
            line += "; rejected none"
        return line


def default_rejected_path(output: str | Path) -> Path:
    return Path(f"{output}.rejected.jsonl")


def predict_file(
    predictor: Predictor,
    input_path: str | Path,
    output_path: str | Path,
    *,
    input_format: str | None = None,
    output_format: str | None = None,
    id_column: str = "id",
    rejected_path: str | Path | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Progress | None = None,
) -> BatchSummary:
    """Score every row of ``input_path`` into ``output_path``; :class:`BatchError` if it cannot run.

    ``progress(rows_read, share_done)`` is called after each chunk (``share_done`` is None when the
    size of the input is unknown).
    """
    if chunk_rows < 1:
        raise BatchError(f"chunk size must be at least 1, got {chunk_rows}")
    input_path, output_path = Path(input_path), Path(output_path)
    rejected_path = Path(rejected_path) if rejected_path else default_rejected_path(output_path)
    input_fmt = detect_format(input_path, input_format)
    output_fmt = detect_format(output_path, output_format)
    _check_paths(input_path, output_path, rejected_path)

    started = time.perf_counter()
    chunks = read_chunks(input_path, input_fmt, predictor.schema, id_column, chunk_rows)
    first = next(chunks, None)  # an unreadable input fails here, before any output file exists
    writer = WRITERS[output_fmt](
        output_path, id_column=id_column, classifier=predictor.is_classifier, classes=predictor.metadata.get("classes")
    )
    rejects = RejectedWriter(rejected_path, id_column)
    summary = BatchSummary(0, 0, 0.0, output_path, rejected_path)
    try:
        for chunk in _prepend(first, chunks):
            scored, rejected = score_chunk(predictor, chunk)
            writer.write(scored)
            rejects.write(rejected)
            summary.rows += len(chunk.rows)
            summary.scored += len(scored.rows)
            summary.rejected.update(error.reason for _, _, error, _ in rejected)
            if progress is not None:
                progress(summary.rows, chunk.done)
        writer.close()
        rejects.close()
        summary.key_column = writer.key_column
    except BaseException:
        writer.abort()
        rejects.abort()
        raise
    summary.seconds = time.perf_counter() - started
    return summary


def score_chunk(predictor: Predictor, chunk: Chunk) -> tuple[ScoredChunk, list]:
    """Validate and predict each row: the scored rows, and (row, id, error, input) per rejected row."""
    score = predictor.score
    ids = chunk.ids
    rows: list[int] = []
    scored_ids: list = []
    predictions: list = []
    probas: list | None = [] if predictor.is_classifier else None
    rejected: list = []
    for offset, row in enumerate(chunk.rows, start=chunk.start):
        try:
            if type(row) is Unparsed:
                raise row.error
            result = score(row)
        except InvalidInput as error:
            # Its traceback holds this frame, and so the whole chunk, until a full collection:
            # a file with a rejected row in every chunk grew by the chunks it kept.
            error.__traceback__ = None
            index = offset - chunk.start
            rejected.append((offset, ids[index] if ids is not None else None, error, row.raw if type(row) is Unparsed else row))
            continue
        rows.append(offset)
        predictions.append(result["prediction"])
        if probas is not None:
            probas.append(result["proba"])
        if ids is not None:
            scored_ids.append(ids[offset - chunk.start])
    return ScoredChunk(rows, scored_ids if ids is not None else None, predictions, probas), rejected


class ProgressLine:
    """Progress on stderr: ``[######....] 45%  450,000 rows  120,000 rows/s``.

    On a terminal the line is redrawn at most five times a second; elsewhere (a log file) one
    line is printed every ``log_every`` seconds, so a long nightly run does not flood its log.
    """

    def __init__(self, stream: TextIO | None = None, width: int = 30, log_every: float = 10.0):
        self.writer = ProgressWriter(stream, log_every)
        self.width = width

    def __call__(self, rows: int, done: float | None) -> None:
        self.writer.update(self._text(rows, done))

    def finish(self, rows: int) -> None:
        self.writer.update(self._text(rows, 1.0), final=True)

    def _text(self, rows: int, done: float | None) -> str:
        rate = rows / self.writer.elapsed()
        if done is None:
            head = f"{rows:,} rows"
        else:
            filled = int(self.width * done)
            head = f"[{'#' * filled}{'.' * (self.width - filled)}] {done:4.0%}  {rows:,} rows"
        return f"{head}  {rate:,.0f} rows/s"


def _check_paths(input_path: Path, output_path: Path, rejected_path: Path) -> None:
    resolved = {p.resolve() for p in (output_path, rejected_path)}
    if input_path.resolve() in resolved or len(resolved) < 2:
        raise BatchError("the input, the output and the rejected-rows file must be three different files")
    for path in (output_path, rejected_path):
        if not path.parent.is_dir():
            raise BatchError(f"cannot write {path}: directory {path.parent} does not exist")


def _prepend(first, rest):
    if first is not None:
        yield first
        yield from rest
