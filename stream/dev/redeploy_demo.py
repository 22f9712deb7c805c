"""The demo's second act: a concept change, detected, retrained, proven in shadow and promoted,
printed as it happens.

A Hoeffding tree learns one Agrawal concept and is deployed; the stream then switches to another
concept, with each label a few hundred events behind its event. The demo follows ``drift-events``
and ``predictions`` while the worker detects the change, retrains a challenger, tests it against
the champion on the same labeled examples and promotes it, and prints the served accuracy before
and after, by the version that served.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from typing import Callable

from stream.settings import Settings

MODEL = "agrawal"
LOOP_KINDS = ("concept_drift", "data_drift", "retrain_started", "challenger_registered", "deployed", "rolled_back",
              "challenger_discarded")


def describe(record: dict) -> str:
    """One line per record of the loop, for people.

    >>> describe({"kind": "deployed", "to_version": 2, "from_version": 1, "reason": "the sequential test passed",
    ...           "test": {"b": 99, "c": 29, "n": 222, "e_value": 1.1e8, "gain": 0.315}})
    'PROMOTED v2 over v1: the sequential test passed (b=99, c=29, n=222, e-value 1.1e+08, gain +0.315)'
    >>> describe({"kind": "deployed", "to_version": 2, "from_version": 1, "reason": "the sequential test passed",
    ...           "test": {"b": 60, "c": 20, "n": 200, "e_value": 2.4e5, "gain": 0.2, "since": 250}})
    'PROMOTED v2 over v1: the sequential test passed (b=60, c=20, n=200 after the first 250 pairs, e-value 2.4e+05, gain +0.200)'
    >>> print(describe({"kind": "challenger_registered", "version": 3, "spec": "hoeffding-tree", "holdout": {"accuracy": 0.81},
    ...                 "candidates": {"arf": {"accuracy": 0.84}, "hoeffding-tree": {"accuracy": 0.81}},
    ...                 "passed_over": {"arf": "learns in 0.61 ms an example, more than the 0.5 ms the label rate allows"}}))
    challenger v3 registered (hoeffding-tree, hold-out accuracy 0.810; candidates: arf 0.840, hoeffding-tree 0.810; arf passed over: learns in 0.61 ms an example, more than the 0.5 ms the label rate allows); now scored in shadow
    """
    kind = record["kind"]
    if kind == "concept_drift":
        metrics = record.get("metrics") or {}
        return (f"concept drift detected in v{record['version']}'s errors ({record['detector']}, example {record['position']:,}; "
                f"recent accuracy {metrics.get('accuracy') or 0:.3f})")
    if kind == "data_drift":
        return f"data drift in v{record['version']}: {', '.join(record['drifted_columns'])}"
    if kind == "retrain_started":
        return f"retraining on {record['window']['n']:,} labeled examples since the drift"
    if kind == "challenger_registered":
        holdout = record.get("holdout") or {}
        candidates = ", ".join(f"{spec} {m.get('accuracy', 0):.3f}" for spec, m in (record.get("candidates") or {}).items()
                               if isinstance(m, dict) and "accuracy" in m)
        passed_over = "".join(f"; {spec} passed over: {why}" for spec, why in (record.get("passed_over") or {}).items())
        return (f"challenger v{record['version']} registered ({record['spec']}, hold-out accuracy {holdout.get('accuracy', 0):.3f}; "
                f"candidates: {candidates}{passed_over}); now scored in shadow")
    test = record.get("test") or {}
    restarted = f" after the first {test['since']:,} pairs" if test.get("since") else ""
    numbers = (f" (b={test['b']}, c={test['c']}, n={test['n']}{restarted}, e-value {test['e_value']:.3g}, gain {test['gain']:+.3f})"
               if test else "")
    if kind == "deployed":
        return f"PROMOTED v{record['to_version']} over v{record['from_version']}: {record['reason']}{numbers}"
    if kind == "rolled_back":
        return f"rolled back to v{record['to_version']}: {record['reason']}{numbers}"
    return f"challenger v{record['to_version']} discarded: {record['reason']}{numbers}"


def run_redeploy_demo(settings: Settings, out: Callable[[str], None], n_before: int = 3000, n_after: int = 15_000,
                      rate: float = 1000.0, label_delay: int = 300) -> bool:
    """Returns True when the loop promoted a challenger and the predictions switched to it."""
    from kafka import KafkaConsumer
    from river.datasets import synth

    from stream.model import artifact
    from stream.registry.registry import Registry
    from stream.training.datasets import Dataset
    from stream.training.trainer import train

    from .replay import make_producer, new_run_id

    def rows_of(stream, n):
        rows, targets = [], []
        for x, y in stream.take(n):
            rows.append(x)
            targets.append(y)
        return rows, targets

    train_rows, train_targets = rows_of(synth.Agrawal(classification_function=0, seed=1), 5000)
    registry = Registry.from_url(settings.redis_url)
    # The embedded Redis keeps the registry between runs: a model of an earlier demo would carry
    # its deployment history and cooldown, so each run's second act gets a model of its own.
    known = set(registry.models())
    model = next(n for n in (MODEL, *(f"{MODEL}-{i}" for i in range(2, 10_000))) if n not in known)
    trained = train(Dataset("agrawal-0", "binary_classification", "y", train_rows, train_targets), "hoeffding-tree", model)
    version = registry.register(artifact.dumps(trained, settings.signing_key_bytes()), trained.metadata, alias="champion",
                                reason="driftline demo: concept change")
    out(f"hoeffding-tree on Agrawal function 0 deployed as {model} v{version} "
        f"(hold-out accuracy {trained.metadata['metrics']['holdout']['accuracy']:.3f})")
    before, before_targets = rows_of(synth.Agrawal(classification_function=0, seed=2), n_before)
    after, after_targets = rows_of(synth.Agrawal(classification_function=4, seed=3), n_after)
    rows, targets = before + after, before_targets + after_targets
    out(f"streaming {n_before:,} events of the same concept, then {n_after:,} of Agrawal function 4, at {rate:,.0f}/s, "
        f"each label {label_delay} events behind its event")

    run_id = new_run_id()
    consumer = KafkaConsumer(settings.topic("predictions"), settings.topic("drift-events"), bootstrap_servers=settings.broker_servers,
                             group_id=None, auto_offset_reset="latest", enable_auto_commit=False)
    while not consumer.assignment():
        consumer.poll(timeout_ms=100, max_records=1)
    consumer.seek_to_end()
    for tp in consumer.assignment():
        consumer.position(tp)

    def send() -> None:
        producer = make_producer(settings)
        started = time.monotonic()
        for i, x in enumerate(rows):
            event_id = f"{run_id}-{i}"
            producer.send(settings.topic("events"), key=event_id.encode(),
                          value=json.dumps({"id": event_id, "model": model, "features": x, "ts": time.time()}).encode())
            if i >= label_delay:
                j = i - label_delay
                producer.send(settings.topic("labels"), key=f"{run_id}-{j}".encode(),
                              value=json.dumps({"id": f"{run_id}-{j}", "model": model, "label": targets[j]}).encode())
            ahead = (i + 1) / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        producer.flush()
        producer.close()

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    seen_records: set[str] = set()
    recent: deque[bool] = deque(maxlen=1000)
    by_version: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # version -> [right, scored] after the change
    before_right = before_scored = 0
    promoted_to, last_line, scored = None, 0.0, 0
    deadline = time.monotonic() + 120 + len(rows) / rate
    while scored < len(rows) and time.monotonic() < deadline:
        for tp, messages in consumer.poll(timeout_ms=500, max_records=5000).items():
            for message in messages:
                value = json.loads(message.value)
                if tp.topic == settings.topic("drift-events"):
                    if value.get("model") == model and value["kind"] in LOOP_KINDS and value["id"] not in seen_records:
                        seen_records.add(value["id"])
                        out(f"  [{scored:>6,} scored] {describe(value)}")
                        if value["kind"] == "deployed":
                            promoted_to = value["to_version"]
                    continue
                if message.key is None or not message.key.startswith(run_id.encode()):
                    continue
                i = int(message.key.decode().rsplit("-", 1)[1])
                right = value["prediction"] == targets[i]
                scored += 1
                recent.append(right)
                if i < n_before:
                    before_right, before_scored = before_right + right, before_scored + 1
                else:
                    by_version[value["version"]][0] += right
                    by_version[value["version"]][1] += 1
        now = time.monotonic()
        if now - last_line >= 3.0 and recent:
            last_line = now
            challenger = registry.snapshot_info(model, "challenger")
            test = (challenger or {}).get("paired_test")
            shadow = (f"; in shadow: v{challenger['version']} b={test['b']} c={test['c']} e-value {test['e_value']:.3g}"
                      if test and registry.aliases(model).get("challenger") == challenger.get("version") else "")
            out(f"  [{scored:>6,} scored] served accuracy over the last {len(recent):,}: {sum(recent) / len(recent):.3f}; "
                f"champion v{registry.aliases(model).get('champion')}{shadow}")
    sender.join(timeout=5)
    consumer.close()
    out(f"served accuracy before the change: {before_right / max(1, before_scored):.3f} ({before_scored:,} events)")
    for served_version, (right, count) in sorted(by_version.items()):
        out(f"served accuracy after the change by v{served_version}: {right / count:.3f} ({count:,} events)")
    if promoted_to is None:
        out("no promotion happened within the stream (see driftline models deployment agrawal)")
        return False
    switched = by_version.get(promoted_to, [0, 0])[1] > 0
    out(f"predictions switched to v{promoted_to}: {'yes' if switched else 'not yet'}")
    return switched
