from __future__ import annotations

import random

import pytest

from nsearch.core.stats import kendall_tau


def test_tau_b_matches_the_textbook_value_with_ties() -> None:
    rng = random.Random(0)
    x = [rng.randint(0, 5) for _ in range(30)]
    y = [a + 3 * rng.random() for a in x]
    y[3] = y[4]
    r = kendall_tau(x, y)
    assert r.tau == pytest.approx(0.66969, abs=1e-4)  # scipy.stats.kendalltau on the same data
    assert r.low < r.tau < r.high and r.n == 30


def test_perfect_and_reversed_orders_and_interval_narrows_with_n() -> None:
    assert kendall_tau(range(10), range(10)).tau == 1.0
    assert kendall_tau(range(10), range(10, 0, -1)).tau == -1.0
    small = kendall_tau([1, 2, 3, 4, 5, 6], [1, 3, 2, 4, 6, 5])
    large = kendall_tau(list(range(60)), [v + (1 if v % 2 else -1) for v in range(60)])
    assert large.high - large.low < small.high - small.low


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        ([1, 2, 3], [1, 2, 3], "at least 5 pairs, got 3"),
        ([1, 2, 3, 4, 5], [1, 2], "same length, got 5 and 2"),
        ([1, 1, 1, 1, 1], [1, 2, 3, 4, 5], "one of the sequences is constant"),
    ],
)
def test_bad_input(x: list, y: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        kendall_tau(x, y)
