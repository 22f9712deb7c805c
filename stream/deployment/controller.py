"""The deployment controller of one worker: drift ──► retrain ──► shadow ──► promote or discard
──► probation ──► keep or roll back, for the models whose learners this worker holds.

One controller decides for a model: the one on the worker that holds the model's ``training``
partition, where its champion and challenger learn side by side (so the paired test sees both
models' errors on the same examples, and a promotion hands the challenger's learner over without
a reload). No Kafka here: the controller is given a function that sends its records.

Every step that changes something writes its intent to the :class:`~.store.DeployStore` first,
then does what is idempotent (alias moves to a given version, records whose id is fixed by the
trigger), then the next phase; a worker that dies anywhere resumes from the intent and reaches
the same decision once::

    idle ──trigger──► waiting ──enough examples──► training ──registered──► shadow
    shadow ──test passes (auto)──► promoting ──► probation ──probation ends──► idle
    shadow ──too many examples without passing──► discarding ──► idle (challenger_discarded)
    probation ──previous champion wins, or failures──► rolling_back ──► idle (rolled_back)

Manual commands (promote, rollback, retrain) go through the same steps, audited with who asked.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Awaitable, Callable

from stream.learning.learners import Learners
from stream.orphans import exit_with_parent
from stream.registry.registry import Registry
from stream.settings import Settings
from stream.training.retrain import TooSlowToLearn, retrain_signed, warm_up
from stream.wire.drift import (
    CHALLENGER_DISCARDED,
    CHALLENGER_REGISTERED,
    DEPLOYED,
    RETRAIN_STARTED,
    ROLLED_BACK,
    deploy_record,
)

from .store import DeployStore

log = logging.getLogger(__name__)

#: Examples the probation's hard limit waits for before judging a failure rate.
MIN_FAILURE_SAMPLE = 50


@dataclass(frozen=True)
class Policy:
    """The settings of the loop (``DRIFTLINE_DEPLOY_POLICY`` and friends), validated at start-up."""

    mode: str  # auto, challenger, off
    retrain_on: tuple[str, ...]
    cooldown_seconds: float
    specs: tuple[str, ...]  # empty: the champion's own
    min_examples: int
    holdout: float
    max_learn_share: float  # of a core, for a challenger's learning at the model's label rate; 0: no limit
    alpha: float
    min_disagreements: int
    min_gain: float
    max_examples: int
    probation_examples: int
    rollback_alpha: float
    max_failure_rate: float

    def promotion(self) -> tuple[float, int, float]:
        """What the paired test must reach to promote: alpha, disagreements, gain."""
        return self.alpha, self.min_disagreements, self.min_gain

    def rollback(self) -> tuple[float, int, float]:
        """What the previous champion's test must reach on probation to roll back."""
        return self.rollback_alpha, self.min_disagreements, 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> "Policy":
        return cls(settings.deploy_policy, settings.retrain_kinds, settings.retrain_cooldown_seconds,
                   settings.retrain_spec_names, settings.retrain_min_examples, settings.retrain_holdout,
                   settings.retrain_max_learn_share, settings.promote_alpha, settings.promote_min_disagreements, settings.promote_min_gain,
                   settings.challenger_max_examples, settings.probation_examples, settings.rollback_alpha,
                   settings.rollback_max_failure_rate)


class CommandError(Exception):
    """A manual command that cannot be carried out now (the reason goes back to who asked)."""


class Controller:
    def __init__(self, policy: Policy, store: DeployStore, registry: Callable[[], Registry], learners: Learners,
                 send: Callable[[dict], Awaitable[None]], key: bytes | None):
        self.policy = policy
        self.store = store
        self._registry = registry
        self.learners = learners
        self.send = send
        self.key = key
        self.training: dict[str, asyncio.Future] = {}  # model -> its retrain running in the process below
        self.decisions = 0  # records sent by this worker (for /health)
        self.busy = False  # a model of this worker is somewhere in the loop: look more often
        self._pool: ProcessPoolExecutor | None = None
        self._wake: asyncio.Event | None = None
        self.watched: dict[str, str] = {}  # model -> "shadow" or "probation": its test may decide (see decision_due)

    # Waking the tick ----------------------------------------------------------------------------------
    def nudge(self) -> None:
        """Something a phase waits for has happened (a trigger stored, a retrain finished): look
        now, not at the next tick. Every event served between the drift and the promotion is
        served by the old model."""
        if self._wake is not None:
            self._wake.set()

    async def wait_for_work(self, timeout: float) -> None:
        """Until :meth:`nudge` is called or ``timeout`` seconds pass."""
        if self._wake is None:
            self._wake = asyncio.Event()
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        self._wake.clear()

    def pool(self) -> ProcessPoolExecutor:
        """One process for retraining: a forest takes seconds of CPU, which in a thread of the worker
        would be taken from scoring (the GIL). Spawned, not forked: the worker has threads (aiokafka's,
        Redis clients') that a fork would copy mid-flight."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=exit_with_parent, initargs=(os.getpid(),))
            self._pool.submit(warm_up)  # imports River's forests and trees while the examples arrive
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    @property
    def registry(self) -> Registry:
        return self._registry()

    def decision_due(self, name: str) -> bool:
        """Would a look at the model now move it on? Its learner asks after each example that the
        model in shadow won (the only kind of example that can make a test pass), so that a test
        passing in the middle of a learn batch is acted on at once rather than after the batch: with
        a forest learning, a batch after a busy moment takes a good part of a second. No Redis here:
        the phase is the one this controller last saw."""
        watched = self.watched.get(name)
        shadow, champion = self._challenger(name), self._champion(name)
        if watched is None or shadow is None or champion is None or shadow.paired is None:
            return False
        if watched == "shadow":
            return self._shadow_verdict(shadow) is not None
        return self._probation_verdict(champion, shadow) is not None

    def _watch(self, name: str, state: dict) -> None:
        phase = state.get("phase", "idle")
        # A challenger that passed under the `challenger` policy waits for a person: nothing to act on.
        if phase == "probation" or (phase == "shadow" and not state.get("ready")):
            self.watched[name] = phase
        else:
            self.watched.pop(name, None)

    # The tick ---------------------------------------------------------------------------------------
    async def step(self, name: str, state: dict) -> None:
        """One look at a model (its learners are loaded; the caller holds the learning lock)."""
        self._watch(name, state)
        phase = state.get("phase", "idle")
        if phase == "idle":
            await self._take_trigger(name, state)
        elif phase == "waiting":
            await self._start_retrain(name, state)
        elif phase == "training":
            await self._finish_retrain(name, state)
        elif phase == "shadow":
            await self._judge_challenger(name, state)
        elif phase == "discarding":
            await self._discard(name, state)
        elif phase == "promoting":
            await self._promote(name, state)
        elif phase == "probation":
            await self._judge_probation(name, state)
        elif phase == "rolling_back":
            await self._roll_back(name, state)
        if phase != "idle":
            await self._mark_busy(name, state)

    def _set(self, name: str, state: dict) -> None:
        self.store.set_state(name, state)
        self._watch(name, state)

    async def _record(self, name: str, kind: str, trigger: str, **fields: Any) -> dict:
        champion = self.learners.learners.get((name, "champion"))
        # ``version`` is the champion's, except on challenger_registered: the new version's.
        version = fields.pop("version", champion.version if champion else None)
        record = deploy_record(name, version, kind, trigger, time.time(), **fields)
        await self.send(record)  # first on drift-events: the record is the decision's proof
        await asyncio.to_thread(self.store.add_record, name, record)
        self.decisions += 1
        log.info("%s: %s %s", name, kind, {k: v for k, v in record.items() if k in ("to_version", "from_version", "version", "reason", "test")})
        return record

    def _champion(self, name: str):
        return self.learners.learners.get((name, "champion"))

    def _challenger(self, name: str):
        return self.learners.learners.get((name, "challenger"))

    # idle -> waiting ---------------------------------------------------------------------------------
    async def _take_trigger(self, name: str, state: dict) -> None:
        champion = self._champion(name)
        for trigger in await asyncio.to_thread(self.store.untaken, name):
            if self.policy.mode == "off":
                outcome = "policy_off"
            elif trigger.get("kind") not in self.policy.retrain_on:
                outcome = "not_a_trigger"
            elif champion is None or trigger.get("version") != champion.version:
                outcome = "stale"  # about a version that no longer serves
            elif time.time() < state.get("cooldown_until", 0.0):
                outcome = "cooldown"
            else:
                await asyncio.to_thread(self._take, name, trigger, champion)
                return
            await asyncio.to_thread(self.store.handle, name, trigger["id"], outcome)

    def _take(self, name: str, trigger: dict, champion: Any, manual: bool = False) -> None:
        buffer = champion.buffer
        seen = buffer.seen if buffer is not None else 0
        if trigger.get("kind") == "concept_drift" and isinstance(trigger.get("position"), int):
            # The detector fired this many examples ago: they are the new concept already. Not
            # from the record's change_position, where the errors began to rise: in a gradual
            # change those examples are mostly the old concept, and a challenger trained on them
            # served 0.9 to 1.5 points less (in-process, four seeds), where on abrupt changes
            # starting there saved 30 to 40 events.
            position = max(0, seen - max(0, champion.n_learned - trigger["position"] - 1))
        elif manual:
            position = max(0, seen - self.policy.min_examples)  # what there is now
        else:
            position = seen
        self.store.handle(name, trigger["id"], "taken")
        self.pool()  # started now, ready when the examples are
        self._set(name, {"phase": "waiting", "trigger": trigger["id"], "trigger_kind": trigger.get("kind"),
                         "position": position, "champion": champion.version, "taken_at": time.time(),
                         "manual": manual, "by": trigger.get("by", "controller")})

    async def _mark_busy(self, name: str, state: dict) -> None:
        """Triggers that arrive while a retrain is under way are answered, once: busy."""
        for trigger in await asyncio.to_thread(self.store.untaken, name):
            if trigger["id"] != state.get("trigger"):
                await asyncio.to_thread(self.store.handle, name, trigger["id"], "busy")

    # waiting -> training -------------------------------------------------------------------------------
    def _window(self, name: str, state: dict) -> list:
        champion = self._champion(name)
        return champion.buffer.since(state["position"]) if champion is not None and champion.buffer is not None else []

    async def _start_retrain(self, name: str, state: dict) -> None:
        champion = self._champion(name)
        if champion is None or champion.version != state.get("champion"):
            await self._back_to_idle(name, state, "the champion changed while waiting")
            return
        have = champion.buffer.seen - state["position"] if champion.buffer is not None else 0
        needed = min(self.policy.min_examples, len(self._window(name, state))) if state.get("manual") else self.policy.min_examples
        if have < max(needed, 10):
            return
        state = dict(state, phase="training", window={"from": state["position"], "to": champion.buffer.seen,
                                                       "n": len(self._window(name, state))}, started_at=time.time())
        await self._record(name, RETRAIN_STARTED, state["trigger"], window=state["window"],
                           trigger_kind=state.get("trigger_kind"), by=state.get("by"))
        await asyncio.to_thread(self._set, name, state)

    # training -> shadow ----------------------------------------------------------------------------------
    async def _finish_retrain(self, name: str, state: dict) -> None:
        task = self.training.get(name)
        if task is None:
            # Registered already (a crash after registering)? Then no second training for this trigger.
            version = await asyncio.to_thread(self._registered_for, name, state["trigger"])
            if version is None:
                self._start_training(name, state)
                return
            result = None
        elif not task.done():
            return
        else:
            del self.training[name]
            try:
                data, metadata, result = task.result()
                version = await asyncio.to_thread(self.registry.register, data, metadata,
                                                  reason=f"retrained after {state['trigger']}")
            except TooSlowToLearn as exc:
                # Not a fault: the specs cannot learn at this rate. Retrying on the next drift
                # would fail the same way, so the cooldown applies.
                log.warning("%s: retrain for %s chose no challenger: %s", name, state["trigger"], exc)
                await self._no_challenger(name, state, f"no challenger: {exc}", cooldown=True)
                return
            except Exception as exc:
                log.exception("%s: retrain for %s failed", name, state["trigger"])
                await self._no_challenger(name, state, f"retrain failed: {type(exc).__name__}: {exc}")
                return
        champion = self._champion(name)
        await asyncio.to_thread(self.registry.set_alias, name, "challenger", version,
                                f"retrained after {state['trigger']}", "controller")
        await self.learners.move(name, champion.version, version, catch_up_from=state["window"]["to"], checkpoint=False)
        fields = {"version": version, "parent_version": champion.version, "window": state["window"]}
        if result is not None:
            fields.update(spec=result["spec"], holdout=result["holdout"], training_seconds=round(result["seconds"], 3))
            retrained = result
        else:  # registered before a crash: what the version's metadata says
            metadata = await asyncio.to_thread(self._metadata, name, version)
            retrained = metadata.get("retrain", {})
            fields.update(spec=metadata.get("model_spec"), holdout=metadata.get("metrics", {}).get("holdout"))
        fields.update(candidates=retrained.get("candidates"), learn_ms=retrained.get("learn_ms"))
        if retrained.get("passed_over"):
            fields["passed_over"] = retrained["passed_over"]
        await self._record(name, CHALLENGER_REGISTERED, state["trigger"], **fields)
        await asyncio.to_thread(self._set, name, dict(state, phase="shadow", challenger=version, registered_at=time.time()))

    async def _no_challenger(self, name: str, state: dict, reason: str, cooldown: bool = False) -> None:
        """A retrain that ended without a challenger still decides its trigger: a record says why,
        then the loop is idle again."""
        champion = self._champion(name)
        await self._record(name, CHALLENGER_DISCARDED, state["trigger"], from_version=champion.version if champion else None,
                           to_version=None, reason=reason[:500], test=None, by=state.get("by", "controller"))
        await self._back_to_idle(name, state, reason, cooldown=cooldown)

    def _start_training(self, name: str, state: dict) -> None:
        champion = self._champion(name)
        examples = self._window(name, state)
        specs = self.policy.specs or (champion.metadata.get("model_spec"),)
        parent = dict(champion.metadata, version=champion.version)
        context = {"trigger": state["trigger"], "window": state["window"], "by": state.get("by", "controller")}
        rate = self.learners.label_rate(name)
        max_learn_seconds = None
        if rate and self.policy.max_learn_share > 0:
            max_learn_seconds = self.policy.max_learn_share / rate
            context["label_rate"] = round(rate, 1)
        work = partial(retrain_signed, examples, parent, [s for s in specs if s], self.policy.holdout, context, self.key,
                       max_learn_seconds)
        log.info("%s: retraining %s on %d examples after %s%s", name, "/".join(s for s in specs if s), len(examples), state["trigger"],
                 f" (labels at {rate:,.0f}/s: at most {1000 * max_learn_seconds:.3g} ms an example)" if max_learn_seconds else "")
        self.training[name] = asyncio.get_running_loop().run_in_executor(self.pool(), work)
        self.training[name].add_done_callback(lambda _: self.nudge())

    def _registered_for(self, name: str, trigger: str) -> int | None:
        for record in reversed(self.registry.versions(name)):
            if (record["metadata"].get("retrain") or {}).get("trigger") == trigger:
                return int(record["version"])
        return None

    def _metadata(self, name: str, version: int) -> dict:
        for record in self.registry.versions(name):
            if record["version"] == version:
                return record["metadata"]
        return {}

    # shadow -> promoting / idle ----------------------------------------------------------------------------
    async def _judge_challenger(self, name: str, state: dict) -> None:
        challenger, champion = self._challenger(name), self._champion(name)
        if challenger is None or challenger.version != state.get("challenger") or champion is None:
            await self._back_to_idle(name, state, "the challenger was replaced or removed")
            return
        test, policy = challenger.paired, self.policy
        verdict = self._shadow_verdict(challenger)
        if verdict == "passed":
            if policy.mode == "auto":
                await self._promote(name, dict(state, phase="promoting", to_version=challenger.version,
                                               from_version=champion.version, reason="the sequential test passed",
                                               test=test.to_dict(*policy.promotion()), by="controller"))
            elif not state.get("ready"):
                log.info("%s: challenger v%s passed the test; waiting for a person to promote it", name, challenger.version)
                await asyncio.to_thread(self._set, name, dict(state, ready=True, test=test.to_dict(*policy.promotion())))
        elif verdict == "discard":
            await self._discard(name, dict(state, phase="discarding", from_version=champion.version,
                                           to_version=challenger.version, test=test.to_dict(*policy.promotion()),
                                           reason=f"not promoted after {test.n} paired examples"))

    def _shadow_verdict(self, challenger) -> str | None:
        """``passed`` (the test), ``discard`` (too many pairs without passing) or None (not yet)."""
        test = challenger.paired
        if test.passes(*self.policy.promotion()):
            return "passed"
        return "discard" if test.n >= self.policy.max_examples else None

    async def _discard(self, name: str, state: dict) -> None:
        await asyncio.to_thread(self._set, name, state)  # the intent first
        await asyncio.to_thread(self.registry.remove_alias, name, "challenger", state["reason"], "controller")
        await self.learners.move(name, state["from_version"], None)
        await self._record(name, CHALLENGER_DISCARDED, state["trigger"], from_version=state["from_version"],
                           to_version=state["to_version"], reason=state["reason"], test=state["test"])
        await self._back_to_idle(name, state, "challenger discarded", cooldown=True)

    async def _promote(self, name: str, state: dict) -> None:
        """Move champion to ``to_version`` (the previous champion on probation as challenger)."""
        await asyncio.to_thread(self._set, name, state)  # the intent first
        to_version, from_version = state["to_version"], state["from_version"]
        keep = from_version if self.policy.probation_examples > 0 else None
        await asyncio.to_thread(self.registry.move_aliases, name, to_version, keep, state["reason"], state.get("by", "controller"))
        await self.learners.move(name, to_version, keep)
        await self._record(name, DEPLOYED, state["trigger"], from_version=from_version, to_version=to_version,
                           reason=state["reason"], test=state.get("test"), by=state.get("by", "controller"))
        if keep is None:
            await self._back_to_idle(name, state, "promoted without probation", cooldown=True)
        else:
            await asyncio.to_thread(self._set, name, {"phase": "probation", "trigger": state["trigger"], "champion": to_version,
                                                      "previous": from_version, "promoted_at": time.time(),
                                                      "by": state.get("by", "controller")})

    # probation -> idle / rolling_back ------------------------------------------------------------------------
    async def _judge_probation(self, name: str, state: dict) -> None:
        champion, previous = self._champion(name), self._challenger(name)
        if champion is None or champion.version != state["champion"]:
            await self._back_to_idle(name, state, "the champion moved during probation", cooldown=True)
            return
        if previous is None or previous.version != state["previous"]:
            await self._back_to_idle(name, state, "the previous champion left the shadow", cooldown=True)
            return
        verdict = self._probation_verdict(champion, previous)
        if verdict is None:
            return
        outcome, why = verdict
        if outcome == "roll back":
            await self._roll_back(name, dict(state, phase="rolling_back", to_version=previous.version,
                                             from_version=champion.version, reason=why,
                                             test=previous.paired.to_dict(*self.policy.rollback()), by="controller"))
        else:
            await asyncio.to_thread(self.registry.remove_alias, name, "challenger", why, "controller")
            await self.learners.move(name, champion.version, None)
            await self._back_to_idle(name, state, "probation passed", cooldown=True)

    def _probation_verdict(self, champion, previous) -> tuple[str, str] | None:
        """``("roll back", why)``, ``("passed", why)`` (the probation is over) or None (not yet)."""
        test, policy = previous.paired, self.policy
        judged = champion.failures + test.n
        if judged >= MIN_FAILURE_SAMPLE and champion.failures / judged > policy.max_failure_rate:
            return "roll back", f"the new champion failed on {champion.failures} of {judged} examples"
        if policy.mode == "auto" and test.passes(*policy.rollback()):
            return "roll back", "the previous champion won the probation test"
        if test.n >= policy.probation_examples:
            return "passed", f"probation passed after {test.n} paired examples"
        return None

    async def _roll_back(self, name: str, state: dict) -> None:
        await asyncio.to_thread(self._set, name, state)
        await asyncio.to_thread(self.registry.move_aliases, name, state["to_version"], None, state["reason"],
                                state.get("by", "controller"))
        await self.learners.move(name, state["to_version"], None)
        await self._record(name, ROLLED_BACK, state["trigger"], from_version=state["from_version"],
                           to_version=state["to_version"], reason=state["reason"], test=state.get("test"),
                           by=state.get("by", "controller"))
        await self._back_to_idle(name, state, "rolled back", cooldown=True)

    async def _back_to_idle(self, name: str, state: dict, why: str, cooldown: bool = False) -> None:
        log.info("%s: back to idle after %s: %s", name, state.get("trigger"), why)
        until = time.time() + self.policy.cooldown_seconds if cooldown else state.get("cooldown_until", 0.0)
        await asyncio.to_thread(self._set, name, {"phase": "idle", "cooldown_until": until, "last": {
            "trigger": state.get("trigger"), "phase": state.get("phase"), "outcome": why, "at": time.time()}})

    # Manual commands -------------------------------------------------------------------------------------
    async def command(self, name: str, state: dict, command: dict) -> dict | None:
        """Carry out a manual command; returns its record (or raises :class:`CommandError`)."""
        action, by = command["action"], command.get("by") or "cli"
        reason = command.get("reason") or f"manual {action}"
        champion = self._champion(name)
        if champion is None:
            raise CommandError(f"model {name!r} has no champion")
        trigger = f"manual-{command['id']}"
        if action == "promote":
            version = command.get("version")
            if not isinstance(version, int) or version == champion.version:
                raise CommandError(f"version {version!r} is not a version to promote (the champion is v{champion.version})")
            if version not in {r["version"] for r in await asyncio.to_thread(self.registry.versions, name)}:
                raise CommandError(f"model {name!r} has no version {version}")
            challenger = self._challenger(name)
            test = challenger.paired.to_dict(*self.policy.promotion()) if challenger is not None and challenger.version == version and challenger.paired else None
            # A challenger a trigger trained, in shadow: promoting it is that trigger's decision, taken by a
            # person; promoting another version ends its trigger too, with a record that says so.
            shadowed = state.get("trigger") if state.get("phase") == "shadow" and challenger is not None \
                and challenger.version == state.get("challenger") else None
            if shadowed is not None and challenger.version == version:
                trigger = shadowed
            elif shadowed is not None:
                await self._record(name, CHALLENGER_DISCARDED, shadowed, from_version=champion.version,
                                   to_version=challenger.version, reason=f"v{version} promoted instead ({reason})",
                                   test=challenger.paired.to_dict(*self.policy.promotion()) if challenger.paired else None, by=by)
            await self._promote(name, {"phase": "promoting", "trigger": trigger, "to_version": version,
                                       "from_version": champion.version, "reason": reason, "test": test, "by": by})
            return await self._last_record(name)
        if action == "rollback":
            previous = state.get("previous") if state.get("phase") == "probation" else None
            if previous is None:
                # A rollback undoes a promotion. Rolling back a rollback would bring back the version
                # just taken off (a retried request, a second click): that is a promotion, asked as one.
                moves = [r for r in await asyncio.to_thread(self.store.records, name) if r.get("kind") in (DEPLOYED, ROLLED_BACK)]
                if moves and moves[-1]["kind"] == ROLLED_BACK and moves[-1].get("to_version") == champion.version:
                    undone = moves[-1].get("from_version")
                    raise CommandError(f"v{champion.version} of {name!r} serves since a rollback from v{undone}: there is "
                                       f"no promotion to undo (to serve v{undone} again, promote it)")
                history = await asyncio.to_thread(self.registry.history, name)
                previous = history[-1]["previous"] if history else None
            if previous is None:
                raise CommandError(f"model {name!r} has no earlier champion to roll back to")
            challenger = self._challenger(name)
            test = challenger.paired.to_dict(*self.policy.rollback()) if challenger is not None and challenger.version == previous and challenger.paired else None
            await self._roll_back(name, {"phase": "rolling_back", "trigger": state.get("trigger") or trigger,
                                         "to_version": previous, "from_version": champion.version, "reason": reason,
                                         "test": test, "by": by})
            return await self._last_record(name)
        if action == "retrain":
            if state.get("phase", "idle") != "idle":
                raise CommandError(f"model {name!r} is busy: {state['phase']} after {state.get('trigger')}")
            available = len(champion.buffer.examples) if champion.buffer is not None else 0
            if available < 10:
                raise CommandError(f"model {name!r} has {available} labeled examples to retrain on; at least 10 are needed")
            await asyncio.to_thread(self._take, name, {"id": trigger, "kind": "manual", "by": by}, champion, True)
            return None
        raise CommandError(f"unknown action {action!r}")

    async def _last_record(self, name: str) -> dict | None:
        records = await asyncio.to_thread(self.store.records, name)
        return records[-1] if records else None
