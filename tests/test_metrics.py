from __future__ import annotations

import math

import pytest

import nsearch


def test_mobilenet_v2_reference_value() -> None:
    # torchvision MobileNetV2 IMAGENET1K_V1: 71.878 %, 3,504,872 params, 0.301 GMACs.
    assert nsearch.netscore(71.878, 3.504872, 0.301) == pytest.approx(74.0, abs=0.05)


def test_netscore_is_the_decibel_identity() -> None:
    a, p, m = 93.2, 2.2, 0.05
    expected = 40 * math.log10(a) - 10 * math.log10(p) - 10 * math.log10(m)
    assert nsearch.netscore(a, p, m) == pytest.approx(expected)


def test_exponents_are_named_defaults() -> None:
    assert nsearch.netscore(50.0, 4.0, 1.0, alpha=1.0, beta=1.0, gamma=0.0) == pytest.approx(
        20 * math.log10(50.0 / 4.0)
    )


def test_halving_width_is_worth_twelve_decibels() -> None:
    assert nsearch.netscore(80, 1.0, 1.0) - nsearch.netscore(80, 4.0, 4.0) == pytest.approx(
        20 * math.log10(4.0)
    )


def test_information_density() -> None:
    assert nsearch.information_density(71.878, 3.504872) == pytest.approx(20.508, abs=1e-3)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0.0, 1.0, 1.0), r"`accuracy_percent` must be .* \(0, 100\], got 0.0"),
        ((100.5, 1.0, 1.0), r"`accuracy_percent` .* got 100.5"),
        ((-3.0, 1.0, 1.0), r"`accuracy_percent` .* got -3.0"),
        ((math.nan, 1.0, 1.0), r"`accuracy_percent` .* got nan"),
        ((50.0, 0.0, 1.0), r"`params_millions` must be .* > 0, got 0.0"),
        ((50.0, math.inf, 1.0), r"`params_millions` .* got inf"),
        ((50.0, 1.0, -1.0), r"`gmacs` must be .* > 0, got -1.0"),
        ((50.0, 1.0, math.nan), r"`gmacs` .* got nan"),
    ],
)
def test_bad_values_name_the_value(args: tuple[float, float, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        nsearch.netscore(*args)


def test_bad_exponent() -> None:
    with pytest.raises(ValueError, match=r"`beta` must be a finite number, got nan"):
        nsearch.netscore(50.0, 1.0, 1.0, beta=math.nan)


def test_information_density_bad_values() -> None:
    with pytest.raises(ValueError, match="`params_millions`"):
        nsearch.information_density(50.0, 0)
    with pytest.raises(ValueError, match="`accuracy_percent`"):
        nsearch.information_density(0.5e3, 1.0)


def test_pareto_front() -> None:
    points = [(90.0, 2.0, 0.2), (85.0, 1.0, 0.1), (80.0, 1.5, 0.15), (90.0, 2.0, 0.2)]
    assert nsearch.pareto_front(points, ["maximize", "minimize", "minimize"]) == [0, 1, 3]
    with pytest.raises(ValueError, match="`directions` can hold maximize, minimize, got 'max'"):
        nsearch.pareto_front(points, ["max", "minimize", "minimize"])
    with pytest.raises(ValueError, match="Point 0 has 3 values but there are 2 directions"):
        nsearch.pareto_front(points, ["maximize", "minimize"])


def test_wilson_interval_matches_the_closed_form_and_stays_in_range() -> None:
    low, high = nsearch.wilson_interval(3520, 4000)
    assert (low, high) == pytest.approx((86.9563, 88.9708), abs=1e-3)
    assert low < 88.0 < high
    assert nsearch.wilson_interval(0, 10)[0] == 0.0 and nsearch.wilson_interval(10, 10)[1] == 100.0
    narrow, wide = nsearch.wilson_interval(880, 1000), nsearch.wilson_interval(88, 100)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((5, 0), r"`total` must be a positive number of images, got 0"),
        ((11, 10), r"`correct` must be a whole number in \[0, 10\], got 11"),
        ((1.5, 10), r"`correct` must be a whole number"),
    ],
)
def test_wilson_interval_bad_arguments(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        nsearch.wilson_interval(*args)


def test_difference_interval_holds_zero_only_for_close_accuracies() -> None:
    low, high = nsearch.difference_interval((3520, 4000), (3480, 4000))  # 88 % vs 87 %
    assert low < 0 < high
    low, high = nsearch.difference_interval((3600, 4000), (3400, 4000))  # 90 % vs 85 %
    assert 0 < low < 5 < high
    assert nsearch.difference_interval((50, 100), (50, 100)) == pytest.approx(
        tuple(-x for x in reversed(nsearch.difference_interval((50, 100), (50, 100))))
    )
