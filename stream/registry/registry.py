"""The model registry in Redis: versions per model, aliases, and an append-only audit log.

Keys (all under ``driftline:``)::

    models                      SET   of model names
    model:NAME:seq              INT   last version number handed out
    model:NAME:versions         HASH  version -> JSON (metadata, sha256, size, registered_at)
    model:NAME:artifact:V       BYTES the signed artifact of version V
    model:NAME:aliases          HASH  alias (champion, challenger) -> version
    model:NAME:snapshot:ALIAS   HASH  the learner's latest checkpoint of that alias, what a restart
                                      resumes from: revision, version, info (JSON: examples learned,
                                      metrics, training offsets), artifact, state (the learner's state)
    model:NAME:served:ALIAS     HASH  the learner's latest published model, what the scorers serve:
                                      revision, version, info, artifact (a checkpoint is published too)
    model:NAME:snapshot_seq     INT   last snapshot revision handed out (published and checkpoints)
    model:NAME:examples         LIST  the model's recent labeled examples, JSON [position, features,
                                      label], written with each checkpoint (what a retrain learns from)
    model:NAME:learning_history LIST  the learners' recent prequential metrics at each snapshot
                                      (JSON; the latest 2,000), for the dashboard
    audit                       STREAM one entry per register / alias move (or removal), with who
                                      moved it (``by``: cli, api, controller) and why (``reason``)
    snapshots                   PUB/SUB channel: one JSON note per published snapshot (model, alias,
                                      version, revision, n_learned, offsets, written_at)

A learner publishes its model several times a second and checkpoints it (with its state, and the
acks that wait for it) every thousand examples or so: the scorers follow the published model,
recovery the checkpoint, so the two cadences never have to agree.

The registry stores artifacts as they are (signed); loading verifies them, so whoever can write
to Redis still cannot make a worker unpickle code that was not signed with the key.
"""

from __future__ import annotations

import json
import time
from typing import Any, Iterable

import msgspec
import redis

from stream.errors import RegistryError
from stream.model import artifact as artifacts

from .redis_client import redis_client

ALIASES = ("champion", "challenger")
NAMESPACE = "driftline:"
SNAPSHOT_CHANNEL = NAMESPACE + "snapshots"
#: Points of a model's learning history kept (several per second at most: minutes to hours).
KEEP_LEARNING_HISTORY = 2000
#: What a snapshot note on SNAPSHOT_CHANNEL carries of the snapshot's info.
NOTE_FIELDS = ("revision", "version", "n_learned", "offsets", "written_at")


def _k(*parts: Any) -> str:
    return NAMESPACE + ":".join(str(p) for p in parts)


class Registry:
    """Synchronous registry client (the CLI uses it directly, the worker from a thread)."""

    def __init__(self, client: redis.Redis):
        self.redis = client

    @classmethod
    def from_url(cls, url: str, timeout: float = 5.0) -> "Registry":
        return cls(redis_client(url, timeout))

    # Writing -------------------------------------------------------------------------------------
    def register(self, data: bytes, metadata: dict, alias: str | None = None, reason: str = "", by: str = "") -> int:
        """Store an artifact as a new version (or find the identical one) and optionally move an alias."""
        name = metadata.get("name")
        if not name:
            raise RegistryError("artifact metadata has no model name")
        try:
            artifacts.check_model_name(name)
        except ValueError as error:
            raise RegistryError(f"{error}: train it again under another name") from None
        if metadata.get("compact"):
            # A compact (edge) artifact has no baseline and cannot keep learning online.
            raise RegistryError(
                f"artifact of {name!r} is compact (an edge export that cannot keep learning and has no "
                "drift baseline): deploy the full artifact instead (driftline export without --compact)"
            )
        sha = artifacts.digest(data)
        existing = self._version_with_digest(name, sha)
        if existing is not None:
            version = existing
        else:
            version = int(self.redis.incr(_k("model", name, "seq")))
            record = {
                "version": version,
                "sha256": sha,
                "size": len(data),
                "registered_at": time.time(),
                "metadata": dict(metadata, version=version),
            }
            pipe = self.redis.pipeline(transaction=True)
            pipe.sadd(_k("models"), name)
            pipe.set(_k("model", name, "artifact", version), data)
            pipe.hset(_k("model", name, "versions"), version, json.dumps(record, default=str))
            pipe.xadd(_k("audit"), _audit_entry("register", name, version, None, reason or "registered"))
            pipe.execute()
        if alias:
            self.set_alias(name, alias, version, reason or f"deployed version {version}", by=by)
        return version

    def set_alias(self, name: str, alias: str, version: int, reason: str = "", by: str = "") -> int | None:
        """Point ``alias`` at ``version``; returns the version it pointed at before (or None)."""
        if alias not in ALIASES:
            raise RegistryError(f"unknown alias {alias!r}; aliases are {', '.join(ALIASES)}")
        if not self.redis.hexists(_k("model", name, "versions"), version):
            raise RegistryError(f"model {name!r} has no version {version}")
        previous = self.redis.hget(_k("model", name, "aliases"), alias)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(_k("model", name, "aliases"), alias, version)
        pipe.xadd(_k("audit"), _audit_entry("alias", name, version, alias, reason, previous, by))
        pipe.execute()
        return int(previous) if previous is not None else None

    def move_aliases(self, name: str, champion: int, challenger: int | None, reason: str, by: str) -> dict[str, int]:
        """Point ``champion`` (and ``challenger``, or remove it when None) in one transaction, each
        move in the audit log with who moved it and why; returns the aliases as they were before.

        A promotion is ``move_aliases(name, new, old, ...)`` (the old champion stays in shadow on
        probation), a rollback the reverse."""
        for version in (champion, challenger):
            if version is not None and not self.redis.hexists(_k("model", name, "versions"), version):
                raise RegistryError(f"model {name!r} has no version {version}")
        key = _k("model", name, "aliases")
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)  # nobody moves an alias between reading and writing them
                    before = {a.decode(): int(v) for a, v in pipe.hgetall(key).items()}
                    pipe.multi()
                    if before.get("champion") != champion:
                        pipe.hset(key, "champion", champion)
                        pipe.xadd(_k("audit"), _audit_entry("alias", name, champion, "champion", reason, before.get("champion"), by))
                    if challenger is None and "challenger" in before:
                        pipe.hdel(key, "challenger")
                        pipe.xadd(_k("audit"), _audit_entry("unalias", name, before["challenger"], "challenger", reason, None, by))
                    elif challenger is not None and before.get("challenger") != challenger:
                        pipe.hset(key, "challenger", challenger)
                        pipe.xadd(_k("audit"), _audit_entry("alias", name, challenger, "challenger", reason, before.get("challenger"), by))
                    pipe.execute()
                    return before
                except redis.WatchError:
                    continue

    def remove_alias(self, name: str, alias: str, reason: str, by: str = "") -> int | None:
        """Remove ``alias`` (the challenger, when it is discarded or its probation ends); returns its version."""
        previous = self.redis.hget(_k("model", name, "aliases"), alias)
        if previous is None:
            return None
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(_k("model", name, "aliases"), alias)
        pipe.xadd(_k("audit"), _audit_entry("unalias", name, int(previous), alias, reason, None, by))
        pipe.execute()
        return int(previous)

    # Reading -------------------------------------------------------------------------------------
    def models(self) -> list[str]:
        return sorted(m.decode() for m in self.redis.smembers(_k("models")))

    def aliases(self, name: str) -> dict[str, int]:
        return {a.decode(): int(v) for a, v in self.redis.hgetall(_k("model", name, "aliases")).items()}

    def versions(self, name: str) -> list[dict]:
        raw = self.redis.hgetall(_k("model", name, "versions"))
        return sorted((json.loads(v) for v in raw.values()), key=lambda r: r["version"])

    def champions(self, names: Iterable[str] | None = None) -> dict[str, int | None]:
        """Every model's champion version (None where a model has none), in one round trip."""
        names = self.models() if names is None else list(names)
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.hget(_k("model", name, "aliases"), "champion")
        return {n: (int(v) if v is not None else None) for n, v in zip(names, pipe.execute())}

    def resolve(self, name: str, ref: str | int | None = "champion") -> int:
        """A version number from an alias name or a version number."""
        if name not in self.models():
            raise RegistryError(f"unknown model {name!r}; known models: {', '.join(self.models()) or 'none'}")
        ref = "champion" if ref in (None, "") else ref
        if isinstance(ref, int) or str(ref).isdigit():
            version = int(ref)
            if not self.redis.hexists(_k("model", name, "versions"), version):
                raise RegistryError(f"model {name!r} has no version {version}")
            return version
        aliases = self.aliases(name)
        version = aliases.get(str(ref))
        if version is None:
            if str(ref) in ALIASES:
                raise RegistryError(f"model {name!r} has no {ref} (deploy one with: driftline deploy FILE --alias {ref})")
            raise RegistryError(f"model {name!r} has no alias or version {ref!r}: use champion, challenger or a version "
                                f"number (aliases now: {', '.join(f'{a} v{v}' for a, v in sorted(aliases.items())) or 'none'})")
        return version

    def fetch(self, name: str, version: int) -> bytes:
        data = self.redis.get(_k("model", name, "artifact", version))
        if data is None:
            raise RegistryError(f"model {name!r} has no version {version}")
        return data

    def show(self, name: str) -> dict:
        """Everything about one model: aliases, versions, what its learners learned, the audit log."""
        if name not in self.models():
            raise RegistryError(f"unknown model {name!r}; known models: {', '.join(self.models()) or 'none'}")
        return dict(self.summary(name), versions=self.versions(name), audit=self.audit(name))

    def summary(self, name: str) -> dict:
        """Aliases and live learning state (examples learned, prequential metrics, snapshot revision and age)."""
        learning = {}
        for alias in self.aliases(name):
            info = self.snapshot_info(name, alias)
            if info is not None:
                learning[alias] = dict(info, snapshot_age_seconds=round(time.time() - info["written_at"], 1))
        return {"name": name, "aliases": self.aliases(name), "learning": learning}

    def audit(self, name: str | None = None, count: int = 1000) -> list[dict]:
        entries = []
        for entry_id, fields in self.redis.xrange(_k("audit"), count=count if name is None else None):
            entry = {k.decode(): v.decode() for k, v in fields.items()}
            if name is None or entry.get("model") == name:
                entries.append(dict(entry, id=entry_id.decode()))
        return entries[-count:]

    def history(self, name: str) -> list[dict]:
        """Which version served when: one entry per move of the champion alias (oldest first), with
        the time it started serving, until when, the version it replaced, who moved it and why."""
        moves = [e for e in self.audit(name, count=100_000) if e.get("alias") == "champion" and e["action"] == "alias"]
        history = []
        for i, entry in enumerate(moves):
            until = float(moves[i + 1]["ts"]) if i + 1 < len(moves) else None
            history.append({"version": int(entry["version"]), "from": float(entry["ts"]), "until": until,
                            "previous": int(entry["previous"]) if entry.get("previous") else None,
                            "reason": entry.get("reason", ""), "by": entry.get("by", "")})
        return history

    # Snapshots of the learning models ----------------------------------------------------------
    def publish_snapshot(self, name: str, alias: str, version: int, data: bytes, info: dict, state: bytes | None = None) -> int:
        """Store the learner's current model for the scorers of ``alias`` and tell them at once on
        :data:`SNAPSHOT_CHANNEL`; with ``state`` (its signed learner state) it is also the
        checkpoint a restart resumes from. Returns the snapshot's revision."""
        revision = int(self.redis.incr(_k("model", name, "snapshot_seq")))
        info = dict(info, revision=revision, version=version, written_at=time.time())
        fields = {"revision": revision, "version": version, "info": json.dumps(info, default=str), "artifact": data}
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(_k("model", name, "served", alias), mapping=fields)
        if state is not None:
            pipe.hset(_k("model", name, "snapshot", alias), mapping=dict(fields, state=state))
        note = {"model": name, "alias": alias, **{k: info.get(k) for k in NOTE_FIELDS}}
        pipe.publish(SNAPSHOT_CHANNEL, json.dumps(note, default=str))
        # The prequential metrics over time, for the dashboard (bounded).
        recent = (info.get("metrics") or {}).get("recent")
        if recent:
            point = {"ts": info["written_at"], "alias": alias, "version": version, "n_learned": info.get("n_learned"), "recent": recent}
            pipe.rpush(_k("model", name, "learning_history"), json.dumps(point, default=str))
            pipe.ltrim(_k("model", name, "learning_history"), -KEEP_LEARNING_HISTORY, -1)
        pipe.execute()
        return revision

    def write_snapshot(self, name: str, alias: str, version: int, data: bytes, info: dict, state: bytes = b"") -> int:
        """A checkpoint: the learner's model and its signed state, consistent with each other
        (published to the scorers as well)."""
        return self.publish_snapshot(name, alias, version, data, info, state=state)

    def learning_history(self, name: str, since: float = 0.0) -> list[dict]:
        """The learners' recent prequential metrics at each snapshot, oldest first."""
        points = (json.loads(raw) for raw in self.redis.lrange(_k("model", name, "learning_history"), 0, -1))
        return [p for p in points if p["ts"] >= since]

    def snapshot_info(self, name: str, alias: str = "champion") -> dict | None:
        """The info of the latest published snapshot (examples learned, metrics, revision)."""
        served, checkpoint = self._both("info", name, alias)
        raw = served if served is not None else checkpoint
        return json.loads(raw) if raw is not None else None

    def fetch_snapshot(self, name: str, alias: str = "champion") -> tuple[dict, bytes, bytes] | None:
        """(info, model artifact, b"") of the latest published snapshot (what the scorers serve), or None."""
        for key in (_k("model", name, "served", alias), _k("model", name, "snapshot", alias)):
            info, data = self.redis.hmget(key, ["info", "artifact"])
            if info is not None and data is not None:
                return json.loads(info), data, b""
        return None

    def fetch_checkpoint(self, name: str, alias: str = "champion") -> tuple[dict, bytes, bytes] | None:
        """(info, model artifact, learner state artifact) of the latest checkpoint, or None."""
        info, data, state = self.redis.hmget(_k("model", name, "snapshot", alias), ["info", "artifact", "state"])
        return (json.loads(info), data, state or b"") if info is not None and data is not None else None

    def _both(self, field: str, name: str, alias: str) -> tuple:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(_k("model", name, "served", alias), field)
        pipe.hget(_k("model", name, "snapshot", alias), field)
        return tuple(pipe.execute())

    def serving_states(self, names: Iterable[str] | None = None, alias: str = "champion") -> dict[str, tuple[int | None, int | None]]:
        """Per model: (the alias's version, revision of its snapshot or None), in one round trip.

        A snapshot counts only while it was taken from the alias's current version.
        """
        names = self.models() if names is None else list(names)
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.hget(_k("model", name, "aliases"), alias)
            pipe.hmget(_k("model", name, "served", alias), ["version", "revision"])
            pipe.hmget(_k("model", name, "snapshot", alias), ["version", "revision"])
        replies = pipe.execute()
        states = {}
        for i, name in enumerate(names):
            champion, served, checkpoint = replies[3 * i:3 * i + 3]
            snap_version, revision = served if served[1] is not None else checkpoint
            champion = int(champion) if champion is not None else None
            current = revision is not None and champion is not None and int(snap_version) == champion
            states[name] = (champion, int(revision) if current else None)
        return states

    # Recent labeled examples, for retraining ---------------------------------------------------
    def append_examples(self, name: str, rows: list[tuple[int, dict, Any]], keep: int) -> None:
        """Keep a model's recent examples ``(position, features, label)``: the last ``keep``."""
        if not rows:
            return
        key = _k("model", name, "examples")
        pipe = self.redis.pipeline(transaction=False)
        pipe.rpush(key, *(_example_json(row) for row in rows))
        pipe.ltrim(key, -keep, -1)
        pipe.execute()

    def recent_examples(self, name: str) -> list[tuple[int, dict, Any]]:
        return [tuple(json.loads(raw)) for raw in self.redis.lrange(_k("model", name, "examples"), 0, -1)]

    def ping(self) -> bool:
        return bool(self.redis.ping())

    def _version_with_digest(self, name: str, sha: str) -> int | None:
        for record in self.versions(name):
            if record.get("sha256") == sha:
                return int(record["version"])
        return None


def _audit_entry(action: str, name: str, version: int, alias: str | None, reason: str, previous: Any = None,
                 by: str = "") -> dict:
    entry = {"action": action, "model": name, "version": str(version), "reason": reason, "ts": f"{time.time():.3f}",
             "by": by or "cli"}
    if alias:
        entry["alias"] = alias
    if previous is not None:
        entry["previous"] = previous.decode() if isinstance(previous, bytes) else str(previous)
    return entry


_encode_example = msgspec.json.Encoder(enc_hook=str).encode


def _example_json(row: tuple[int, dict, Any]) -> bytes:
    """One kept example as JSON. Its features and label are validated (finite numbers, strings,
    booleans), which msgspec writes as json.dumps would, at a tenth of the cost: every checkpoint
    writes the examples learned since the last one."""
    try:
        return _encode_example(row)
    except (TypeError, msgspec.EncodeError):  # anything else: json, as before
        return json.dumps(row, separators=(",", ":"), default=str).encode()
