"""Shared by the learning tests: reading topics back and rebuilding what a learner should hold."""

from __future__ import annotations

import json
import time

from kafka import KafkaConsumer

from stream.learning.learner import ModelLearner
from stream.model import artifact

KEY = b"test-signing-key"


def read_topic(settings, name: str, key: bytes | None = None, timeout_ms: int = 3000) -> list:
    """Every message of a topic (optionally with one key), in (partition, offset) order."""
    consumer = KafkaConsumer(settings.topic(name), bootstrap_servers=settings.broker_servers, group_id=None,
                             auto_offset_reset="earliest", consumer_timeout_ms=timeout_ms)
    messages = [m for m in consumer if key is None or m.key == key]
    consumer.close()
    return sorted(messages, key=lambda m: (m.partition, m.offset))


def wait_learned(registry, name: str, n: int, timeout: float = 120.0, alias: str = "champion") -> dict:
    """Wait for a snapshot of ``name`` with ``n`` examples learned; returns its info."""
    deadline = time.monotonic() + timeout
    info = None
    while time.monotonic() < deadline:
        info = registry.snapshot_info(name, alias)
        if info and info["n_learned"] >= n:
            return info
        time.sleep(0.5)
    raise AssertionError(f"{name}: learned {info and info['n_learned']} of {n} within {timeout}s")


def replay_learner(settings, deployed_blob: bytes, version: int, name: str) -> ModelLearner:
    """A learner fed, in order, the model's training examples as they are on the topic."""
    art = artifact.loads(deployed_blob, KEY)
    learner = ModelLearner(name, "champion", version, art.metadata, art.model)
    for m in read_topic(settings, "training", key=name.encode()):
        example = json.loads(m.value)
        learner.learn(example["features"], example["label"], example["id"], m.partition, m.offset)
    return learner


def snapshot_model(registry, name: str):
    info, data, _ = registry.fetch_snapshot(name, "champion")
    return info, artifact.loads(data, KEY).model
