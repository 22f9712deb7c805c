import pytest

from stream.errors import ConfigError
from stream.settings import Settings


def test_defaults_follow_the_wire_contract():
    s = Settings.from_env({})
    assert s.broker == "kafka://127.0.0.1:9092"
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.web_host == "127.0.0.1"
    assert [s.topic(t) for t in ("events", "predictions", "deadletter")] == ["events", "predictions", "deadletter"]


def test_environment_values_are_parsed():
    s = Settings.from_env({
        "DRIFTLINE_BROKER": "kafka://10.0.0.5:9093",
        "DRIFTLINE_PARTITIONS": "12",
        "DRIFTLINE_ALLOW_UNSIGNED": "yes",
        "DRIFTLINE_BATCH_TIMEOUT": "0.2",
        "DRIFTLINE_TOPIC_PREFIX": "prod-",
    })
    assert s.broker_servers == ["10.0.0.5:9093"]
    assert (s.partitions, s.allow_unsigned, s.batch_timeout) == (12, True, 0.2)
    assert s.topic("labels") == "prod-labels"


@pytest.mark.parametrize("var, value, expected", [
    ("DRIFTLINE_PARTITIONS", "0", "a whole number >= 1"),
    ("DRIFTLINE_WEB_PORT", "70000", "<= 65535"),
    ("DRIFTLINE_BROKER", "localhost:9092", "kafka://HOST:PORT"),
    ("DRIFTLINE_REDIS_URL", "http://x", "redis://HOST:PORT"),
    ("DRIFTLINE_ALLOW_UNSIGNED", "maybe", "true or false"),
    ("DRIFTLINE_TOPIC_PREFIX", "a b", "Kafka topic characters"),
])
def test_bad_values_name_the_variable_and_the_expectation(var, value, expected):
    with pytest.raises(ConfigError) as error:
        Settings.from_env({var: value})
    assert var in str(error.value) and expected in str(error.value)


def test_unknown_variable_is_an_error_not_silently_ignored():
    with pytest.raises(ConfigError, match="DRIFTLINE_BROKERS"):
        Settings.from_env({"DRIFTLINE_BROKERS": "kafka://x:1"})


def test_secrets_stay_out_of_repr():
    s = Settings.from_env({"DRIFTLINE_SIGNING_KEY": "hunter2", "DRIFTLINE_API_TOKEN": "tok"})
    assert "hunter2" not in repr(s) and "tok'" not in repr(s)


def test_to_env_round_trips():
    s = Settings.from_env({"DRIFTLINE_PARTITIONS": "3", "DRIFTLINE_ALLOW_UNSIGNED": "true", "DRIFTLINE_SIGNING_KEY": "k"})
    assert Settings.from_env(s.to_env()) == s


def test_a_worker_whose_http_port_is_taken_says_which_setting_to_change_before_it_joins_anything(tmp_path):
    import socket

    from click.testing import CliRunner

    from stream.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["worker"], env={"DRIFTLINE_WEB_PORT": str(port), "DRIFTLINE_STATE_DIR": str(tmp_path),
                                                           "DRIFTLINE_BROKER": "kafka://127.0.0.1:1"})
    assert result.exit_code == 1 and "DRIFTLINE_WEB_PORT" in result.output and f"127.0.0.1:{port}" in result.output
