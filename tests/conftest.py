"""Session fixtures: one real embedded stack (Tansu broker + redis-server) and one real worker.

A Faust worker takes about 10 s to join its consumer group on the embedded broker, so it starts
once per test session; tests keep out of each other's way with their own model names and event
ids (and their own topics where they need a fresh log).
"""

from __future__ import annotations

import socket

import pytest

from stream.dev.devstack import EmbeddedStack
from stream.dev.workerproc import WorkerProcess
from stream.registry.registry import Registry
from stream.settings import Settings

SIGNING_KEY = "test-signing-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory) -> Settings:
    state = tmp_path_factory.mktemp("driftline-state")
    return Settings.from_env(
        {},
        broker=f"kafka://127.0.0.1:{free_port()}",
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        web_port=free_port(),
        state_dir=str(state),
        signing_key=SIGNING_KEY,
        partitions=4,
        model_refresh_seconds=0.5,
        snapshot_every_seconds=1.0,
    )


@pytest.fixture(scope="session")
def stack(stack_settings):
    with EmbeddedStack(stack_settings, log=lambda m: None) as running:
        yield running


@pytest.fixture(scope="session")
def registry(stack, stack_settings) -> Registry:
    return Registry.from_url(stack_settings.redis_url)


@pytest.fixture(scope="session")
def worker(stack, stack_settings):
    process = WorkerProcess(stack_settings, stack_settings.state_path / "worker.log").start()
    try:
        process.wait_ready(timeout=240)
        yield process
    finally:
        process.stop()
