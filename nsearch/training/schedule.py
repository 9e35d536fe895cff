"""The learning-rate schedule every nsearch training run uses: one warm-up-then-cosine cycle."""

from __future__ import annotations

import math

__all__ = ["warmup_cosine"]


def warmup_cosine(step: int, total_steps: int, *, warmup_fraction: float = 0.25,
                  start: float = 0.04) -> float:  # fmt: skip
    """The learning-rate factor at ``step`` of ``total_steps``: a linear warm-up from ``start``
    over the first ``warmup_fraction`` of the steps, then a cosine decay to 0.

    One cycle over the whole run, like ``OneCycleLR``, but defined for any number of steps from
    1 (``OneCycleLR`` divides by zero when the warm-up rounds to one step).

    Example::

        >>> [round(warmup_cosine(s, 4), 2) for s in range(4)]
        [0.04, 1.0, 0.75, 0.25]
    """
    total = max(1, total_steps)
    warmup = int(total * warmup_fraction)
    if step < warmup:
        return start + (1.0 - start) * step / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
