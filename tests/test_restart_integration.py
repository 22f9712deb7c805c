"""A restart of the whole embedded stack: Redis keeps the registry and the learner's checkpoint (its
append-only file), the in-memory broker comes back empty, and a new worker recreates the topics,
scores, and learns from the new topic's examples although their offsets start again at 0."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import SIGNING_KEY, free_port
from learning_helpers import wait_learned

from stream.dev.devstack import EmbeddedStack
from stream.dev.outputs import OutputWatcher
from stream.dev.replay import new_run_id, replay
from stream.dev.workerproc import WorkerProcess
from stream.model import artifact
from stream.registry.registry import Registry
from stream.settings import Settings
from stream.training.datasets import load_dataset
from stream.training.trainer import train
from stream.transport.topics import ensure_topics

pytestmark = pytest.mark.integration


def test_after_a_restart_of_the_stack_the_model_is_there_and_learning_goes_on(tmp_path):
    settings = Settings.from_env({}, broker=f"kafka://127.0.0.1:{free_port()}", redis_url=f"redis://127.0.0.1:{free_port()}/0",
                                 state_dir=str(tmp_path / "state"), signing_key=SIGNING_KEY, partitions=2,
                                 snapshot_every_examples=200, snapshot_every_seconds=1.0, deploy_policy="off")
    data = load_dataset("phishing")
    stack = EmbeddedStack(settings, log=lambda m: None)
    worker = None
    try:
        stack.up()
        ensure_topics(settings)
        trained = train(data, "logreg", "restarted", holdout=0.2)
        version = Registry.from_url(settings.redis_url).register(artifact.dumps(trained, SIGNING_KEY.encode()), trained.metadata,
                                                                  alias="champion")
        worker = start(settings, tmp_path, "before")
        replay(settings, data.rows, data.targets, "restarted", limit=800, label_delay=50, run_id=new_run_id())
        before = wait_learned(Registry.from_url(settings.redis_url), "restarted", 800, timeout=180)["n_learned"]
        worker.stop()
        worker = None

        stack.down()
        stack.up()
        registry = Registry.from_url(settings.redis_url)
        assert registry.models() == ["restarted"] and registry.aliases("restarted")["champion"] == version
        assert registry.audit("restarted") and registry.fetch_checkpoint("restarted") is not None
        ensure_topics(settings)  # the broker is empty: every topic is new, its offsets start at 0

        worker = start(settings, tmp_path, "after")
        run_id = new_run_id()
        watcher = OutputWatcher(settings, run_id)
        try:
            replay(settings, data.rows, data.targets, "restarted", limit=600, label_delay=50, run_id=run_id)
            assert watcher.wait_for(600, 120), f"{watcher.total} of 600 scored after the restart"
        finally:
            watcher.close()
        # The checkpoint's offsets belong to the old topic: the new examples are learned all the same.
        info = wait_learned(registry, "restarted", before + 600, timeout=180)
        assert info["n_learned"] == before + 600
    finally:
        if worker is not None:
            worker.stop()
        stack.down()


def start(settings: Settings, tmp_path, name: str) -> WorkerProcess:
    worker = WorkerProcess(dataclasses.replace(settings, web_port=free_port()), tmp_path / f"{name}.log").start()
    worker.wait_ready(240, models=["restarted"])
    return worker
