"""Replacing a champion's drift baseline, as a new version (``POST /api/models/NAME/baseline``).

The reference rows come in the request, or from a closed drift window's row sample ("what the
stream looks like now is normal"). They are validated by the model's schema and scored by what
the champion serves now (its latest learner snapshot, so what it learned online is kept); the new
artifact is signed, registered with an audit entry naming who asked, and ``champion`` moves to it.
``driftline baseline`` does the same from a file.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from stream.errors import RegistryError
from stream.model import artifact

from .baseline import describe, with_baseline

MAX_ROWS = 100_000


def window_rows(summary_json: str, baseline: Any) -> list[dict]:
    """The feature rows of a window's sample (its values follow ``baseline.sample_columns``)."""
    sample = json.loads(summary_json).get("sample") or {}
    columns = baseline.sample_columns
    return [{name: value for (group, name), value in zip(columns, row) if group == "features" and value is not None}
            for row in sample.get("rows") or []]


def champion_artifact(registry: Any, name: str, key: bytes | None, allow_unsigned: bool) -> tuple[artifact.Artifact, dict]:
    """What ``champion`` serves now (its snapshot when it has one), verified; and where it came from."""
    version = registry.aliases(name).get("champion")
    if version is None:
        raise RegistryError(f"model {name!r} has no champion")
    snapshot = registry.fetch_snapshot(name, "champion")
    if snapshot is not None and snapshot[0].get("version") == version:
        info, data, _ = snapshot
        origin = {"version": version, "snapshot_revision": info.get("revision"), "n_learned": info.get("n_learned")}
    else:
        data, origin = registry.fetch(name, version), {"version": version, "snapshot_revision": None, "n_learned": 0}
    return artifact.loads(data, key, allow_unsigned=allow_unsigned), origin


def replace_baseline(registry: Any, name: str, rows: list[dict], key: bytes | None, allow_unsigned: bool, *, source: str,
                     reason: str, by: str = "api", seed: int = 42) -> dict:
    """Register the champion with a baseline of ``rows``; returns what was done."""
    if key is None and not allow_unsigned:
        raise RegistryError("DRIFTLINE_SIGNING_KEY is not set: it is needed to sign the new version")
    current, origin = champion_artifact(registry, name, key, allow_unsigned)
    metadata = {k: v for k, v in current.metadata.items() if k not in ("learned", "format_version")}
    metadata["version"] = None
    rejected: Counter = Counter()
    replaced = with_baseline(artifact.Artifact(metadata=metadata, model=current.model, baseline=current.baseline), rows,
                             source=source, seed=seed, rejected=rejected)
    replaced.metadata["derived_from"] = dict(origin, change="baseline")
    new_version = registry.register(artifact.dumps(replaced, key), replaced.metadata, alias="champion", reason=reason, by=by)
    return {"model": name, "version": new_version, "from_version": origin["version"], "rows": len(rows),
            "rejected": dict(rejected), "baseline": describe(replaced.metadata["baseline"])}
