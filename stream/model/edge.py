"""The edge runtime: load a signed artifact and predict with it, with nothing but River installed.

This module and the ones it needs (:data:`RUNTIME_FILES`) import only the standard library and
River; :func:`write_bundle` copies exactly them into ``DIR/stream/`` for a device
(``driftline edge-bundle --out DIR`` calls it). On the device::

    pip install -r DIR/requirements.txt          # river, pinned to the version that trained
    cd DIR && DRIFTLINE_SIGNING_KEY=... python -m stream.edge model.dla < rows.jsonl > predictions.jsonl

Each input line is a JSON object of features (an ``id`` key is carried over), or an event as the
stream takes it (``{"id", "features": {...}}``: its features are scored); each output line is
``{"id", "prediction", "proba"?}`` (``"row": n`` when the line has no id) or
``{"id"/"row", "error": {"reason", "detail"}}`` with the stream's dead-letter reasons: one output
line per input line, in order. From Python::

    from stream.model.edge import load
    model = load("model.dla", key=b"...")
    model.score({"x": 1.5})                    # {"prediction": ..., "proba": {...}}

>>> from river import linear_model
>>> from stream.model.artifact import Artifact
>>> meta = {"name": "demo", "task": "regression", "schema": {"features": {"x": "number"}}}
>>> scorer = Predictor.from_artifact(Artifact(metadata=meta, model=linear_model.LinearRegression()))
>>> for line in score_many(scorer, [{"id": 7, "x": 1.0}, {"x": "?"}, {"id": "e3", "model": "demo", "features": {"x": 2.0}}]):
...     print(line)
{'id': '7', 'prediction': 0.0}
{'row': 1, 'error': {'reason': 'wrong_type', 'detail': "feature 'x' must be a number, got str '?'"}}
{'id': 'e3', 'prediction': 0.0}
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator

from stream.errors import ArtifactError

from . import artifact as artifacts
from .decoding import decode_json
from .predictor import Predictor
from .schema import InvalidInput

# The edge runtime: these files of the ``stream`` package import only the standard library and
# River (``model/specs.py`` because pickled models refer to its wrapper classes; ``edge.py`` is the
# ``python -m stream.edge`` entry point). Nothing else is copied.
RUNTIME_FILES = ("__init__.py", "errors.py", "edge.py", "model/__init__.py", "model/artifact.py", "model/schema.py",
                 "model/decoding.py", "model/predictor.py", "model/specs.py", "model/edge.py")
KEY_ENV = "DRIFTLINE_SIGNING_KEY"


def load(path: str | Path, key: bytes | str | None, *, allow_unsigned: bool = False) -> Predictor:
    """Verify and load an artifact file (full or compact) into a :class:`Predictor`."""
    if isinstance(key, str):
        key = key.encode()
    loaded = artifacts.read(path, key or None, allow_unsigned=allow_unsigned)
    return Predictor.from_artifact(loaded)


def score_many(predictor: Predictor, rows: Iterable[Any], id_column: str = "id") -> Iterator[dict]:
    """One output record per row, in order: a prediction or the reason the row was rejected."""
    for number, row in enumerate(rows):
        id_ = row.get(id_column) if isinstance(row, dict) else None
        record: dict[str, Any] = {"row": number} if id_ is None else {"id": str(id_)}
        try:
            if isinstance(row, InvalidInput):
                raise row
            record.update(predictor.score(predictor.schema.row_features(row)))
        except InvalidInput as error:
            record["error"] = {"reason": error.reason, "detail": error.detail}
        yield record


def write_bundle(out_dir: str | Path) -> list[Path]:
    """Copy the runtime modules into ``out_dir/stream/`` and pin River in ``requirements.txt``."""
    source = Path(__file__).resolve().parent.parent  # the stream package
    package = Path(out_dir) / "stream"
    written = []
    for name in RUNTIME_FILES:
        target = package / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, target)
        written.append(target)
    requirements = Path(out_dir) / "requirements.txt"
    requirements.write_text(f"river=={_river_version()}\n")
    written.append(requirements)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stream.edge",
        description="Score JSON lines from stdin with a Driftline artifact; write one JSON line per input line "
                    "(blank lines are skipped).",
    )
    parser.add_argument("artifact", help="artifact file (full or compact)")
    parser.add_argument("--key-env", default=KEY_ENV, help=f"environment variable holding the signing key (default {KEY_ENV})")
    parser.add_argument("--allow-unsigned", action="store_true", help="load an artifact without a valid signature (pickle is code execution)")
    parser.add_argument("--id-column", default="id", help="key of the id in each input object (default id)")
    args = parser.parse_args(argv)
    if not Path(args.artifact).is_file():
        print(f"error: artifact file not found: {args.artifact}", file=sys.stderr)
        return 1
    key = os.environ.get(args.key_env) or None
    if key is None and not args.allow_unsigned:
        print(f"error: set {args.key_env} to the artifact's signing key", file=sys.stderr)
        return 2
    try:
        predictor = load(args.artifact, key, allow_unsigned=args.allow_unsigned)
    except ArtifactError as exc:
        # The library's hint names the service's setting; here the switch is the flag.
        print(f"error: {str(exc).replace('DRIFTLINE_ALLOW_UNSIGNED=true', '--allow-unsigned')}", file=sys.stderr)
        return 1
    scored = rejected = 0
    out = sys.stdout
    try:
        for record in score_many(predictor, _json_lines(sys.stdin.buffer), args.id_column):
            if "error" in record:
                rejected += 1
            else:
                scored += 1
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
        out.flush()
    except BrokenPipeError:  # the reader went away (| head): stop quietly, as a Unix filter does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 1
    print(f"{predictor.name}: scored {scored}, rejected {rejected}", file=sys.stderr)
    return 0


def _json_lines(stream: Iterable[bytes]) -> Iterator[Any]:
    """Decoded lines (as the stream decodes an event); blank lines are skipped."""
    for line in stream:
        if not line.strip():
            continue
        try:
            value = decode_json(line)
        except InvalidInput as error:
            yield error
            continue
        yield value if isinstance(value, dict) else InvalidInput("not_an_object", f"a row must be a JSON object, got {type(value).__name__}")


def _river_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("river")
    except metadata.PackageNotFoundError:  # a bundle made on a device from a bundle
        import river

        return river.__version__


if __name__ == "__main__":
    sys.exit(main())
