"""Deciding whether a challenger beats the champion, from paired predictions, soundly under
continuous monitoring: :class:`McNemarTest` for classifiers, :class:`PairedLossTest` for
regressors.

Over labeled examples that both models predicted, count ``b`` (champion wrong, challenger right)
and ``c`` (champion right, challenger wrong); ties say nothing. Under the null hypothesis "the
challenger wins at most half of the disagreements", the mixture e-value of a one-sided
sequential McNemar test, with a uniform prior on the challenger's winning share over (1/2, 1],

    E = 2^(b+c+1) · B(b+1, c+1) · (1 − I_½(b+1, c+1))

(B the beta function, I the regularised incomplete beta) is a non-negative supermartingale, so
by Ville's inequality the probability that E ever reaches 1/α is at most α, however often it is
checked: promoting when ``E >= 1/alpha`` bounds the false-promotion probability by ``alpha``.

>>> test = McNemarTest()
>>> for _ in range(30):
...     test.update(champion_correct=False, challenger_correct=True)
>>> for _ in range(8):
...     test.update(champion_correct=True, challenger_correct=False)
>>> test.update(champion_correct=True, challenger_correct=True)  # a tie: no evidence
>>> test.b, test.c, test.n, round(test.e_value, 1), test.passes(alpha=0.01)
(30, 8, 39, 288.2, True)
>>> McNemarTest(b=8, c=8).e_value < 1  # as many losses as wins: no evidence for the challenger
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import special


def mcnemar_log_e_value(b: int, c: int) -> float:
    """log E of the one-sided sequential McNemar test for ``b`` wins and ``c`` losses.

    >>> round(math.exp(mcnemar_log_e_value(0, 0)), 6)  # no disagreement yet: E = 1
    1.0
    """
    if b < 0 or c < 0:
        raise ValueError(f"b and c count examples: got b={b}, c={c}")
    # 1 - I_½(b+1, c+1) = I_½(c+1, b+1), by the symmetry of the incomplete beta.
    tail = special.betainc(c + 1, b + 1, 0.5)
    if tail <= 0.0:  # underflow: the challenger loses by far, E is 0 to double precision
        return -math.inf
    return float((b + c + 1) * math.log(2.0) + special.betaln(b + 1, c + 1) + math.log(tail))


@dataclass
class McNemarTest:
    """The paired sequential test of a challenger against the champion (classifiers)."""

    b: int = 0  # champion wrong, challenger right
    c: int = 0  # champion right, challenger wrong
    n: int = 0  # paired examples seen (ties included)

    def update(self, champion_correct: bool, challenger_correct: bool) -> None:
        self.n += 1
        if challenger_correct and not champion_correct:
            self.b += 1
        elif champion_correct and not challenger_correct:
            self.c += 1

    @property
    def e_value(self) -> float:
        log_e = mcnemar_log_e_value(self.b, self.c)
        return 0.0 if log_e == -math.inf else math.exp(min(log_e, 700.0))

    @property
    def gain(self) -> float:
        """The challenger's accuracy gain over the paired examples, ``(b - c) / n``."""
        return (self.b - self.c) / self.n if self.n else 0.0

    def passes(self, alpha: float, min_disagreements: int = 0, min_gain: float = 0.0) -> bool:
        """True once the evidence reaches ``1/alpha`` with enough disagreements and gain."""
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        return bool(self.b + self.c >= min_disagreements and self.gain >= min_gain
                    and mcnemar_log_e_value(self.b, self.c) >= math.log(1.0 / alpha))

    def observe(self, champion_error: float, challenger_error: float) -> None:
        """One paired example, as the learners see it: each model's 0/1 error."""
        self.update(champion_correct=champion_error == 0, challenger_correct=challenger_error == 0)

    def to_dict(self) -> dict:
        return {"b": self.b, "c": self.c, "n": self.n, "e_value": self.e_value, "gain": self.gain}


@dataclass
class PairedLossTest:
    """The paired sequential test for regressors: a mixture SPRT (Johari, Pekelis and Walsh) on
    ``d = loss(champion) - loss(challenger)`` per paired example (absolute errors).

    With a normal mixing distribution of variance ``tau2 · σ²`` on the mean difference θ, the
    likelihood ratio against θ = 0 after n examples of mean ``d̄`` is

        Λ = sqrt(σ² / (σ² + n τ² σ²)) · exp(n² τ² σ² d̄² / (2 σ² (σ² + n τ² σ²)))

    an e-value for the two-sided null; promoting only when ``d̄ > 0`` as well keeps the
    false-promotion probability under ``alpha``. σ² is the running variance of ``d`` (a plug-in,
    valid as the sample grows), so no decision is taken before ``min_pairs``.

    >>> test = PairedLossTest()
    >>> for i in range(200):
    ...     test.update(champion_loss=1.0 + (i % 7) / 10, challenger_loss=0.6 + (i % 5) / 10)
    >>> test.n, round(test.mean, 3), test.passes(alpha=0.01)
    (200, 0.497, True)
    """

    tau2: float = 1.0
    n: int = 0
    mean: float = 0.0
    m2: float = 0.0  # sum of squared deviations (Welford)
    b: int = 0  # examples the challenger's loss was lower (reported, like McNemar's counts)
    c: int = 0  # examples the champion's loss was lower

    def update(self, champion_loss: float, challenger_loss: float) -> None:
        d = float(champion_loss) - float(challenger_loss)
        self.n += 1
        self.b += d > 0
        self.c += d < 0
        delta = d - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (d - self.mean)

    @property
    def variance(self) -> float:
        return self.m2 / (self.n - 1) if self.n > 1 else 0.0

    @property
    def log_e_value(self) -> float:
        var = self.variance
        if self.n < 2 or var <= 0.0:
            return 0.0
        spread = var + self.n * self.tau2 * var
        return 0.5 * math.log(var / spread) + (self.n ** 2 * self.tau2 * var * self.mean ** 2) / (2 * var * spread)

    @property
    def e_value(self) -> float:
        return math.exp(min(self.log_e_value, 700.0))

    @property
    def gain(self) -> float:
        """The challenger's mean loss reduction per paired example."""
        return self.mean

    def passes(self, alpha: float, min_pairs: int = 30, min_gain: float = 0.0) -> bool:
        """True once the evidence reaches ``1/alpha``, the challenger's mean loss is lower by at
        least ``min_gain``, and ``min_pairs`` examples were paired."""
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        return bool(self.n >= min_pairs and self.mean > 0.0 and self.mean >= min_gain
                    and self.log_e_value >= math.log(1.0 / alpha))

    def observe(self, champion_error: float, challenger_error: float) -> None:
        """One paired example, as the learners see it: each model's absolute error."""
        self.update(champion_loss=champion_error, challenger_loss=challenger_error)

    def to_dict(self) -> dict:
        return {"b": self.b, "c": self.c, "n": self.n, "e_value": self.e_value, "gain": self.gain}


def paired_test(task: str) -> McNemarTest | PairedLossTest:
    """The test that fits a task: McNemar's for classifiers, the loss mSPRT for regressors.

    >>> type(paired_test("binary_classification")).__name__, type(paired_test("regression")).__name__
    ('McNemarTest', 'PairedLossTest')
    """
    return PairedLossTest() if task == "regression" else McNemarTest()
