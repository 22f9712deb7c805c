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

A challenger can start behind and get better: one retrained in the middle of a gradual change
learns a mixture of the two concepts, and goes on learning in shadow. Its early losses would
weigh on a test counted from its first pair for as long as it runs, so :class:`McNemarTest` also
restarts: every ``restart_every`` pairs (250) a new count begins, and the k-th restart decides
with weight ``w_k = 1/(2k(k+1))`` (the first count ``w_0 = 1/2``; the weights sum to 1). Each
count's E is the formula above from its own ``b`` and ``c``, a supermartingale from its start, so
by Ville and a union bound ``P(some count ever reaches 1/(alpha · w_k)) <= Σ alpha · w_k = alpha``:
the bound on false promotions holds for the lot. The price is a threshold twice as high for the
first count (about one more net win); on a gradual Agrawal change it saved 230 to 330 events to
promotion in-process, on abrupt changes it cost 4 to 24.

>>> test = McNemarTest()
>>> for _ in range(30):
...     test.update(champion_correct=False, challenger_correct=True)
>>> for _ in range(8):
...     test.update(champion_correct=True, challenger_correct=False)
>>> test.update(champion_correct=True, challenger_correct=True)  # a tie: no evidence
>>> test.b, test.c, test.n, round(test.e_value, 1), test.passes(alpha=0.01)
(30, 8, 39, 288.2, True)

A challenger that lost its first 250 pairs and then wins: the restarted count decides.

>>> late = McNemarTest()
>>> for i in range(250):
...     late.update(champion_correct=i % 4 != 0, challenger_correct=i % 4 == 0)  # wins 1 in 4
>>> for i in range(150):
...     late.update(champion_correct=i % 3 == 0, challenger_correct=i % 3 != 0)  # wins 2 in 3
>>> late.passes(alpha=0.01), round(late.e_value, 3)  # the count from the first pair: E far below 1
(True, 0.013)
>>> {k: late.to_dict()[k] for k in ("b", "c", "n", "since", "threshold")}
{'b': 100, 'c': 50, 'n': 150, 'since': 250, 'threshold': 400.0}
>>> McNemarTest(b=8, c=8).e_value < 1  # as many losses as wins: no evidence for the challenger
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

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


#: Pairs between two restarts of the McNemar count (see the module's docstring).
RESTART_EVERY = 250
#: Restarts kept at most (40 x 250 = 10,000 pairs); later pairs go on feeding the counts begun.
MAX_RESTARTS = 40


def restart_weight(k: int) -> float:
    """The share of alpha the k-th count may spend: 1/2 for the first, 1/(2k(k+1)) for restart k.

    >>> [restart_weight(k) for k in range(4)], round(sum(restart_weight(k) for k in range(100_000)), 4)
    ([0.5, 0.25, 0.08333333333333333, 0.041666666666666664], 1.0)
    """
    return 0.5 if k == 0 else 0.5 / (k * (k + 1))


@dataclass
class McNemarTest:
    """The paired sequential test of a challenger against the champion (classifiers).

    ``b``, ``c`` and ``n`` count from the first pair; ``restarts`` holds ``[pairs before it, b, c]``
    for each count restarted since (every ``restart_every`` pairs; 0 turns restarts off)."""

    b: int = 0  # champion wrong, challenger right
    c: int = 0  # champion right, challenger wrong
    n: int = 0  # paired examples seen (ties included)
    restart_every: int = RESTART_EVERY
    restarts: list = field(default_factory=list)

    def __setstate__(self, state: dict) -> None:
        # Snapshots pickled before restarts existed hold none.
        self.__dict__.update({"restart_every": RESTART_EVERY, "restarts": [], **state})

    def update(self, champion_correct: bool, challenger_correct: bool) -> None:
        if self.restart_every and self.n and self.n % self.restart_every == 0 and len(self.restarts) < MAX_RESTARTS:
            self.restarts.append([self.n, 0, 0])
        self.n += 1
        if challenger_correct and not champion_correct:
            self.b += 1
            for count in self.restarts:
                count[1] += 1
        elif champion_correct and not challenger_correct:
            self.c += 1
            for count in self.restarts:
                count[2] += 1

    def counts(self) -> list[tuple[int, int, int, int, float]]:
        """Every count: ``(pairs before it, b, c, n, weight)``, the first count first."""
        first = [(0, self.b, self.c, self.n, restart_weight(0))]
        return first + [(since, b, c, self.n - since, restart_weight(k)) for k, (since, b, c) in enumerate(self.restarts, 1)]

    @property
    def e_value(self) -> float:
        """E of the count from the first pair (the formula above)."""
        return _e(self.b, self.c)

    @property
    def gain(self) -> float:
        """The challenger's accuracy gain over the paired examples, ``(b - c) / n``."""
        return (self.b - self.c) / self.n if self.n else 0.0

    def passes(self, alpha: float, min_disagreements: int = 0, min_gain: float = 0.0) -> bool:
        """True once some count's evidence reaches ``1/(alpha · w_k)`` with enough disagreements
        and gain (both over that count's pairs)."""
        return self._deciding(alpha, min_disagreements, min_gain) is not None

    def _deciding(self, alpha: float, min_disagreements: int, min_gain: float):
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        for count in self.counts():
            since, b, c, n, weight = count
            if b + c >= min_disagreements and n and (b - c) / n >= min_gain \
                    and mcnemar_log_e_value(b, c) >= math.log(1.0 / (alpha * weight)):
                return count
        return None

    def observe(self, champion_error: float, challenger_error: float) -> None:
        """One paired example, as the learners see it: each model's 0/1 error."""
        self.update(champion_correct=champion_error == 0, challenger_correct=challenger_error == 0)

    def to_dict(self, alpha: float = 0.01, min_disagreements: int = 0, min_gain: float = 0.0) -> dict:
        """The numbers of the count that passes at ``alpha`` with the minimums, else of the count
        from the first pair. ``since`` is the pairs before it, ``threshold`` the e-value it needs
        (``1/(alpha · w_k)``), ``pairs`` all pairs."""
        since, b, c, n, weight = self._deciding(alpha, min_disagreements, min_gain) or self.counts()[0]
        return {"b": b, "c": c, "n": n, "e_value": _e(b, c), "gain": (b - c) / n if n else 0.0,
                "since": since, "threshold": round(1.0 / (alpha * weight), 6), "pairs": self.n}


def _e(b: int, c: int) -> float:
    log_e = mcnemar_log_e_value(b, c)
    return 0.0 if log_e == -math.inf else math.exp(min(log_e, 700.0))


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

    def to_dict(self, alpha: float = 0.01, min_pairs: int = 0, min_gain: float = 0.0) -> dict:
        """The test's numbers (one count from the first pair: the arguments, McNemarTest's, change nothing)."""
        return {"b": self.b, "c": self.c, "n": self.n, "e_value": self.e_value, "gain": self.gain}


def paired_test(task: str) -> McNemarTest | PairedLossTest:
    """The test that fits a task: McNemar's for classifiers, the loss mSPRT for regressors.

    >>> type(paired_test("binary_classification")).__name__, type(paired_test("regression")).__name__
    ('McNemarTest', 'PairedLossTest')
    """
    return PairedLossTest() if task == "regression" else McNemarTest()
