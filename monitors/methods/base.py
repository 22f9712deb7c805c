"""The drift method interface: a name, a default threshold, a direction and a score.

A method scores one column of a window against the baseline from a
:class:`~monitors.comparison.ColumnComparison`. Scores are either p-values (drift when the score
is *below* the threshold) or distances (drift when it is *at or above* the threshold), as in
Evidently, whose names, default thresholds and comparisons each method copies.

>>> from monitors.methods import get_method
>>> ks = get_method("ks")
>>> ks.default_threshold, ks.higher_is_drift, ks.is_drift(0.05, 0.05)
(0.05, False, True)
>>> get_method("chisquare").is_drift(0.05, 0.05)
False
"""

from __future__ import annotations

from typing import ClassVar

from ..comparison import CATEGORICAL, NUMERIC, ColumnComparison


class DriftMethod:
    """Base class of the drift methods; subclasses are registered in :data:`monitors.methods.METHODS`."""

    #: Registered name (Evidently's name for the same stat test).
    name: ClassVar[str] = ""
    #: Human-readable name, as in Evidently's reports.
    title: ClassVar[str] = ""
    default_threshold: ClassVar[float] = 0.05
    #: True for distances (drift when score >= threshold), False for p-values (score < threshold).
    higher_is_drift: ClassVar[bool] = False
    #: Column families a user may apply the method to (Evidently's allowed feature types).
    families: ClassVar[frozenset[str]] = frozenset({NUMERIC, CATEGORICAL})

    def score(self, comparison: ColumnComparison) -> float:
        raise NotImplementedError

    def is_drift(self, score: float, threshold: float) -> bool:
        if self.higher_is_drift:
            return bool(score >= threshold)
        return bool(score < threshold)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
