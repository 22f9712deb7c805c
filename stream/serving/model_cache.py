"""Each worker's read-only copies of the deployed champions, refreshed from the registry.

A refresh reads every model's champion version in one Redis round trip and loads only what
changed, in a thread (unpickling a forest takes milliseconds to seconds; the event loop keeps
scoring meanwhile). The new set of predictors replaces the old one in a single assignment, so a
batch is scored entirely by old or entirely by new models, never by a half-loaded one. When Redis
is unreachable the worker keeps what it has and says so in ``/health``.

With drift monitoring on, each champion's drift baseline comes along (parsed once per version,
from the version's artifact: learner snapshots do not repeat it), swapped in with its predictor.

Snapshots are pushed, not only polled: :meth:`ModelCache.follow` listens on the registry's
snapshot channel and loads a champion's new snapshot the moment its learner publishes it (the
refresh every ``DRIFTLINE_MODEL_REFRESH_SECONDS`` stays, and catches whatever a disconnected
listener missed). Notes arriving while a load is under way coalesce into one load of the latest.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Callable, NamedTuple

from stream.model import artifact as artifacts
from stream.model.predictor import Predictor
from stream.registry.registry import SNAPSHOT_CHANNEL, Registry

log = logging.getLogger(__name__)


class MonitoredBaseline(NamedTuple):
    """A champion version's drift baseline (a :class:`monitors.Baseline`) and how to read its predictions."""

    version: int
    baseline: Any
    positive: str | None  # the ``proba`` key of a binary classifier's positive class


def load_baseline(data: bytes, key: bytes | None, allow_unsigned: bool) -> Any:
    """The :class:`monitors.Baseline` of an artifact's bytes, or None when it carries none."""
    raw = artifacts.read_baseline(data, key, allow_unsigned=allow_unsigned)
    if not raw:
        return None
    from monitors import Baseline  # numpy and scipy: only where monitoring runs

    return Baseline.from_dict(raw)


class ModelCache:
    def __init__(self, registry_factory: Callable[[], Registry], key: bytes | None, allow_unsigned: bool = False,
                 monitoring: bool = False):
        self._registry_factory = registry_factory
        self._registry: Registry | None = None
        self._key = key
        self._allow_unsigned = allow_unsigned
        self.monitoring = monitoring
        self.predictors: dict[str, Predictor] = {}
        self.challengers: dict[str, Predictor] = {}  # model -> its challenger, scored in shadow
        self.baselines: dict[str, MonitoredBaseline] = {}  # model -> its champion's baseline (monitoring on)
        self.baseline_errors: dict[str, str] = {}  # model -> why its baseline cannot be used
        self.known: dict[str, int | None] = {}  # every registered model -> champion version
        self.load_errors: dict[str, str] = {}  # model -> why its champion could not be loaded
        # model -> the last published snapshot this worker refused (a forged or corrupt one): kept
        # after a newer snapshot replaces it, which a busy learner does within a tenth of a second.
        self.refused_snapshots: dict[str, dict] = {}
        self.redis_ok = False
        self.last_error: str | None = None
        self.last_refresh_started = float("-inf")
        self.refreshes = 0
        self._checked: dict[str, float] = {}  # model name -> when a miss on it last forced a refresh
        self.ready = asyncio.Event()
        self._lock = asyncio.Lock()
        # Pushed snapshots (see follow).
        self.listening = False
        self.pushed = 0  # snapshots loaded because their learner published them
        self._wanted: dict[tuple[str, str], int] = {}  # (model, alias) -> newest revision heard of, not loaded yet
        self._loading: asyncio.Future | None = None
        self._refreshing: asyncio.Future | None = None  # a refresh a note about a new version asked for

    def get(self, name: str) -> Predictor | None:
        return self.predictors.get(name)

    async def refresh(self) -> None:
        """Bring the predictors up to date with the registry's champions."""
        async with self._lock:
            await self._refresh_locked()

    async def ensure_loaded(self, names: set[str], min_age: float = 0.5) -> None:
        """Called when events name models this worker has not loaded.

        Waits for a refresh that started after the miss was noticed, so a model deployed a moment
        ago is found; a name that stays unknown costs at most one registry read per ``min_age``.
        """
        noticed = time.monotonic()
        due = {n for n in names if noticed - self._checked.get(n, float("-inf")) >= min_age}
        if not due:
            return
        async with self._lock:
            if self.last_refresh_started < noticed:
                await self._refresh_locked()
        if len(self._checked) > 10_000:  # bounded even under a flood of made-up names
            self._checked.clear()
        self._checked.update(dict.fromkeys(due, noticed))

    async def _refresh_locked(self) -> None:
        self.last_refresh_started = time.monotonic()
        try:
            known, predictors, errors, baselines, challengers = await asyncio.to_thread(self._load_changes)
        except Exception as exc:  # Redis down or timing out: keep scoring with what we have
            if self.redis_ok or self.last_error is None:
                log.warning("registry unreachable, keeping %d loaded model(s): %s", len(self.predictors), exc)
            self.redis_ok = False
            self.last_error = f"{type(exc).__name__}: {exc}"
        else:
            # One statement: a batch never sees a predictor with another version's baseline.
            self.known, self.predictors, self.load_errors, self.baselines = known, predictors, errors, baselines
            self.challengers = challengers
            self.redis_ok, self.last_error = True, None
            self.refreshes += 1
        finally:
            self.ready.set()

    async def follow(self, client_factory: Callable[[], Any]) -> None:
        """Listen for published snapshots until cancelled (an ``app.task``); reconnects with a
        backoff when Redis goes away, and refreshes once each time it (re)subscribes, for anything
        published meanwhile."""
        delay = 0.5
        while True:
            pubsub = None
            try:
                pubsub = client_factory().pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(SNAPSHOT_CHANNEL)
                self.listening, delay = True, 0.5
                await self.refresh()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        try:
                            note = json.loads(message["data"])
                        except ValueError:  # not a note of ours: the refresh catches anything missed
                            continue
                        if isinstance(note, dict):
                            self.heard(note)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: the periodic refresh goes on serving what it can
                if self.listening:
                    log.warning("not listening for published snapshots (retrying): %s: %s", type(exc).__name__, exc)
                self.listening = False
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            finally:
                if pubsub is not None:
                    try:
                        await pubsub.aclose()
                    except Exception:  # already broken
                        pass

    def heard(self, note: dict) -> None:
        """A snapshot note: load it (in the background) if it is newer than what this worker serves;
        a note about a version it does not serve yet (a promotion, a new challenger) brings a refresh."""
        name, revision, alias = note.get("model"), note.get("revision"), note.get("alias")
        if not isinstance(name, str) or alias not in ("champion", "challenger") or not isinstance(revision, int):
            return
        served = self.predictors if alias == "champion" else self.challengers
        current = served.get(name)
        if current is None or note.get("version") != current.version:
            if name in self.known and (self._refreshing is None or self._refreshing.done()):
                self._refreshing = asyncio.ensure_future(self.refresh())
            return
        if current.snapshot is not None and current.snapshot >= revision:
            return
        key = (name, alias)
        self._wanted[key] = max(revision, self._wanted.get(key, revision))
        if self._loading is None or self._loading.done():
            self._loading = asyncio.ensure_future(self._load_wanted())

    async def _load_wanted(self) -> None:
        while self._wanted:
            (name, alias), revision = self._wanted.popitem()
            async with self._lock:
                served = self.predictors if alias == "champion" else self.challengers
                current = served.get(name)
                if current is None or (current.snapshot is not None and current.snapshot >= revision):
                    continue
                try:
                    predictor = await asyncio.to_thread(self._load_snapshot, name, current.version, alias)
                except Exception as exc:  # the refresh tries again
                    log.warning("cannot load the published snapshot of %s/%s: %s: %s", name, alias, type(exc).__name__, exc)
                    self._refused(name, alias, revision, exc)
                    continue
                if predictor is not None and served.get(name) is current:
                    # One assignment: atomic for a batch.
                    if alias == "champion":
                        self.predictors = dict(self.predictors, **{name: predictor})
                    else:
                        self.challengers = dict(self.challengers, **{name: predictor})
                    self.pushed += 1

    def _refused(self, name: str, alias: str, revision: int | None, exc: Exception) -> None:
        self.refused_snapshots[name] = {"alias": alias, "revision": revision, "error": f"{type(exc).__name__}: {exc}",
                                        "at": time.time()}

    def _load_snapshot(self, name: str, version: int, alias: str = "champion") -> Predictor | None:
        """The alias's latest published snapshot of ``version`` (None if the version moved on)."""
        snapshot = self._registry_instance().fetch_snapshot(name, alias)
        if snapshot is None or snapshot[0]["version"] != version:
            return None
        info, data, _ = snapshot
        loaded = artifacts.loads(data, self._key, allow_unsigned=self._allow_unsigned)
        return Predictor.from_artifact(loaded, version=version, snapshot=info["revision"])

    def _registry_instance(self) -> Registry:
        if self._registry is None:
            self._registry = self._registry_factory()
        return self._registry

    def _load_changes(self) -> tuple[dict, dict, dict, dict, dict]:
        registry = self._registry_instance()
        states = registry.serving_states()
        known = {name: version for name, (version, _) in states.items()}
        predictors: dict[str, Predictor] = {}
        errors: dict[str, str] = {}
        for name, (version, revision) in states.items():
            if version is None:
                continue
            current = self.predictors.get(name)
            if current is not None and (current.version, current.snapshot) == (version, revision):
                predictors[name] = current
                continue
            try:
                predictors[name] = self._load(registry, name, version, revision)
                log.info("loaded model %s version %s snapshot %s", name, version, predictors[name].snapshot)
            except Exception as exc:  # a bad artifact must not take the others down
                errors[name] = f"{type(exc).__name__}: {exc}"
                if self.load_errors.get(name) != errors[name]:
                    log.error("cannot load model %s version %s: %s", name, version, errors[name])
                if current is not None:
                    predictors[name] = current  # keep serving the previous champion
        baselines = {}
        if self.monitoring:
            for name, predictor in predictors.items():
                baseline = self._baseline(registry, predictor)
                if baseline is not None:
                    baselines[name] = baseline
        return known, predictors, errors, baselines, self._load_challengers(registry, known)

    def _load_challengers(self, registry: Registry, known: dict) -> dict[str, Predictor]:
        """The challengers, scored in shadow: one that cannot be loaded is only logged (never an answer)."""
        challengers = {}
        for name, (version, revision) in registry.serving_states(list(known), alias="challenger").items():
            if version is None:
                continue
            current = self.challengers.get(name)
            if current is not None and (current.version, current.snapshot) == (version, revision):
                challengers[name] = current
                continue
            try:
                challengers[name] = self._load(registry, name, version, revision, alias="challenger")
            except Exception as exc:
                log.error("cannot load the challenger of %s (version %s): %s: %s", name, version, type(exc).__name__, exc)
        return challengers

    def _baseline(self, registry: Registry, predictor: Predictor) -> MonitoredBaseline | None:
        """The predictor's version's baseline: parsed once per version; a failure only stops monitoring."""
        name, version = predictor.name, predictor.version
        current = self.baselines.get(name)
        if current is not None and current.version == version:
            return current
        if self.baseline_errors.get(name, "").startswith(f"version {version}:"):
            return None  # already failed for this version: not again on every refresh
        try:
            baseline = load_baseline(registry.fetch(name, version), self._key, self._allow_unsigned)
        except Exception as exc:
            self.baseline_errors[name] = f"version {version}: {type(exc).__name__}: {exc}"
            log.error("model %s version %s: cannot read its drift baseline, not monitored: %s", name, version, exc)
            return None
        if baseline is None:
            self.baseline_errors[name] = f"version {version}: the artifact has no drift baseline"
            log.warning("model %s version %s has no drift baseline: not monitored", name, version)
            return None
        self.baseline_errors.pop(name, None)
        from stream.training.baseline import positive_key

        return MonitoredBaseline(version, baseline, positive_key(predictor.metadata))

    def _load(self, registry: Registry, name: str, version: int, revision: int | None, alias: str = "champion") -> Predictor:
        snapshot = registry.fetch_snapshot(name, alias) if revision is not None else None
        if snapshot is not None and snapshot[0]["version"] == version:
            info, data, _ = snapshot
            revision = info["revision"]  # it may have moved on since serving_states() was read
        else:
            data, revision = registry.fetch(name, version), None
        loaded = artifacts.loads(data, self._key, allow_unsigned=self._allow_unsigned)
        return Predictor.from_artifact(loaded, version=version, snapshot=revision)

    def describe(self) -> dict:
        return {
            name: {
                "champion": self.known.get(name),
                "loaded_version": self.predictors[name].version if name in self.predictors else None,
                "loaded_snapshot": self.predictors[name].snapshot if name in self.predictors else None,
                "task": self.predictors[name].task if name in self.predictors else None,
                "challenger": self.challengers[name].version if name in self.challengers else None,
                "challenger_snapshot": self.challengers[name].snapshot if name in self.challengers else None,
                "error": self.load_errors.get(name),
                "refused_snapshot": self.refused_snapshots.get(name),
                "baseline": self.baselines[name].baseline.id if name in self.baselines else None,
                "baseline_error": self.baseline_errors.get(name),
            }
            for name in sorted(set(self.known) | set(self.predictors))
        }
