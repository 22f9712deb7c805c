"""Concept-drift detectors: exact drift positions on seeded error streams, the registry, inputs."""

from __future__ import annotations

import random

import pytest
from river import drift
from river.drift import binary

from monitors import DETECTORS, ConceptDriftMonitor, UnknownNameError, make_detector


def mistakes(seed: int, rates=(0.1, 0.4), length: int = 2000) -> list[bool]:
    """0/1 errors of a classifier whose error rate jumps at position ``length``."""
    rng = random.Random(seed)
    return [rng.random() < rate for rate in rates for _ in range(length)]


def absolute_errors(seed: int) -> list[float]:
    """Absolute errors of a regressor whose bias jumps from 0 to 1.5 at position 2000."""
    rng = random.Random(seed)
    return [abs(rng.gauss(mean, 1)) for mean in (0.0, 1.5) for _ in range(2000)]


@pytest.mark.parametrize("name, expected", [
    ("adwin", [2047]), ("kswin", [2099]), ("page_hinkley", [2132]), ("ddm", [2042]), ("eddm", [2180, 2493]),
])
def test_drift_positions_on_a_seeded_classification_error_stream(name, expected):
    monitor = ConceptDriftMonitor(name)
    assert monitor.update_many(mistakes(1)) == expected
    assert (monitor.drift_positions, monitor.n_drifts, monitor.n_seen) == (expected, len(expected), 4000)
    assert monitor.last_drift == expected[-1]


@pytest.mark.parametrize("name, expected", [("adwin", [2047]), ("kswin", [2054]), ("page_hinkley", [2056])])
def test_drift_positions_on_a_seeded_regression_error_stream(name, expected):
    assert ConceptDriftMonitor(name).update_many(absolute_errors(2)) == expected


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_no_drift_on_a_stationary_error_stream(name):
    length = 5000 if name == "kswin" else 20000  # KSWIN runs a KS test per update: ~3,000 updates/s
    assert ConceptDriftMonitor(name).update_many(mistakes(3, rates=(0.1,), length=length)) == []


def test_positions_continue_across_calls_and_match_river_run_directly():
    errors = mistakes(4)
    monitor = ConceptDriftMonitor("adwin")
    found = monitor.update_many(errors[:2030]) + monitor.update_many(errors[2030:])
    detector, direct = drift.ADWIN(), []
    for i, error in enumerate(errors):
        detector.update(error)
        if detector.drift_detected:
            direct.append(i)
    assert found == direct and found


def test_kswin_is_seeded():
    errors = absolute_errors(5)[1500:2600]
    assert ConceptDriftMonitor("kswin", seed=1).update_many(errors) == ConceptDriftMonitor("kswin", seed=1).update_many(errors)
    assert make_detector("kswin", seed=3).seed == 3


def test_registry_builds_river_detectors_with_overridable_defaults():
    assert isinstance(make_detector(), drift.ADWIN)
    assert isinstance(make_detector("ddm"), binary.DDM) and isinstance(make_detector("eddm"), binary.EDDM)
    assert make_detector("adwin", delta=0.1).delta == 0.1
    assert (make_detector("kswin").alpha, make_detector("kswin", alpha=0.01).alpha) == (0.0001, 0.01)
    with pytest.raises(UnknownNameError, match="valid names: adwin, ddm, eddm, kswin, page_hinkley"):
        ConceptDriftMonitor("hddm_a")
    with pytest.raises(ValueError, match="bad parameters for detector 'adwin'"):
        make_detector("adwin", window=3)


def test_binary_detectors_take_only_zero_one_errors():
    monitor = ConceptDriftMonitor("ddm")
    monitor.update(True)
    monitor.update(0)
    with pytest.raises(ValueError, match="takes 0/1 errors"):
        monitor.update(0.5)
    assert ConceptDriftMonitor("adwin").update(0.5) is False


def test_status_is_json_ready():
    monitor = ConceptDriftMonitor("page_hinkley")
    monitor.update_many(mistakes(1))
    assert monitor.to_dict() == {
        "detector": "page_hinkley", "params": {}, "seed": None, "n_seen": 4000, "n_drifts": 1, "drift_positions": [2132],
        "worse_only": True, "n_improvements": 0,
    }
