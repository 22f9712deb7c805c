"""One frozen settings object: the only reader of the environment.

Every setting is an environment variable with the prefix ``DRIFTLINE_``. A bad value fails at
start-up with a message naming the variable and what it expects.

>>> s = Settings.from_env({"DRIFTLINE_PARTITIONS": "8", "DRIFTLINE_TOPIC_PREFIX": "staging-"})
>>> s.partitions, s.topic("events")
(8, 'staging-events')
>>> Settings.from_env({"DRIFTLINE_PARTITIONS": "zero"})
Traceback (most recent call last):
...
stream.errors.ConfigError: DRIFTLINE_PARTITIONS='zero': expected a whole number >= 1
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlparse

from .errors import ConfigError

PREFIX = "DRIFTLINE_"


def _int(minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw.strip())
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise ValueError
        return value

    bounds = f" >= {minimum}" if minimum is not None else ""
    if maximum is not None:
        bounds += f" and <= {maximum}"
    parse.expects = f"a whole number{bounds}"  # type: ignore[attr-defined]
    return parse


def _float(minimum: float = 0.0, maximum: float | None = None) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = float(raw.strip())
        if not value >= minimum or (maximum is not None and not value <= maximum):
            raise ValueError
        return value

    parse.expects = f"a number >= {minimum:g}" + (f" and <= {maximum:g}" if maximum is not None else "")  # type: ignore[attr-defined]
    return parse


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError


_bool.expects = "true or false"  # type: ignore[attr-defined]


def _str(raw: str) -> str:
    return raw.strip()


_str.expects = "a string"  # type: ignore[attr-defined]


def _url(*schemes: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip()
        for url in value.split(";"):
            parsed = urlparse(url)
            if parsed.scheme not in schemes or not parsed.hostname:
                raise ValueError
            _ = parsed.port  # raises ValueError on a bad port
        return value

    parse.expects = "a URL like " + " or ".join(f"{s}://HOST:PORT" for s in schemes)  # type: ignore[attr-defined]
    return parse


def _topic_prefix(raw: str) -> str:
    value = raw.strip()
    if value and not re.fullmatch(r"[A-Za-z0-9._-]+", value):
        raise ValueError
    return value


_topic_prefix.expects = "letters, digits, '.', '_' or '-' (Kafka topic characters)"  # type: ignore[attr-defined]


def _drift_method(family: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value:
            from monitors import (
                get_method,  # numpy and scipy: only when the variable is set
            )

            if family not in get_method(value).families:  # an unknown name raises ValueError too
                raise ValueError
        return value

    parse.expects = f"empty, or a drift method that applies to {family} columns (see docs/monitoring.md)"  # type: ignore[attr-defined]
    return parse


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError
        return value

    parse.expects = "one of " + ", ".join(choices)  # type: ignore[attr-defined]
    return parse


def _detector(raw: str) -> str:
    from monitors import DETECTORS

    value = raw.strip().lower()
    if value not in DETECTORS:
        raise ValueError
    return value


_detector.expects = "one of adwin, kswin, page_hinkley, ddm, eddm"  # type: ignore[attr-defined]


def _json_object(raw: str) -> str:
    value = raw.strip()
    if value and not isinstance(json.loads(value), dict):
        raise ValueError
    return value


_json_object.expects = 'a JSON object, e.g. {"delta": 0.001}'  # type: ignore[attr-defined]


#: The drift-events kinds that can start a retrain.
RETRAIN_KINDS = ("concept_drift", "data_drift", "prediction_drift", "feature_drift")


def _kinds(raw: str) -> str:
    kinds = [k.strip().lower() for k in raw.split(",") if k.strip()]
    if not kinds or any(k not in RETRAIN_KINDS for k in kinds):
        raise ValueError
    return ",".join(kinds)


_kinds.expects = "comma-separated drift kinds among " + ", ".join(RETRAIN_KINDS)  # type: ignore[attr-defined]


def _specs(raw: str) -> str:
    from stream.model.specs import get_spec

    names = [n.strip() for n in raw.split(",") if n.strip()]
    for name in names:
        get_spec(name)  # an unknown spec raises ValueError
    return ",".join(names)


_specs.expects = "empty, or comma-separated model specs (driftline specs)"  # type: ignore[attr-defined]


def _setting(default: Any, parse: Callable[[str], Any], help: str) -> Any:
    return field(default=default, metadata={"parse": parse, "help": help})


@dataclass(frozen=True)
class Settings:
    """All of Driftline's configuration. Build it with :meth:`from_env`."""

    broker: str = _setting("kafka://127.0.0.1:9092", _url("kafka"), "Kafka bootstrap server(s), ';'-separated.")
    redis_url: str = _setting("redis://127.0.0.1:6379/0", _url("redis", "rediss"), "Redis holding the model registry.")
    topic_prefix: str = _setting("", _topic_prefix, "Prefix for every topic name (empty: the names of the wire contract).")
    partitions: int = _setting(4, _int(1), "Partitions of the topics Driftline creates.")
    web_host: str = _setting("127.0.0.1", _str, "Address the worker's web server binds to.")
    web_port: int = _setting(6066, _int(0, 65535), "Port of the worker's web server.")
    signing_key: str = _setting("", _str, "HMAC-SHA256 key that signs and verifies artifacts.")
    allow_unsigned: bool = _setting(False, _bool, "Load artifacts without a valid signature (pickle is code execution).")
    api_token: str = _setting("", _str, "Bearer token required by mutating HTTP endpoints.")
    state_dir: str = _setting(".driftline", _str, "Data, pid files and logs of the embedded stack.")
    default_model: str = _setting("", _str, "Model used for events that do not name one.")
    app_id: str = _setting("driftline", _str, "Faust application id (the Kafka consumer group).")
    batch_size: int = _setting(500, _int(1), "Events scored per batch by the score agent.")
    batch_timeout: float = _setting(0.01, _float(0.001), "No longer used: the score, labels and learn agents take each batch from the stream's queue as soon as they are free, without a timer. Accepted so that existing configurations still start.")
    fetch_max_wait_ms: int = _setting(20, _int(1), "Longest a worker's fetch waits for data (latency on quiet streams).")
    max_event_bytes: int = _setting(65536, _int(64), "Larger events go to the dead-letter topic.")
    model_refresh_seconds: float = _setting(2.0, _float(0.05), "How often workers re-read the registry's aliases (snapshots are also pushed).")
    pending_ttl_seconds: float = _setting(3600.0, _float(1.0), "How long a prediction waits for its label.")
    pending_max: int = _setting(1_000_000, _int(1), "Most predictions waiting for labels; beyond it new ones are not remembered (counted).")
    label_grace_seconds: float = _setting(30.0, _float(0.0), "How long a label that came before its event is held.")
    snapshot_every_examples: int = _setting(1000, _int(1), "A learner checkpoints its model and state after this many examples...")
    snapshot_every_seconds: float = _setting(5.0, _float(0.1), "...or this many seconds, whichever comes first.")
    publish_min_examples: int = _setting(1, _int(1), "A learner publishes its model to the scorers once it learned this many examples since...")
    publish_min_seconds: float = _setting(0.1, _float(0.01), "...and this many seconds passed since its last publish (longer for models slow to serialise).")
    metrics_window: int = _setting(1000, _int(1), "Examples in the recent window of the prequential metrics.")
    session_timeout_seconds: float = _setting(10.0, _float(1.0), "A worker silent this long leaves the group; its partitions move.")
    log_level: str = _setting("info", _str, "Worker log level (debug, info, warning, error).")
    event_loop: str = _setting("uvloop", _choice("uvloop", "asyncio"),
                               "The worker's event loop: uvloop (faster per message), or Python's own asyncio loop.")
    malloc_mmap_threshold_kib: int = _setting(128, _int(0, 32768), "Allocations this large get mappings of their own, returned when freed "
                                              "(glibc; 0: glibc's own threshold, which rises and keeps memory after a lag).")
    # Drift monitoring (docs/monitoring.md) ------------------------------------------------------
    monitoring: bool = _setting(True, _bool, "Summarise every scored batch for drift monitoring (false: no summaries, no drift windows).")
    drift_window_size: int = _setting(5000, _int(1), "A model's drift window closes when it holds this many events...")
    drift_window_seconds: float = _setting(0.0, _float(0.0), "...or this many seconds after it opened (0: count-based only)...")
    drift_window_min_rows: int = _setting(1000, _int(0), "...if it holds at least this many events (smaller windows are noise).")
    drift_checkpoint_seconds: float = _setting(2.0, _float(0.1), "How often a monitor saves its open windows to Redis (and acks the summaries they hold).")
    drift_sample_rows: int = _setting(1000, _int(0, 100_000), "Events of each window kept as a sample for its Evidently report (sampled at this / window size).")
    drift_method_rule: str = _setting("distances", _choice("distances", "evidently"),
                                      "Drift method per column: 'distances' (Wasserstein, Jensen-Shannon: no false alarms on "
                                      "small references) or 'evidently' (Evidently's rule by reference size: p-value tests up to 1,000 rows).")
    drift_numeric_method: str = _setting("", _drift_method("numeric"), "Method for every numeric column, overriding the rule (empty: the rule).")
    drift_categorical_method: str = _setting("", _drift_method("categorical"), "Method for every categorical column, overriding the rule (empty: the rule).")
    drift_share: float = _setting(0.5, _float(0.01, 1.0), "Data (prediction) drift when this share of the features (predictions) drifted.")
    drift_keep_windows: int = _setting(50, _int(1), "Closed windows kept per model in Redis, with their samples (for reports).")
    drift_keep_reports: int = _setting(10, _int(0), "Rendered Evidently reports kept per model in Redis (older ones render again on demand).")
    drift_reports: bool = _setting(True, _bool, "Render an Evidently report (in a process of its own, off the score path) on every drift decision...")
    drift_report_interval: float = _setting(0.0, _float(0.0), "While a model's drift stays the same (kinds, columns), at most one report per this many seconds (0: one for every drift decision).")
    concept_detector: str = _setting("adwin", _detector, "Concept-drift detector on the champion's errors: adwin, kswin, page_hinkley, ddm, eddm.")
    concept_detector_params: str = _setting("", _json_object, "Parameters of the concept-drift detector, as a JSON object (empty: its defaults).")
    # Continuous deployment (README: continuous deployment) -------------------------------------
    deploy_policy: str = _setting("auto", _choice("auto", "challenger", "off"),
                                  "On drift: 'auto' retrains, shadows, promotes and rolls back by itself; 'challenger' retrains "
                                  "and shadows, a person promotes; 'off' does nothing.")
    retrain_on: str = _setting("concept_drift,data_drift", _kinds, "Kinds of drift-events records that start a retrain (comma-separated).")
    retrain_cooldown_seconds: float = _setting(600.0, _float(0.0), "After a retrain is decided (promoted, discarded or rolled back), a model's next drift waits this long.")
    retrain_specs: str = _setting("", _specs, "Model specs the retrain tries, comma-separated (empty: the champion's own); the best on the hold-out wins.")
    retrain_buffer: int = _setting(20_000, _int(100), "Recent labeled examples kept per model for retraining.")
    retrain_min_examples: int = _setting(500, _int(50), "Labeled examples after the drift a retrain waits for (and trains on, with any more since).")
    retrain_holdout: float = _setting(0.2, _float(0.05, 0.5), "Most recent share of the retrain window kept to compare candidates and measure the challenger.")
    retrain_max_learn_share: float = _setting(0.5, _float(0.0), "A candidate whose learning, at the rate the model's labels arrive, would take more than this share of a core is passed over, unless it is the champion's own spec (0: no limit).")
    promote_alpha: float = _setting(0.01, _float(1e-6, 0.5), "The sequential test promotes when its e-value reaches 1/alpha (false-promotion probability at most alpha).")
    promote_min_disagreements: int = _setting(30, _int(1), "...with at least this many disagreements between champion and challenger...")
    promote_min_gain: float = _setting(0.01, _float(0.0, 1.0), "...and at least this gain ((b - c) / n: accuracy points as a share; for regressors, mean loss reduction).")
    challenger_max_examples: int = _setting(20_000, _int(10), "A challenger not promoted after this many paired examples is discarded.")
    probation_examples: int = _setting(5000, _int(0), "After a promotion the previous champion stays in shadow this many paired examples (0: no probation)...")
    rollback_alpha: float = _setting(0.05, _float(1e-6, 0.5), "...and the roles-swapped test rolls back when its e-value reaches 1/alpha.")
    rollback_max_failure_rate: float = _setting(0.05, _float(0.0, 1.0), "On probation, the new champion's share of examples it fails on (errors, invalid labels) above which it is rolled back at once.")
    # Alerts (README: alerts) ---------------------------------------------------------------------
    alerts_file: str = _setting("", _str, "Webhook endpoints to alert, as a JSON or YAML file (empty: no alerts); checked at start-up, re-read when it changes.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "Settings":
        """Read every ``DRIFTLINE_*`` variable; keyword overrides win over the environment."""
        environ = os.environ if environ is None else environ
        known = {PREFIX + f.name.upper() for f in dataclasses.fields(cls)}
        unknown = sorted(k for k in environ if k.startswith(PREFIX) and k not in known)
        if unknown:
            raise ConfigError(
                f"unknown setting {', '.join(unknown)}; known settings: {', '.join(sorted(known))}"
            )
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            var = PREFIX + f.name.upper()
            if f.name in overrides:
                values[f.name] = overrides[f.name]
            elif var in environ:
                values[f.name] = _parse(var, environ[var], f.metadata["parse"])
        return cls(**values)

    @classmethod
    def variables(cls) -> dict[str, tuple[Any, str]]:
        """Every environment variable with its default and help text (for docs and checks)."""
        return {PREFIX + f.name.upper(): (f.default, f.metadata["help"]) for f in dataclasses.fields(cls)}

    def to_env(self) -> dict[str, str]:
        """These settings as ``DRIFTLINE_*`` variables (to hand to a child process)."""
        env = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            env[PREFIX + f.name.upper()] = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return env

    # Derived values -------------------------------------------------------------------------
    def topic(self, name: str) -> str:
        """Full topic name for one of the wire contract's topics."""
        return self.topic_prefix + name

    @property
    def broker_servers(self) -> list[str]:
        """``host:port`` strings for Kafka clients (kafka-python, aiokafka)."""
        return [f"{urlparse(u).hostname}:{urlparse(u).port or 9092}" for u in self.broker.split(";")]

    @property
    def redis_host_port(self) -> tuple[str, int]:
        parsed = urlparse(self.redis_url)
        return parsed.hostname or "127.0.0.1", parsed.port or 6379

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir)

    @property
    def concept_params(self) -> dict:
        return json.loads(self.concept_detector_params) if self.concept_detector_params else {}

    @property
    def retrain_kinds(self) -> tuple[str, ...]:
        return tuple(self.retrain_on.split(","))

    @property
    def retrain_spec_names(self) -> tuple[str, ...]:
        """The specs a retrain tries; empty: the champion's own."""
        return tuple(n for n in self.retrain_specs.split(",") if n)

    def signing_key_bytes(self) -> bytes | None:
        return self.signing_key.encode() if self.signing_key else None

    def __repr__(self) -> str:  # secrets never reach logs
        shown = {
            f.name: ("***" if f.name in {"signing_key", "api_token"} and getattr(self, f.name) else getattr(self, f.name))
            for f in dataclasses.fields(self)
        }
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"


def _parse(var: str, raw: str, parse: Callable[[str], Any]) -> Any:
    try:
        return parse(raw)
    except (ValueError, TypeError):
        raise ConfigError(f"{var}={raw!r}: expected {parse.expects}") from None  # type: ignore[attr-defined]
