"""Drift methods, registered by name, and Evidently's rule for choosing one per column.

Adding a method is one file with a :class:`DriftMethod` subclass plus its entry in
:data:`METHODS`; a test fails if a subclass is not registered.

>>> sorted(METHODS)
['chisquare', 'jensenshannon', 'ks', 'psi', 'wasserstein', 'z']
>>> get_method("wasserstein").default_threshold
0.1
>>> get_method("kl_div")
Traceback (most recent call last):
...
monitors.exceptions.UnknownNameError: unknown drift method 'kl_div'; valid names: chisquare, jensenshannon, ks, psi, wasserstein, z
"""

from __future__ import annotations

from ..comparison import NUMERIC, ColumnComparison
from ..exceptions import UnknownNameError
from .base import DriftMethod
from .chisquare import ChiSquare
from .jensenshannon import JensenShannon
from .ks import KolmogorovSmirnov
from .psi import PopulationStabilityIndex
from .wasserstein import NormedWasserstein
from .z import ZTest

#: Every drift method by name.
METHODS: dict[str, type[DriftMethod]] = {
    method.name: method
    for method in (NormedWasserstein, KolmogorovSmirnov, PopulationStabilityIndex, JensenShannon, ChiSquare, ZTest)
}

#: Evidently switches from tests (p-values) to distances above this many reference values.
SMALL_REFERENCE = 1000
#: Numeric columns with at most this many distinct values (both sides) are treated as categories.
FEW_VALUES = 5


def get_method(name: str) -> DriftMethod:
    """The registered method called ``name``; :class:`~monitors.exceptions.UnknownNameError` otherwise."""
    try:
        return METHODS[name]()
    except (KeyError, TypeError):
        raise UnknownNameError("drift method", name, list(METHODS)) from None


def default_method_name(comparison: ColumnComparison) -> str:
    """Evidently 0.7's choice (``legacy/calculations/stattests/registry.py``, ``_get_default_stattest``).

    The reference size is its number of non-missing values; the number of distinct values counts
    the reference and the window together.

    * reference of at most 1,000 values: numeric with more than 5 distinct values ``ks``;
      otherwise (categorical, or numeric with few values) ``chisquare`` with more than 2
      distinct values, else ``z``;
    * larger reference: numeric with more than 5 distinct values ``wasserstein``; otherwise
      ``jensenshannon``.
    """
    n_values = comparison.n_unique
    if comparison.n_reference <= SMALL_REFERENCE:
        if comparison.family == NUMERIC and n_values > FEW_VALUES:
            return KolmogorovSmirnov.name
        return ChiSquare.name if n_values > 2 else ZTest.name
    if comparison.family == NUMERIC and n_values > FEW_VALUES:
        return NormedWasserstein.name
    return JensenShannon.name


__all__ = [
    "METHODS",
    "ChiSquare",
    "DriftMethod",
    "JensenShannon",
    "KolmogorovSmirnov",
    "NormedWasserstein",
    "PopulationStabilityIndex",
    "ZTest",
    "default_method_name",
    "get_method",
]
