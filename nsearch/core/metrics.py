"""NetScore and information density: plain math on numbers, in stated units.

NetScore (Wong, 2018, "NetScore: Towards Universal Metrics for Large-scale Performance Analysis
of Deep Neural Networks for Practical On-Device Edge Usage") balances accuracy against size and
compute::

    NetScore = 20 * log10(a**alpha / (p**beta * m**gamma))

with ``a`` the top-1 accuracy in percent, ``p`` the parameter count in millions and ``m`` the
multiply-accumulate operations (MACs) for one input at inference, in billions (GMACs). One MAC is
one fused multiply-add; FLOPs as most tools print them are 2 x MACs. With these units the ImageNet
CNNs score about 50-80; changing a unit adds the same constant to every score.

Information density (Canziani et al., 2016) is accuracy per parameter: ``a / p`` in percent per
million parameters.

An accuracy measured on ``n`` images is an estimate; :func:`wilson_interval` gives its Wilson score
interval (Wilson, 1927), in percent, which stays inside [0, 100] and is sound near 0 and 100 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

__all__ = [
    "Measured",
    "difference_interval",
    "information_density",
    "netscore",
    "netscore_latency",
    "netscore_or_inf",
    "wilson_interval",
]


def _check_positive(name: str, value: float, allowed: str, upper: float = math.inf) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0 or value > upper:
        raise ValueError(f"`{name}` must be {allowed}, got {value!r}.")
    return value


def _check_accuracy(accuracy_percent: float) -> float:
    return _check_positive(
        "accuracy_percent", accuracy_percent, "a top-1 accuracy in percent, in (0, 100]", 100.0
    )


def netscore(
    accuracy_percent: float,
    params_millions: float,
    gmacs: float,
    *,
    alpha: float = 2.0,
    beta: float = 0.5,
    gamma: float = 0.5,
) -> float:
    """NetScore of a network, in decibels.

    Args:
        accuracy_percent: top-1 accuracy in percent, in (0, 100].
        params_millions: parameter count in millions, > 0.
        gmacs: multiply-accumulates for one input at inference, in billions, > 0.
        alpha: exponent of accuracy (the paper's 2).
        beta: exponent of parameters (the paper's 0.5).
        gamma: exponent of MACs (the paper's 0.5).

    Raises:
        ValueError: if a value is outside its range, NaN or infinite.

    Example::

        >>> round(netscore(71.878, 3.504872, 0.301), 2)  # torchvision MobileNetV2 IMAGENET1K_V1
        74.03
    """
    a = _check_accuracy(accuracy_percent)
    p = _check_positive("params_millions", params_millions, "a parameter count in millions, > 0")
    m = _check_positive("gmacs", gmacs, "multiply-accumulates in billions (GMACs), > 0")
    for name, exponent in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if not math.isfinite(exponent):
            raise ValueError(f"`{name}` must be a finite number, got {exponent!r}.")
    return 20.0 * (alpha * math.log10(a) - beta * math.log10(p) - gamma * math.log10(m))


def netscore_latency(accuracy_percent: float, params_millions: float, latency_ms: float) -> float:
    """nsearch's latency NetScore, in decibels: NetScore with measured latency in place of MACs.

    ``20 * log10(a**2 / (p**0.5 * l**0.5))`` with ``a`` the top-1 accuracy in percent, ``p`` the
    parameters in millions and ``l`` the median latency of one image (batch 1) in milliseconds,
    measured on the target CPU. This is nsearch's extension, not the paper's formula: its values
    depend on the machine and are comparable only between networks timed on the same one.

    Raises:
        ValueError: if a value is outside its range, NaN or infinite.

    Example::

        >>> round(netscore_latency(90.0, 0.5, 2.0), 2)
        78.17
    """
    latency = _check_positive("latency_ms", latency_ms, "a latency in milliseconds, > 0")
    return netscore(accuracy_percent, params_millions, latency)


def netscore_or_inf(accuracy_percent: float, params_millions: float, cost: float) -> float:
    """NetScore in dB, or ``-inf`` at 0 % accuracy (the log of 0), as nsearch logs and records it.

    ``cost`` is GMACs for NetScore, or milliseconds for the latency NetScore
    (:func:`netscore_latency`): the formula is the same. Every place that scores a measured
    accuracy, which may be 0 after a short training, goes through here.

    Example::

        >>> netscore_or_inf(0.0, 0.5, 0.01)
        -inf
        >>> netscore_or_inf(90.0, 0.5, 2.0) == netscore_latency(90.0, 0.5, 2.0)
        True
    """
    if accuracy_percent == 0:
        return -math.inf
    return netscore(accuracy_percent, params_millions, cost)


def information_density(accuracy_percent: float, params_millions: float) -> float:
    """Accuracy per parameter, in percent per million parameters (Canziani et al., 2016).

    Raises:
        ValueError: if a value is outside its range, NaN or infinite.

    Example::

        >>> round(information_density(71.878, 3.504872), 2)
        20.51
    """
    a = _check_accuracy(accuracy_percent)
    p = _check_positive("params_millions", params_millions, "a parameter count in millions, > 0")
    return a / p


def wilson_interval(correct: int, total: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of an accuracy of ``correct`` out of ``total``, in percent.

    Args:
        correct: the number of correct predictions, in [0, total].
        total: the number of images, > 0.
        confidence: the interval's coverage, in (0, 1).

    Raises:
        ValueError: if a value is outside its range.

    Example::

        >>> low, high = wilson_interval(3520, 4000)  # 88.00 % on 4,000 images
        >>> round(low, 2), round(high, 2)
        (86.96, 88.97)
    """
    if not isinstance(total, int) or total <= 0:
        raise ValueError(f"`total` must be a positive number of images, got {total!r}.")
    if not isinstance(correct, int) or not 0 <= correct <= total:
        raise ValueError(f"`correct` must be a whole number in [0, {total}], got {correct!r}.")
    if not 0 < confidence < 1:
        raise ValueError(f"`confidence` must be in (0, 1), got {confidence!r}.")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    low = 0.0 if correct == 0 else max(0.0, centre - half)
    high = 1.0 if correct == total else min(1.0, centre + half)
    return 100.0 * low, 100.0 * high


def difference_interval(
    a: tuple[int, int], b: tuple[int, int], *, confidence: float = 0.95
) -> tuple[float, float]:
    """Interval of the difference of two accuracies, ``a - b``, in percentage points.

    ``a`` and ``b`` are ``(correct, total)`` pairs. Newcombe's hybrid score interval (Newcombe,
    1998, method 10), built from the two Wilson intervals; when it holds 0, the two accuracies
    cannot be told apart at this sample size.

    Example::

        >>> low, high = difference_interval((3520, 4000), (3480, 4000))  # 88.0 % vs 87.0 %
        >>> low < 0 < high
        True
    """
    pa, pb = 100.0 * a[0] / a[1], 100.0 * b[0] / b[1]
    la, ua = wilson_interval(*a, confidence=confidence)
    lb, ub = wilson_interval(*b, confidence=confidence)
    d = pa - pb
    return d - math.hypot(pa - la, ub - pb), d + math.hypot(ua - pa, pb - lb)


@dataclass(frozen=True)
class Measured:
    """An accuracy as it was measured: ``correct`` predictions out of ``images``.

    Example::

        >>> m = Measured(3520, 4000)
        >>> m.percent, [round(x, 2) for x in m.interval]
        (88.0, [86.96, 88.97])
    """

    correct: int
    images: int

    @property
    def percent(self) -> float:
        return 100.0 * self.correct / self.images

    @property
    def interval(self) -> tuple[float, float]:
        """The Wilson 95 % interval, in percent."""
        return wilson_interval(self.correct, self.images)
