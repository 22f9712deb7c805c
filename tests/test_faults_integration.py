"""The fault runner's short version: worker SIGKILLs with restarts, a Redis SIGKILL and restart from
its append-only file, and webhook endpoints that fail, are down and hang, each with 1% poison on
a stream of 3,000 events; it fails on any lost event, any example learned twice, a served model
that differs from a fault-free learner of the same examples, or an alert not delivered once.
The full run (100,000 events a scenario) is ``python benchmarks/faults.py`` (docs/reliability.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("worker-kills", "redis-kill", "webhooks")


def test_the_short_fault_suite_loses_nothing_and_learns_nothing_twice():
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "faults.py"), "--seed", "11", "--events", "3000", "--rate", "1000",
         "--kills", "2", "--only", ",".join(SCENARIOS)],
        capture_output=True, text=True, timeout=1200, cwd=ROOT)
    verdicts = [line for line in run.stdout.splitlines() if line.startswith(("PASS ", "FAIL "))]
    assert run.returncode == 0 and len(verdicts) == len(SCENARIOS), run.stdout[-5000:] + run.stderr[-3000:]
    assert all(line.startswith("PASS ") for line in verdicts), "\n".join(verdicts)
    for scenario in SCENARIOS:
        assert any(line.startswith(f"PASS {scenario}:") for line in verdicts), scenario
