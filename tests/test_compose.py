"""docker-compose.yml cannot start here (no Docker engine); check what can be checked offline."""

import re
from pathlib import Path

import yaml

from stream.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def load():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_parses_with_kafka_kraft_redis_aof_and_scaled_workers():
    compose = load()
    services = compose["services"]
    assert {"kafka", "redis", "worker"} <= services.keys()
    assert "broker,controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft
    assert "--appendonly" in services["redis"]["command"]
    assert services["worker"]["deploy"]["replicas"] >= 2


def test_every_driftline_variable_in_compose_is_a_known_setting():
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"\bDRIFTLINE_[A-Z_]+\b", text))
    assert used, "compose sets no DRIFTLINE_ variables"
    unknown = used - Settings.variables().keys()
    assert not unknown, f"compose sets variables the settings object does not know: {sorted(unknown)}"


def test_worker_environment_is_accepted_by_the_settings_object():
    env = load()["services"]["worker"]["environment"]
    concrete = {k: ("secret" if "${" in str(v) else str(v)) for k, v in env.items()}
    settings = Settings.from_env(concrete)
    assert settings.broker_servers == ["kafka:9092"] and settings.web_host == "0.0.0.0"
