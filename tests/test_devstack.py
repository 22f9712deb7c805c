"""The embedded stack with real processes: a Tansu broker and a redis-server on free ports."""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path

import pytest
import redis
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from stream.dev.devstack import EmbeddedStack
from stream.errors import StackError
from stream.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.from_env(
        {},
        broker=f"kafka://127.0.0.1:{_free_port()}",
        redis_url=f"redis://127.0.0.1:{_free_port()}/0",
        state_dir=str(tmp_path),
    )


@pytest.fixture
def lines() -> list[str]:
    return []


@pytest.fixture
def stack(settings, lines):
    stack = EmbeddedStack(settings, log=lines.append)
    yield stack
    stack.down()  # whatever a test left running


def _exists(pid: int) -> bool:
    """Alive and not a zombie (a process stopped by another EmbeddedStack stays pytest's zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_up_answers_and_both_services_work(stack, settings, tmp_path):
    began = time.monotonic()
    statuses = stack.up(timeout=20)
    assert time.monotonic() - began < 5
    assert [(s.name, s.running, s.answering) for s in statuses] == [("broker", True, True), ("redis", True, True)]
    assert {s.address for s in statuses} == {settings.broker_servers[0], "%s:%d" % settings.redis_host_port}
    for status in statuses:
        assert (tmp_path / "run" / f"{status.name}.pid").read_text().strip() == str(status.pid)
        assert (tmp_path / "logs" / f"{status.name}.log").exists()

    # A Kafka round trip with kafka-python.
    topic = f"devstack-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=settings.broker_servers, request_timeout_ms=5000)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=settings.broker_servers)
    producer.send(topic, b"hello", partition=0).get(timeout=10)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=settings.broker_servers, consumer_timeout_ms=200)
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    received, deadline = [], time.monotonic() + 10
    while not received and time.monotonic() < deadline:
        received = [record.value for record in consumer]
    consumer.close()
    assert received == [b"hello"]

    # Redis SET/GET.
    client = redis.Redis.from_url(settings.redis_url)
    client.set("devstack", "ok")
    assert client.get("devstack") == b"ok"
    client.close()


def test_down_stops_processes_and_removes_pid_files(stack, tmp_path):
    pids = [s.pid for s in stack.up()]
    assert sorted(stack.down()) == ["broker", "redis"]
    assert not any(_exists(pid) for pid in pids)
    assert not list((tmp_path / "run").iterdir())
    assert [(s.pid, s.running, s.answering) for s in stack.status()] == [(None, False, False)] * 2


def test_status_before_up(stack):
    assert [(s.name, s.pid, s.running, s.answering) for s in stack.status()] == [
        ("broker", None, False, False),
        ("redis", None, False, False),
    ]


def test_second_up_reports_already_running_and_another_instance_can_stop_it(stack, settings, lines):
    first = stack.up()
    again = EmbeddedStack(settings, log=lines.append)
    assert [s.pid for s in again.up()] == [s.pid for s in first]
    assert sum("already running" in line for line in lines) == 2
    # What a later `driftline stack down` does: a fresh object, only the pid files to go on.
    assert sorted(EmbeddedStack(settings, log=lines.append).down()) == ["broker", "redis"]
    assert not any(_exists(s.pid) for s in first)


def test_context_manager_stops_only_what_it_started(stack, settings, lines):
    with EmbeddedStack(settings, log=lines.append) as inner:
        assert all(s.running and s.answering for s in inner.status())
    assert not any(s.running for s in stack.status())

    stack.up()
    with EmbeddedStack(settings, log=lines.append):
        pass
    assert all(s.running and s.answering for s in stack.status())  # it was running before the block


@pytest.mark.parametrize("service, variable", [("broker", "DRIFTLINE_BROKER"), ("redis", "DRIFTLINE_REDIS_URL")])
def test_taken_port_fails_fast_naming_the_setting(stack, settings, tmp_path, service, variable):
    host, port = settings.broker_servers[0].rsplit(":", 1) if service == "broker" else settings.redis_host_port
    with socket.socket() as squatter:
        squatter.bind((host, int(port)))
        squatter.listen()
        began = time.monotonic()
        with pytest.raises(StackError) as failure:
            stack.up(timeout=20)
        assert time.monotonic() - began < 1
    message = str(failure.value)
    assert variable in message and str(port) in message and "already in use" in message
    assert not (tmp_path / "run").exists() or not list((tmp_path / "run").iterdir())  # nothing was started


def test_taken_port_of_a_running_stack_elsewhere(stack, settings, tmp_path):
    stack.up()
    other = EmbeddedStack(Settings.from_env({}, broker=settings.broker, redis_url=settings.redis_url,
                                            state_dir=str(tmp_path / "other")), log=lambda line: None)
    with pytest.raises(StackError, match="DRIFTLINE_BROKER"):
        other.up()


def test_down_when_nothing_runs(stack, tmp_path, lines):
    assert stack.down() == []
    # A stale pid file whose pid now belongs to another program (here: pytest itself) is left alone.
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "broker.pid").write_text(f"{os.getpid()}\n")
    (tmp_path / "run" / "redis.pid").write_text("not a pid\n")
    assert stack.down() == []
    assert _exists(os.getpid())
    assert not (tmp_path / "run" / "broker.pid").exists()
    assert any("removing its pid file" in line for line in lines)


def test_the_registry_survives_a_restart_of_the_stack(stack, settings):
    from stream.model import artifact
    from stream.registry.registry import Registry
    from stream.training.datasets import load_dataset
    from stream.training.trainer import train

    stack.up()
    trained = train(load_dataset("phishing", limit=300), "logreg", "kept", holdout=0.2)
    registry = Registry.from_url(settings.redis_url)
    first = registry.register(artifact.dumps(trained, b"k"), trained.metadata, alias="champion", reason="before the restart")
    other = train(load_dataset("phishing", limit=300), "logreg", "kept", holdout=0.5)
    second = registry.register(artifact.dumps(other, b"k"), other.metadata, alias="champion", reason="the second")
    audit = registry.audit("kept")
    stack.down()  # a clean stop: Redis writes out its append-only file before it exits
    stack.up()
    again = Registry.from_url(settings.redis_url)
    assert again.models() == ["kept"] and [v["version"] for v in again.versions("kept")] == [first, second]
    assert again.aliases("kept")["champion"] == second and again.audit("kept") == audit
    assert artifact.loads(again.fetch("kept", first), b"k").metadata["name"] == "kept"
    assert (Path(settings.state_dir) / "appendonly.aof").exists()
