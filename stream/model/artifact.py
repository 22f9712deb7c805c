"""The model artifact: one signed, compressed file with the model, its metadata and its baseline.

Layout of the file::

    DRIFTLINE-ARTIFACT/1\\n
    hmac-sha256:<64 hex digits>\\n      (or "unsigned\\n")
    <zip archive: metadata.json, model.pkl, baseline.json>

The signature covers the whole zip archive. The model is a pickle, and unpickling is code
execution, so :func:`loads` verifies the signature *before* it unpickles anything and refuses an
unsigned or wrongly signed artifact unless the caller explicitly allows unsigned artifacts.

Standard library only (plus whatever the pickled model needs, i.e. River), so that an edge device
can load and run an artifact with nothing else installed.

>>> art = Artifact(metadata={"name": "m", "task": "regression"}, model={"weights": [1, 2]})
>>> blob = dumps(art, key=b"secret")
>>> loads(blob, key=b"secret").model
{'weights': [1, 2]}
>>> loads(blob, key=b"other")
Traceback (most recent call last):
...
stream.errors.ArtifactError: artifact signature does not match the signing key (DRIFTLINE_SIGNING_KEY): refusing to load it
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import pickle
import pickletools
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stream.errors import ArtifactError

MAGIC = b"DRIFTLINE-ARTIFACT/1\n"
FORMAT_VERSION = 1
_SIG_PREFIX = b"hmac-sha256:"
_UNSIGNED = b"unsigned"


#: Modules whose classes artifacts pickle, by the path they had before ``stream/`` was laid out by
#: stage (artifacts and learner snapshots written then name these) -> where those classes live now.
MOVED_MODULES = {"stream.models": "stream.model.specs", "stream.learner": "stream.learning.learner"}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        return super().find_class(MOVED_MODULES.get(module, module), name)


@dataclass
class Artifact:
    """What an artifact holds. ``baseline`` is filled by drift monitoring (empty until then)."""

    metadata: dict
    model: Any
    baseline: dict = field(default_factory=dict)


#: The longest model name: it is a Redis key part, a URL path segment and a Prometheus label.
MAX_NAME_LENGTH = 200


def check_model_name(name: Any) -> str:
    """``name`` if it can name a model, else ``ValueError`` saying why. ``@`` separates a name from
    its alias or version on the command line (``NAME@champion``), ``/`` would split the HTTP paths
    (``/api/models/NAME``), and white space or control characters could not be typed back.

    >>> check_model_name("fraud-v2.eu")
    'fraud-v2.eu'
    >>> check_model_name("churn@eu")
    Traceback (most recent call last):
        ...
    ValueError: model name 'churn@eu' may not hold '@', '/', white space or control characters
    """
    if not isinstance(name, str) or not name:
        raise ValueError("the model needs a name")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"model name {name[:40]!r}... is longer than {MAX_NAME_LENGTH} characters")
    if "@" in name or "/" in name or any(c.isspace() or not c.isprintable() for c in name):
        raise ValueError(f"model name {name!r} may not hold '@', '/', white space or control characters")
    return name


def dumps(artifact: Artifact, key: bytes | None, *, compact: bool = False, compress: bool = True) -> bytes:
    """Serialize and sign; ``key=None`` writes an unsigned artifact.

    ``compact`` squeezes the bytes for the edge: a pickle without unused memo opcodes, metadata
    without indentation, and each member compressed with LZMA or, where that is smaller (tiny
    members, whose LZMA header outweighs its gain), DEFLATE at level 9. ``compress=False`` stores
    the members as they are: learner snapshots, written several times a second and read back on
    loopback, where DEFLATE costs ten times the pickling (a Hoeffding tree: 35 ms against 3 ms).
    """
    buffer = io.BytesIO()
    metadata = dict(artifact.metadata, format_version=FORMAT_VERSION)
    model = pickle.dumps(artifact.model, protocol=pickle.HIGHEST_PROTOCOL)
    if compact:
        model = pickletools.optimize(model)
    with zipfile.ZipFile(buffer, "w") as archive:
        # Fixed timestamps keep the bytes (and so the signature) reproducible.
        for name, data in (
            ("metadata.json", json.dumps(metadata, indent=None if compact else 2, sort_keys=True, default=str).encode()),
            ("model.pkl", model),
            ("baseline.json", json.dumps(artifact.baseline, sort_keys=True).encode()),
        ):
            if compact:
                method, level = _smallest_compression(data)
            else:
                method, level = (zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED), None
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            archive.writestr(info, data, compress_type=method, compresslevel=level)
    payload = buffer.getvalue()
    signature = _SIG_PREFIX + _sign(key, payload).encode() if key else _UNSIGNED
    return MAGIC + signature + b"\n" + payload


def loads(data: bytes, key: bytes | None, *, allow_unsigned: bool = False) -> Artifact:
    """Verify, then deserialize. Raises :class:`ArtifactError` on any problem."""
    archive = _verified_archive(data, key, allow_unsigned)
    with archive:
        metadata = _read_json(archive, "metadata.json")
        try:
            model = _Unpickler(io.BytesIO(archive.read("model.pkl"))).load()
        except Exception as exc:  # a verified artifact whose model needs a missing library
            raise ArtifactError(f"cannot unpickle the model: {type(exc).__name__}: {exc}") from exc
        baseline = _read_json(archive, "baseline.json") if "baseline.json" in archive.namelist() else {}
    return Artifact(metadata=metadata, model=model, baseline=baseline)


def read_metadata(data: bytes, key: bytes | None, *, allow_unsigned: bool = False) -> dict:
    """The metadata alone (verified, but the model is not unpickled)."""
    with _verified_archive(data, key, allow_unsigned) as archive:
        return _read_json(archive, "metadata.json")


def read_baseline(data: bytes, key: bytes | None, *, allow_unsigned: bool = False) -> dict:
    """The baseline alone (verified, but the model is not unpickled); ``{}`` when there is none."""
    with _verified_archive(data, key, allow_unsigned) as archive:
        return _read_json(archive, "baseline.json") if "baseline.json" in archive.namelist() else {}


def write(path: str | Path, artifact: Artifact, key: bytes | None, *, compact: bool = False) -> int:
    """Write an artifact file; returns its size in bytes."""
    blob = dumps(artifact, key, compact=compact)
    Path(path).write_bytes(blob)
    return len(blob)


def read(path: str | Path, key: bytes | None, *, allow_unsigned: bool = False) -> Artifact:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ArtifactError(f"cannot read artifact {path}: {exc.strerror}") from exc
    return loads(data, key, allow_unsigned=allow_unsigned)


def digest(data: bytes) -> str:
    """Content address of an artifact's bytes (used by the registry to spot re-deploys)."""
    return hashlib.sha256(data).hexdigest()


def _smallest_compression(data: bytes) -> tuple[int, int | None]:
    """The zip method (and level) that stores ``data`` in the fewest bytes."""
    sizes = {}
    for method, level in ((zipfile.ZIP_LZMA, None), (zipfile.ZIP_DEFLATED, 9)):
        with zipfile.ZipFile(io.BytesIO(), "w") as trial:
            trial.writestr("m", data, compress_type=method, compresslevel=level)
            sizes[(method, level)] = trial.getinfo("m").compress_size
    return min(sizes, key=sizes.get)


def _sign(key: bytes, payload: bytes) -> str:
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def _verified_archive(data: bytes, key: bytes | None, allow_unsigned: bool) -> zipfile.ZipFile:
    if not data.startswith(MAGIC):
        raise ArtifactError("not a Driftline artifact (bad header)")
    signature, sep, payload = data[len(MAGIC):].partition(b"\n")
    if not sep:
        raise ArtifactError("truncated artifact (no signature line)")
    if signature.startswith(_SIG_PREFIX):
        if key is None:
            if not allow_unsigned:
                raise ArtifactError(
                    "artifact is signed but no signing key is configured: set DRIFTLINE_SIGNING_KEY"
                )
        elif not hmac.compare_digest(signature[len(_SIG_PREFIX):].decode("ascii", "replace"), _sign(key, payload)):
            raise ArtifactError(
                "artifact signature does not match the signing key (DRIFTLINE_SIGNING_KEY): refusing to load it"
            )
    elif signature == _UNSIGNED:
        if not allow_unsigned:
            raise ArtifactError(
                "artifact is unsigned: refusing to load it (pickle is code execution); "
                "sign it, or allow unsigned artifacts explicitly (DRIFTLINE_ALLOW_UNSIGNED=true)"
            )
    else:
        raise ArtifactError("artifact has a malformed signature line")
    try:
        return zipfile.ZipFile(io.BytesIO(payload))
    except zipfile.BadZipFile as exc:
        raise ArtifactError(f"artifact payload is corrupt: {exc}") from exc


def _read_json(archive: zipfile.ZipFile, name: str) -> Any:
    try:
        return json.loads(archive.read(name))
    except KeyError:
        raise ArtifactError(f"artifact has no {name}") from None
    except (ValueError, zipfile.BadZipFile) as exc:
        raise ArtifactError(f"artifact member {name} is corrupt: {exc}") from exc
