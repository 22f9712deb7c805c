"""The benchmarks' temporary state folders: removed when a run passes, kept when it fails.

A continuous-deployment run leaves several hundred MB of worker logs and snapshots; every run of
every benchmark used to leave its folder behind.
"""

import importlib.util
import tempfile
from pathlib import Path

import pytest

COMMON = Path(__file__).resolve().parent.parent / "benchmarks" / "common.py"


@pytest.fixture()
def common(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the kept folders go with the test's
    spec = importlib.util.spec_from_file_location("bench_common", COMMON)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_with_folder(common, outcome):
    made = []

    def main():
        made.append(common.state_folder("driftline-test-"))
        (made[0] / "worker.log").write_text("a worker's log")
        return outcome()

    return made, main


def test_a_passing_run_removes_its_folder(common):
    made, main = run_with_folder(common, lambda: 0)
    with pytest.raises(SystemExit) as exit_:
        common.run(main)
    assert exit_.value.code == 0
    assert not made[0].exists()


def test_a_failing_run_keeps_its_folder_and_says_where(common, capsys):
    made, main = run_with_folder(common, lambda: 1)
    with pytest.raises(SystemExit) as exit_:
        common.run(main)
    assert exit_.value.code == 1
    assert (made[0] / "worker.log").read_text() == "a worker's log"
    assert str(made[0]) in capsys.readouterr().err


def test_a_run_that_raises_keeps_its_folder(common):
    def fail():
        raise AssertionError("worker produced 10 of 20")

    made, main = run_with_folder(common, fail)
    with pytest.raises(AssertionError, match="10 of 20"):
        common.run(main)
    assert made[0].exists()
