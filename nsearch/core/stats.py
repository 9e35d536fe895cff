"""Rank agreement between two measurements of the same candidates: Kendall's tau with an interval.

Used wherever nsearch asks whether one figure ranks networks as another does: MACs against
measured latency, supernet estimates against accuracy trained alone, zero-cost proxies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

__all__ = ["RankAgreement", "kendall_tau"]


@dataclass(frozen=True)
class RankAgreement:
    """Kendall's tau-b of ``n`` pairs and its confidence interval.

    Attributes:
        tau: tau-b in [-1, 1] (ties accounted for).
        low: lower end of the interval.
        high: upper end of the interval.
        n: the number of pairs.
        confidence: the interval's coverage.
    """

    tau: float
    low: float
    high: float
    n: int
    confidence: float = 0.95


def kendall_tau(
    x: Sequence[float], y: Sequence[float], *, confidence: float = 0.95
) -> RankAgreement:
    """Kendall's tau-b between ``x`` and ``y``, with the Fieller-Hartley-Pearson interval.

    The interval is computed on Fisher's z scale, ``atanh(tau)``, with standard error
    ``sqrt(0.437 / (n - 4))`` (Fieller, Hartley and Pearson, 1957); it needs ``n >= 5``.

    Raises:
        ValueError: if the sequences differ in length, hold fewer than 5 pairs, or one of them is
            constant.

    Example::

        >>> r = kendall_tau([1, 2, 3, 4, 5, 6], [1, 3, 2, 4, 5, 6])
        >>> round(r.tau, 3), r.n
        (0.867, 6)
    """
    if len(x) != len(y):
        raise ValueError(f"`x` and `y` must have the same length, got {len(x)} and {len(y)}.")
    n = len(x)
    if n < 5:
        raise ValueError(f"Kendall's tau with an interval needs at least 5 pairs, got {n}.")
    concordant = discordant = ties_x = ties_y = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    untied_x = concordant + discordant + ties_y  # pairs not tied in x
    untied_y = concordant + discordant + ties_x
    if untied_x == 0 or untied_y == 0:
        raise ValueError("Kendall's tau is undefined when one of the sequences is constant.")
    tau = (concordant - discordant) / math.sqrt(untied_x * untied_y)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    centre = math.atanh(max(-0.999999, min(0.999999, tau)))
    half = z * math.sqrt(0.437 / (n - 4))
    return RankAgreement(tau, math.tanh(centre - half), math.tanh(centre + half), n, confidence)
