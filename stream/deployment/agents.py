"""The deployment stage: ``drift-events`` ──► triggers (Redis) ──► the controller of each model.

The triggers agent reads ``drift-events`` (every worker, its partitions) and keeps each record
that may start a retrain, once, in Redis; the controller tick runs on every worker for the models
whose ``training`` partition it holds (the partition the model's name hashes to, as the producers
of ``training`` pick it), so exactly one worker decides for a model, where its learners are. Drift
that a worker finds itself (its learners' concept drift, its monitor's windows) is kept at once as
well, without waiting for its round trip through ``drift-events``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from aiokafka.partitioner import murmur2

from stream.learning.agents import Learning
from stream.metrics import METRICS
from stream.settings import Settings
from stream.transport.faust_app import raw_topic
from stream.transport.isolation import (
    DeadLetterBuffer,
    Isolation,
    is_infrastructure,
    reject_into,
    until_done,
)
from stream.transport.messages import messages_of
from stream.transport.producer import sender
from stream.transport.topics import TopicNames
from stream.wire.drift import encode as encode_record
from stream.wire.drift import parse_drift_record

from .controller import CommandError, Controller, Policy
from .store import DeployStore

log = logging.getLogger(__name__)

#: How often each worker looks at the models it decides for (seconds)...
TICK_SECONDS = 0.25
#: ...and while one of them is in the loop (waiting for examples, training, in shadow, on probation):
#: the paired test passes after a few dozen labeled examples, which arrive in a fraction of a second.
BUSY_TICK_SECONDS = 0.05
#: Phases one model may go through in one tick.
STEPS_PER_TICK = 4


@dataclass
class Deployment:
    policy: Policy
    store: DeployStore
    controller: Controller
    isolation: Isolation
    deadletters: DeadLetterBuffer = field(default_factory=DeadLetterBuffer)
    triggers_stored: int = 0
    errors: int = 0
    last_error: str | None = None
    model_errors: dict[str, str] = field(default_factory=dict)  # model -> why its loop cannot go on


def partition_of(name: str, partitions: int) -> int:
    """The ``training`` partition of a model (the producers' murmur2 of its name).

    >>> partition_of("churn", 4)
    1
    """
    return (murmur2(name.encode()) & 0x7FFFFFFF) % partitions


def install(app: Any, settings: Settings, topics: TopicNames, registry_factory, learning: Learning,
            monitoring: Any) -> Deployment:
    policy = Policy.from_settings(settings)
    store = DeployStore.from_url(settings.redis_url, settings.app_id, timeout=2.0)
    send_records = sender(app, topics.drift)

    async def send(record: dict) -> None:
        await send_records([(record["model"].encode(), encode_record(record))])
        METRICS.records_sent([record])

    registry_holder: list = []

    def registry():
        if not registry_holder:
            registry_holder.append(registry_factory())
        return registry_holder[0]

    controller = Controller(policy, store, registry, learning.learners, send, settings.signing_key_bytes())
    deployment = Deployment(policy, store, controller, Isolation("triggers"))
    send_deadletters = sender(app, topics.deadletter)

    keep_triggers = partial(keep_trigger_messages, deployment)
    learning.on_concept_drifts.append(partial(take_own_triggers, deployment))
    # The monitoring stage is handed in: deployment does not import it (tests/test_layout.py).
    monitoring.on_drift_records.append(partial(take_own_triggers, deployment))
    learning.learners.decision_due = controller.decision_due
    learning.on_decisions_due.append(partial(decide_now, settings, learning, deployment))

    reject = partial(reject_into, deployment.deadletters)

    async def take_triggers(batch) -> None:
        messages, stored = messages_of(batch), deployment.triggers_stored
        await asyncio.to_thread(deployment.isolation.run, messages, keep_triggers, reject)
        if deployment.triggers_stored > stored:
            controller.nudge()
        await deployment.deadletters.flush(send_deadletters)

    @app.agent(raw_topic(app, topics.drift, settings.partitions), name="triggers", concurrency=1)
    async def triggers(stream):
        async for batch in stream.take_events(100, within=0.2):
            await until_done(partial(take_triggers, batch), "storing drift triggers")
            METRICS.events.labels(topic=topics.drift).inc(len(batch))

    @app.task
    async def deploy_ticks() -> None:
        while not app.should_stop:
            await controller.wait_for_work(BUSY_TICK_SECONDS if controller.busy else TICK_SECONDS)
            try:
                await tick(app, settings, topics, learning, deployment, registry)
            except Exception as exc:  # Redis or the broker away: the next tick goes on from the stored intent
                deployment.errors += 1
                deployment.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("deployment tick failed: %s", deployment.last_error)

    async def stop_retraining() -> None:
        controller.close()

    app.before_stop.append(stop_retraining)
    return deployment


def store_triggers(deployment: Deployment, records: list[dict]) -> None:
    """Keep each record that may start a retrain, once by its id (blocking: Redis)."""
    policy = deployment.policy
    for record in records:
        if record["kind"] in policy.retrain_on and policy.mode != "off" and deployment.store.add_trigger(record["model"], record):
            deployment.triggers_stored += 1
            log.info("%s: drift record %s may start a retrain", record["model"], record["id"])


def keep_trigger_messages(deployment: Deployment, messages) -> list:
    """The triggers agent's work on a batch of drift-events messages (nothing to send on)."""
    store_triggers(deployment, [parse_drift_record(message.value) for message in messages])
    return []


async def take_own_triggers(deployment: Deployment, records: list[dict]) -> None:
    """Drift found on this worker, by a learner (concept drift) or by the drift monitor (data,
    prediction and feature drift): the trigger is stored at once, not after its round trip through
    drift-events (the triggers agent's batch wait, up to 0.2 s, and a fetch wait, which on the
    embedded broker can be a second). A learner's model has its controller on this worker too (it
    follows the model's training partition), woken here; a monitor's model may have it on another
    worker, whose next tick finds the stored trigger. The copy that comes back from the topic has
    the same id: it is stored once."""
    stored = deployment.triggers_stored
    try:
        await asyncio.to_thread(store_triggers, deployment, records)
    except Exception as exc:  # Redis away: the triggers agent stores them from the topic
        log.warning("cannot store %d drift trigger(s) yet: %s: %s", len(records), type(exc).__name__, exc)
    if deployment.triggers_stored > stored:
        deployment.controller.nudge()


async def decide_now(settings: Settings, learning: Learning, deployment: Deployment, names: set[str]) -> None:
    """A model's paired test became ready to decide in the middle of a learn batch: its step now,
    not at the next tick. A failure is left to the tick, which tries again."""
    for name in names:
        try:
            await step_model(settings, learning, deployment, name, commands=0)
        except Exception as exc:
            log.warning("deployment loop of %s: deciding at once failed (the next tick tries again): %s: %s",
                        name, type(exc).__name__, exc)


async def tick(app: Any, settings: Settings, topics: TopicNames, learning: Learning, deployment: Deployment, registry) -> None:
    assignment = app.consumer.assignment() if app.consumer is not None else set()
    mine = {tp.partition for tp in assignment if tp.topic == topics.training}
    if not mine:
        return
    names = [n for n in await asyncio.to_thread(registry().models) if partition_of(n, settings.partitions) in mine]
    if not names:
        return
    store, controller = deployment.store, deployment.controller
    if deployment.policy.mode != "off":
        controller.pool()  # the retraining process, spawned and warmed before the first drift needs it
    pending = await asyncio.to_thread(store.pending, names)
    busy = False
    for name in names:
        state, untaken, commands = pending[name]
        if state.get("phase", "idle") == "idle" and untaken <= 0 and commands <= 0 and name not in controller.training:
            continue  # nothing to do: the usual case, one Redis round trip for all models
        try:
            busy = await step_model(settings, learning, deployment, name, commands) != "idle" or busy
        except Exception as exc:
            if is_infrastructure(exc):
                raise  # Redis or the broker away: the whole tick waits for the next
            # This model's trouble (an artifact that cannot be loaded, say) must not stop the
            # decisions of the other models on this worker: logged once per distinct error.
            error = f"{type(exc).__name__}: {exc}"
            deployment.errors += 1
            if deployment.model_errors.get(name) != error:
                log.error("deployment loop of %s: %s", name, error)
            deployment.model_errors[name] = error
        else:
            deployment.model_errors.pop(name, None)
    controller.busy = busy or bool(controller.training)


async def step_model(settings: Settings, learning: Learning, deployment: Deployment, name: str, commands: int) -> str:
    """Carry out a model's commands and move it on; returns the phase it is left in."""
    store, controller = deployment.store, deployment.controller
    async with learning.lock:
        if not await learning.learners.ensure(name, partition_of(name, settings.partitions)):
            return "idle"  # no champion: nothing to decide
        # Read under the lock: a decision taken at once by a learn batch (decide_now) may have moved
        # the model on since the tick read its state.
        state = await asyncio.to_thread(store.state, name)
        for _ in range(commands):
            command = await asyncio.to_thread(store.next_command, name)
            if command is None:
                break
            await run_command(deployment, name, command)
            state = await asyncio.to_thread(store.state, name)
        # A step that moves the model on (a trigger taken, a retrain finished, a test passed) is
        # followed at once by the next: each phase waiting a tick would add seconds between the
        # drift and the promotion, events served by the old model.
        for _ in range(STEPS_PER_TICK):
            phase = state.get("phase", "idle")
            await controller.step(name, state)
            state = await asyncio.to_thread(store.state, name)
            if state.get("phase", "idle") == phase:
                break
        return state.get("phase", "idle")


async def run_command(deployment: Deployment, name: str, command: dict) -> None:
    store = deployment.store
    try:
        record = await deployment.controller.command(name, await asyncio.to_thread(store.state, name), command)
    except CommandError as exc:
        await asyncio.to_thread(store.finish, command, False, str(exc))
        return
    detail = {"promote": "promoted", "rollback": "rolled back", "retrain": "retrain started"}.get(command["action"], "done")
    await asyncio.to_thread(store.finish, command, True, detail, record)
