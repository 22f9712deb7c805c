"""The paired sequential test: its false-promotion rate stays under alpha however often it is
checked, it finds a real gain, and its e-value matches the closed form's integral."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from monitors.promotion import McNemarTest, mcnemar_log_e_value


@pytest.mark.parametrize("b,c", [(0, 0), (3, 1), (10, 10), (40, 12), (5, 30)])
def test_the_e_value_is_the_mixture_likelihood_ratio(b, c):
    # E = ∫_{1/2}^{1} 2 · (2p)^b · (2(1-p))^c dp: the uniform prior on (1/2, 1] against p = 1/2.
    expected, _ = integrate.quad(lambda p: 2 * (2 * p) ** b * (2 * (1 - p)) ** c, 0.5, 1.0, epsabs=1e-14, epsrel=1e-12)
    assert math.exp(mcnemar_log_e_value(b, c)) == pytest.approx(expected, rel=1e-7)


def crossings(win_share: float, runs: int, disagreements: int, alpha: float, seed: int) -> float:
    """Share of runs whose e-value reached 1/alpha at any point (checked after every example)."""
    rng = np.random.default_rng(seed)
    crossed = 0
    for _ in range(runs):
        wins = rng.random(disagreements) < win_share
        b = np.cumsum(wins)
        c = np.arange(1, disagreements + 1) - b
        if any(mcnemar_log_e_value(int(bi), int(ci)) >= math.log(1 / alpha) for bi, ci in zip(b, c)):
            crossed += 1
    return crossed / runs


def test_under_the_null_the_test_promotes_at_most_alpha_of_the_time_however_often_it_looks():
    # A challenger exactly as good: it wins half of the disagreements.
    assert crossings(0.5, runs=400, disagreements=300, alpha=0.05, seed=1) <= 0.05


def test_a_challenger_winning_two_thirds_of_the_disagreements_is_found():
    assert crossings(2 / 3, runs=100, disagreements=300, alpha=0.01, seed=2) >= 0.9


def test_promotion_needs_enough_disagreements_and_gain():
    test = McNemarTest(b=12, c=0, n=1000)
    assert test.passes(alpha=0.01)
    assert not test.passes(alpha=0.01, min_disagreements=20)
    assert not test.passes(alpha=0.01, min_gain=0.02)  # 12 / 1000 = 1.2 points
    with pytest.raises(ValueError):
        test.passes(alpha=1.5)
    assert McNemarTest(b=0, c=5000).e_value == 0.0


def share_that_passes(new_test, draw_errors, runs: int, alpha: float, seed: int) -> float:
    """Share of runs whose test passed at any point (checked after every pair); ``draw_errors(rng)``
    gives one run's (champion error, challenger error) pairs."""
    rng = np.random.default_rng(seed)
    crossed = 0
    for _ in range(runs):
        test = new_test()
        for champion_error, challenger_error in draw_errors(rng):
            test.observe(champion_error, challenger_error)
            if test.passes(alpha):
                crossed += 1
                break
    return crossed / runs


def loss_crossings(gain: float, runs: int, pairs: int, alpha: float, seed: int) -> float:
    from monitors.promotion import PairedLossTest

    def draw(rng):
        champion = np.abs(rng.normal(0, 1, pairs)) + gain
        return zip(champion, np.abs(rng.normal(0, 1, pairs)))

    return share_that_passes(PairedLossTest, draw, runs, alpha, seed)


def test_the_regression_test_rarely_promotes_an_equal_challenger_and_finds_a_better_one():
    assert loss_crossings(0.0, runs=200, pairs=500, alpha=0.05, seed=3) <= 0.05
    assert loss_crossings(0.3, runs=50, pairs=500, alpha=0.01, seed=4) >= 0.9


def restarted_crossings(win_share: float, runs: int, pairs: int, alpha: float, seed: int, tie_share: float = 0.5) -> float:
    """Share of runs a McNemarTest with restarts passed at any point (checked after every pair)."""
    def draw(rng):
        disagree = rng.random(pairs) >= tie_share
        wins = rng.random(pairs) < win_share
        # A disagreement is won (the champion wrong) or lost (the challenger wrong); a tie: both right.
        return [(int(w), int(not w)) if d else (0, 0) for d, w in zip(disagree, wins)]

    # Many restarts within the run: the union bound is exercised.
    return share_that_passes(lambda: McNemarTest(restart_every=50), draw, runs, alpha, seed)


def test_with_restarts_the_test_still_promotes_an_equal_challenger_at_most_alpha_of_the_time():
    assert restarted_crossings(0.5, runs=300, pairs=600, alpha=0.05, seed=5) <= 0.05


def test_a_challenger_that_starts_behind_and_then_wins_is_promoted_sooner_with_restarts():
    def pairs_to_promotion(restart_every: int) -> int | None:
        rng = np.random.default_rng(6)
        test = McNemarTest(restart_every=restart_every)
        for i in range(3000):
            win_share = 0.3 if i < 500 else 0.7  # trained on a mixture, then learned the new concept in shadow
            won = rng.random() < win_share
            test.update(champion_correct=not won, challenger_correct=won)
            if test.passes(0.01, min_disagreements=30, min_gain=0.01):
                return test.n
        return None

    with_restarts, without = pairs_to_promotion(250), pairs_to_promotion(0)
    assert with_restarts is not None and without is not None and with_restarts < without
    assert McNemarTest(restart_every=0, b=50, c=0, n=50).to_dict(0.01)["threshold"] == 200.0


def test_the_deciding_count_is_reported_with_its_own_numbers():
    test = McNemarTest()
    for i in range(500):
        won = i >= 250 and i % 3 != 0  # loses every disagreement first, then wins 2 in 3
        test.update(champion_correct=not won, challenger_correct=won)
    assert test.passes(0.01)
    numbers = test.to_dict(0.01)
    assert (numbers["since"], numbers["pairs"], numbers["n"]) == (250, 500, 250)
    assert numbers["b"] + numbers["c"] == 250 and numbers["e_value"] >= numbers["threshold"] == 400.0
    assert math.exp(mcnemar_log_e_value(numbers["b"], numbers["c"])) == pytest.approx(numbers["e_value"])


def test_a_snapshot_pickled_before_restarts_existed_loads_without_them():
    import pickle

    old = McNemarTest(b=3, c=1, n=9)
    state = {"b": 3, "c": 1, "n": 9}  # what such a snapshot holds
    restored = McNemarTest.__new__(McNemarTest)
    restored.__setstate__(state)
    assert (restored.restarts, restored.restart_every) == ([], 250) and restored.to_dict() == old.to_dict()
    assert pickle.loads(pickle.dumps(test := McNemarTest(b=1, c=2, n=3, restarts=[[1, 0, 1]]))) == test
