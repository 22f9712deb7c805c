"""The alerts file (``DRIFTLINE_ALERTS_FILE``): webhook endpoints, what each hears, how it is retried.

JSON, or YAML when the name ends in ``.yaml``/``.yml``. Field names are a public contract::

    {"cooldown_seconds": 600,
     "endpoints": [{"name": "ops", "url": "https://hooks.example/driftline", "secret": "whsec_...",
                    "kinds": ["data_drift", "feature_drift", "concept_drift", "deployed", "rolled_back"],
                    "models": ["churn"], "format": "json", "timeout": 10,
                    "retry_schedule": [0, 5, 300, 1800, 7200, 18000, 36000]}]}

``secret_env`` (the name of an environment variable holding the secret) may replace ``secret``;
``kinds`` and ``models`` default to all; ``format`` is ``json`` (signed, Standard Webhooks) or
``slack`` (a Slack or Mattermost incoming-webhook text, unsigned as those expect);
``retry_schedule`` is the delay in seconds before each attempt (its length bounds the attempts);
an endpoint may set its own ``cooldown_seconds``. Every error names the endpoint and the field.

>>> config = parse_alerts({"endpoints": [{"name": "ops", "url": "http://127.0.0.1:9/hook",
...                                        "secret": "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]})
>>> ops = config.endpoints["ops"]
>>> ops.kinds is None, ops.wants({"kind": "data_drift", "model": "churn"}), ops.retry_schedule[:3], ops.cooldown_seconds
(True, True, (0.0, 5.0, 300.0), 600.0)
>>> parse_alerts({"endpoints": [{"name": "ops", "url": "ftp://x", "secret": "whsec_AAAA"}]})
Traceback (most recent call last):
...
stream.errors.ConfigError: alerts file: endpoint 'ops': field 'url': must be an http:// or https:// URL, got 'ftp://x'
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlparse

from stream.errors import ConfigError
from stream.wire.drift import CONCEPT_DRIFT, DEPLOY_KINDS, WINDOW_KINDS

#: Standard Webhooks' schedule: at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h (then given up).
DEFAULT_RETRY_SCHEDULE = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0)
DEFAULT_COOLDOWN_SECONDS = 600.0
DEFAULT_TIMEOUT_SECONDS = 10.0
#: The kinds an endpoint can ask for: every record kind on ``drift-events``.
KINDS = (*WINDOW_KINDS, CONCEPT_DRIFT, *DEPLOY_KINDS)
#: Drift kinds are collapsed within the cooldown; deployment records never are (each is a decision).
COLLAPSED_KINDS = (*WINDOW_KINDS, CONCEPT_DRIFT)
FORMATS = ("json", "slack")
_ENDPOINT_FIELDS = {"name", "url", "secret", "secret_env", "kinds", "models", "format", "timeout", "retry_schedule",
                    "cooldown_seconds"}


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str
    secret: bytes | None  # the HMAC key (the base64 after ``whsec_``, decoded); None for slack
    kinds: frozenset[str] | None  # None: every kind
    models: frozenset[str] | None  # None: every model
    format: str
    timeout: float
    retry_schedule: tuple[float, ...]
    cooldown_seconds: float

    def wants(self, record: Mapping[str, Any]) -> bool:
        return (self.kinds is None or record.get("kind") in self.kinds) and \
            (self.models is None or record.get("model") in self.models)

    def describe(self) -> dict:
        """What the API shows of an endpoint: never its secret, nor the URL's query (tokens live
        there), nor a Slack endpoint's path (the token is the path: ``/services/T…/B…/SECRET``)."""
        url = urlparse(self.url)
        shown = f"{url.scheme}://{url.netloc}" + ("/…" if self.format == "slack" else url.path)
        return {"name": self.name, "url": shown, "format": self.format,
                "signed": self.secret is not None, "kinds": sorted(self.kinds) if self.kinds is not None else None,
                "models": sorted(self.models) if self.models is not None else None, "timeout": self.timeout,
                "retry_schedule": list(self.retry_schedule), "cooldown_seconds": self.cooldown_seconds}


@dataclass(frozen=True)
class AlertsConfig:
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    cooldown_seconds: float = DEFAULT_COOLDOWN_SECONDS


def load_alerts_file(path: str | os.PathLike, environ: Mapping[str, str] | None = None) -> AlertsConfig:
    """Read and check the alerts file; :class:`ConfigError` names the endpoint and the field."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"alerts file {path}: cannot read it: {exc.strerror or exc}") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # json.JSONDecodeError, yaml.YAMLError
        raise ConfigError(f"alerts file {path}: not valid {'YAML' if path.suffix.lower() in ('.yaml', '.yml') else 'JSON'}: "
                          f"{_where_only(exc)}") from None
    return parse_alerts(data, environ, where=f"alerts file {path}")


def _where_only(exc: Exception) -> str:
    """A parse error's problem and position, without the text around it: PyYAML quotes the
    offending line, which in this file may hold a secret."""
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:  # yaml.MarkedYAMLError
        return f"{getattr(exc, 'problem', None) or 'syntax error'} at line {mark.line + 1}, column {mark.column + 1}"
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
    return type(exc).__name__


def _shown(value: Any) -> str:
    """A rejected value, for an error message, without what could be a secret pasted in the wrong field."""
    text = repr(value)
    return text if len(text) <= 12 and "whsec_" not in text else f"{text[:8]}… ({len(text)} characters)"


def parse_alerts(data: Any, environ: Mapping[str, str] | None = None, where: str = "alerts file") -> AlertsConfig:
    environ = os.environ if environ is None else environ
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must be an object with 'endpoints'")
    unknown = sorted(set(data) - {"cooldown_seconds", "endpoints"})
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r} (known: cooldown_seconds, endpoints)")
    cooldown = _seconds(data.get("cooldown_seconds", DEFAULT_COOLDOWN_SECONDS), f"{where}: field 'cooldown_seconds'")
    endpoints_raw = data.get("endpoints", [])
    if not isinstance(endpoints_raw, list):
        raise ConfigError(f"{where}: field 'endpoints': must be a list")
    endpoints: dict[str, Endpoint] = {}
    for i, raw in enumerate(endpoints_raw):
        endpoint = _endpoint(raw, i, cooldown, environ, where)
        if endpoint.name in endpoints:
            raise ConfigError(f"{where}: endpoint {endpoint.name!r}: field 'name': used twice")
        endpoints[endpoint.name] = endpoint
    return AlertsConfig(endpoints, cooldown)


def _endpoint(raw: Any, index: int, cooldown: float, environ: Mapping[str, str], where: str) -> Endpoint:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: endpoint #{index + 1}: must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name or len(name) > 100 or any(c.isspace() or c == ":" for c in name):
        raise ConfigError(f"{where}: endpoint #{index + 1}: field 'name': must be a non-empty string without spaces or ':'")

    def bad(field_name: str, problem: str) -> ConfigError:
        return ConfigError(f"{where}: endpoint {name!r}: field {field_name!r}: {problem}")

    unknown = sorted(set(raw) - _ENDPOINT_FIELDS)
    if unknown:
        raise bad(unknown[0], f"unknown field (known: {', '.join(sorted(_ENDPOINT_FIELDS))})")
    url = raw.get("url")
    parsed = urlparse(url) if isinstance(url, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise bad("url", f"must be an http:// or https:// URL, got {_shown(url)}")
    fmt = raw.get("format", "json")
    if fmt not in FORMATS:
        raise bad("format", f"must be one of {', '.join(FORMATS)}, got {fmt!r}")
    secret = _secret(raw, fmt, environ, bad)
    kinds = _names(raw.get("kinds"), "kinds", bad, allowed=KINDS)
    models = _names(raw.get("models"), "models", bad)
    timeout = _seconds(raw.get("timeout", DEFAULT_TIMEOUT_SECONDS), None, bad=lambda p: bad("timeout", p), minimum=0.1)
    schedule_raw = raw.get("retry_schedule", list(DEFAULT_RETRY_SCHEDULE))
    if not isinstance(schedule_raw, list) or not schedule_raw or len(schedule_raw) > 50:
        raise bad("retry_schedule", "must be a list of 1 to 50 delays in seconds")
    schedule = tuple(_seconds(d, None, bad=lambda p: bad("retry_schedule", p)) for d in schedule_raw)
    own_cooldown = _seconds(raw.get("cooldown_seconds", cooldown), None, bad=lambda p: bad("cooldown_seconds", p))
    return Endpoint(name, url, secret, kinds, models, fmt, timeout, schedule, own_cooldown)


def _secret(raw: dict, fmt: str, environ: Mapping[str, str], bad) -> bytes | None:
    if "secret" in raw and "secret_env" in raw:
        raise bad("secret", "give 'secret' or 'secret_env', not both")
    if "secret_env" in raw:
        var = raw["secret_env"]
        if not isinstance(var, str) or not var:
            raise bad("secret_env", "must name an environment variable")
        if var not in environ:
            raise bad("secret_env", f"the environment variable {var} is not set")
        value, field_name = environ[var], "secret_env"
    elif "secret" in raw:
        value, field_name = raw["secret"], "secret"
    elif fmt == "slack":
        return None  # Slack and Mattermost incoming webhooks carry their token in the URL
    else:
        raise bad("secret", "a json endpoint needs 'secret' or 'secret_env' (whsec_ and base64; `driftline alerts secret` makes one)")
    if fmt == "slack":
        raise bad(field_name, "a slack endpoint is not signed (its URL is its secret): remove it")
    return decode_secret(value, lambda problem: bad(field_name, problem))


def decode_secret(value: Any, bad=lambda problem: ConfigError(problem)) -> bytes:
    """The HMAC key of a Standard Webhooks secret ``whsec_BASE64`` (24 to 64 bytes).

    >>> len(decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
    24
    """
    if not isinstance(value, str) or not value.startswith("whsec_"):
        raise bad("must be a string 'whsec_' followed by base64 (Standard Webhooks)")
    try:
        key = base64.b64decode(value[len("whsec_"):], validate=True)
    except (binascii.Error, ValueError):
        raise bad("the part after 'whsec_' is not base64") from None
    if not 24 <= len(key) <= 64:
        raise bad(f"the key must be 24 to 64 bytes, got {len(key)}")
    return key


def new_secret() -> str:
    """A fresh secret in Standard Webhooks' form (32 random bytes)."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def _names(value: Any, field_name: str, bad, allowed: tuple[str, ...] | None = None) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise bad(field_name, "must be a non-empty list of names (leave it out for all)")
    if allowed is not None:
        unknown = [v for v in value if v not in allowed]
        if unknown:
            raise bad(field_name, f"unknown kind {unknown[0]!r}; kinds: {', '.join(allowed)}")
    return frozenset(value)


def _seconds(value: Any, where: str | None, bad=None, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not minimum <= value <= 7 * 86_400:
        problem = f"must be a number of seconds from {minimum:g} to 604800, got {value!r}"
        raise bad(problem) if bad is not None else ConfigError(f"{where}: {problem}")
    return float(value)


class AlertsFile:
    """The alerts file, read again when it changes (checked by :meth:`reload_if_changed`).

    A changed file that is not valid leaves the endpoints as they were, and says why in ``error``.
    """

    def __init__(self, path: str | os.PathLike, environ: Mapping[str, str] | None = None):
        self.path = Path(path)
        self.environ = environ
        self.config = load_alerts_file(self.path, environ)  # at start-up an invalid file is an error
        self._stamp = self._read_stamp()
        self.error: str | None = None
        self.reloads = 0

    def _read_stamp(self) -> tuple | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    def reload_if_changed(self) -> bool | None:
        """None when the file did not change; True when a valid new file replaced the endpoints;
        False when the changed file is not valid (``error`` says why; the endpoints stay)."""
        stamp = self._read_stamp()
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        try:
            self.config = load_alerts_file(self.path, self.environ)
        except ConfigError as exc:
            self.error = str(exc)
            return False
        self.error = None
        self.reloads += 1
        return True
