"""Concept-drift detectors from ``river.drift``, registered by name, and a monitor of an error stream.

The learner feeds the champion's per-example error (0/1 for a mistake, or an absolute error for
regression) to a :class:`ConceptDriftMonitor`, which reports where drift was detected. ADWIN is
the default; ``ddm`` and ``eddm`` are River's binary detectors and only accept 0/1 errors.

>>> import random
>>> rng = random.Random(7)
>>> errors = [rng.random() < 0.1 for _ in range(1000)] + [rng.random() < 0.6 for _ in range(1000)]
>>> monitor = ConceptDriftMonitor("adwin")
>>> monitor.update_many(errors)
[1055]
>>> monitor.n_seen, monitor.drift_positions
(2000, [1055])

A detector signals some examples after the change. Where the change most likely began is
estimated from the recent errors at the detection (see :func:`change_point`):

>>> monitor.last_change  # the rate changed at 1000
1006

Every registered detector on the same stream (the error rate jumps at position 1000):

>>> {name: ConceptDriftMonitor(name).update_many(errors) for name in DETECTORS}
{'adwin': [1055], 'kswin': [1064], 'page_hinkley': [1104], 'ddm': [1069], 'eddm': [1054]}
>>> ConceptDriftMonitor("hddm")
Traceback (most recent call last):
...
monitors.exceptions.UnknownNameError: unknown concept-drift detector 'hddm'; valid names: adwin, ddm, eddm, kswin, page_hinkley
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from river import drift
from river.drift import binary

from .exceptions import UnknownNameError

#: Drift positions kept by a monitor (the count of drifts is kept in full).
MAX_POSITIONS = 1000


@dataclass(frozen=True)
class DetectorSpec:
    """How to build one detector: River's class, its defaults, and what it accepts."""

    name: str
    factory: Callable[..., Any]
    #: Binary detectors take 0/1 errors only (River's ``BinaryDriftDetector``).
    binary: bool = False
    #: The detector draws random numbers and takes a ``seed``.
    seeded: bool = False
    defaults: dict = field(default_factory=dict)


#: Every concept-drift detector by name, with River's defaults except where they alarm on
#: stationary error streams (measured on 3 x 20,000 seeded events, see the tests):
#: KSWIN at alpha=0.005 over 100 values: 24 false alarms per 20,000 |N(0, 1)| errors, and no
#: detection on 0/1 errors; at alpha=0.0001 over 300 values, 2 per 60,000, and it detects both.
#: EDDM at its defaults: 87 false alarms per 60,000 events at a 10% error rate; with 100 errors of
#: warm-up and drift at 80% (not 90%) of the best mean distance between errors: 1.
DETECTORS: dict[str, DetectorSpec] = {
    spec.name: spec
    for spec in (
        DetectorSpec("adwin", drift.ADWIN),
        DetectorSpec("kswin", drift.KSWIN, seeded=True, defaults={"alpha": 0.0001, "window_size": 300, "stat_size": 100}),
        DetectorSpec("page_hinkley", drift.PageHinkley),
        DetectorSpec("ddm", binary.DDM, binary=True),
        DetectorSpec("eddm", binary.EDDM, binary=True, defaults={"warm_start": 100, "beta": 0.8}),
    )
}

DEFAULT_DETECTOR = "adwin"


def get_detector_spec(name: str) -> DetectorSpec:
    try:
        return DETECTORS[name]
    except (KeyError, TypeError):
        raise UnknownNameError("concept-drift detector", name, list(DETECTORS)) from None


def make_detector(name: str = DEFAULT_DETECTOR, seed: int | None = 42, **params: Any):
    """A fresh River detector; ``params`` override River's defaults, ``seed`` goes to seeded ones."""
    spec = get_detector_spec(name)
    arguments = {**spec.defaults, **params}
    if spec.seeded:
        arguments.setdefault("seed", seed)
    try:
        return spec.factory(**arguments)
    except TypeError as exc:
        raise ValueError(f"bad parameters for detector {name!r}: {exc}") from None


#: Errors that count as "recent" when a detection is judged a rise or a fall of the error.
RECENT_ERRORS = 200


def change_point(errors: Sequence[float], min_segment: int = 5) -> int | None:
    """Where a run of errors most likely got worse: the index ``t`` that best splits it into a
    lower mean before and a higher mean from ``t`` on (least squares: the largest
    ``t (n - t) / n · (after - before)²``, each part at least ``min_segment`` long); None when no
    split has a higher mean after.

    >>> change_point([0] * 50 + [1, 0] * 20)
    50
    >>> change_point([1, 0] * 20 + [0] * 50) is None  # it got better, not worse
    True

    On an abrupt change of a classifier's error rate from 0.1 to 0.45 (ten seeds), ADWIN signalled
    39 to 103 errors after the change and this split of its 200 most recent errors put the change
    4 before to 19 after where it was.
    """
    n = len(errors)
    cumulative = [0.0]
    for error in errors:
        cumulative.append(cumulative[-1] + float(error))
    best, best_at = 0.0, None
    for t in range(max(1, min_segment), n - max(1, min_segment) + 1):
        before, after = cumulative[t] / t, (cumulative[n] - cumulative[t]) / (n - t)
        if after > before:
            separation = t * (n - t) / n * (after - before) ** 2
            if separation > best:
                best, best_at = separation, t
    return best_at


class ConceptDriftMonitor:
    """Feeds per-example errors to a named detector and records the positions of detected drifts.

    Positions are 0-based indexes in the error stream (the example whose error triggered the
    detection). River's detectors reset themselves after a drift, so detection goes on.

    A model that keeps learning makes fewer errors over time, and ADWIN, KSWIN and Page-Hinkley
    signal that change too. With ``worse_only`` (the default) a detection counts as concept drift
    only when the recent errors (the last :data:`RECENT_ERRORS`) are worse on average than the
    errors since the previous detection; the others are counted in ``n_improvements``:

    >>> falling = [i % 10 < 4 for i in range(1000)] + [i % 10 < 1 for i in range(1000)]
    >>> ConceptDriftMonitor("adwin").update_many(falling), ConceptDriftMonitor("adwin", worse_only=False).update_many(falling)
    ([], [1119])
    """

    def __init__(self, detector: str = DEFAULT_DETECTOR, seed: int | None = 42, worse_only: bool = True, **params: Any):
        self.detector = detector
        self.seed = seed
        self.worse_only = worse_only
        self.params = dict(params)
        self.spec = get_detector_spec(detector)
        self._detector = make_detector(detector, seed, **params)
        self.n_seen = 0
        self.n_drifts = 0
        self.n_improvements = 0
        self._positions: deque[int] = deque(maxlen=MAX_POSITIONS)
        self._recent: deque[float] = deque(maxlen=RECENT_ERRORS)
        self._since_sum, self._since_count = 0.0, 0  # errors since the previous detection
        self.last_change: int | None = None  # where the last drift most likely began (see change_point)

    def __setstate__(self, state: dict) -> None:
        # Monitors pickled in checkpoints before change points were estimated have none.
        self.__dict__.update({"last_change": None, **state})

    @property
    def drift_positions(self) -> list[int]:
        """Positions of the most recent drifts (up to :data:`MAX_POSITIONS`)."""
        return list(self._positions)

    @property
    def last_drift(self) -> int | None:
        return self._positions[-1] if self._positions else None

    def update(self, error: float | bool) -> bool:
        """Add one example's error; True when it makes the detector signal drift."""
        if self.spec.binary:
            if error not in (0, 1):  # True and False included
                raise ValueError(f"detector {self.detector!r} takes 0/1 errors, got {error!r}")
            error = int(error)
        elif isinstance(error, bool):
            error = int(error)
        self._detector.update(error)
        position = self.n_seen
        self.n_seen += 1
        self._recent.append(float(error))
        self._since_sum += error
        self._since_count += 1
        if not self._detector.drift_detected:
            return False
        worse = self._got_worse()
        self._since_sum, self._since_count = 0.0, 0
        if self.worse_only and not worse:
            self.n_improvements += 1
            return False
        self.n_drifts += 1
        self._positions.append(position)
        split = change_point(self._recent)
        # The recent errors end with this one: the split's index counted back from the detection.
        self.last_change = position if split is None else position - (len(self._recent) - 1) + split
        return True

    def _got_worse(self) -> bool:
        """Are the recent errors worse than the earlier ones since the previous detection?"""
        recent_sum = sum(self._recent)
        earlier = self._since_count - len(self._recent)
        if earlier <= 0:  # detections close together: judge the recent half against the older half
            half = len(self._recent) // 2
            values = list(self._recent)
            return sum(values[half:]) / max(1, len(values) - half) > sum(values[:half]) / max(1, half)
        return recent_sum / len(self._recent) > (self._since_sum - recent_sum) / earlier

    def update_many(self, errors: Iterable[float | bool]) -> list[int]:
        """Add errors in order; the positions of the drifts detected among them."""
        return [self.n_seen - 1 for error in errors if self.update(error)]

    def to_dict(self) -> dict:
        """Status for the API and for drift events (not the detector's internal state)."""
        return {
            "detector": self.detector, "params": self.params, "seed": self.seed if self.spec.seeded else None,
            "n_seen": self.n_seen, "n_drifts": self.n_drifts, "drift_positions": self.drift_positions,
            "worse_only": self.worse_only, "n_improvements": self.n_improvements,
        }

    def __repr__(self) -> str:
        return f"ConceptDriftMonitor({self.detector!r}, n_seen={self.n_seen}, n_drifts={self.n_drifts})"
