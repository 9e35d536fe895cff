"""Pareto selection over plain numbers: which points no other point beats on every objective."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["pareto_front"]

_SIGN = {"maximize": -1.0, "minimize": 1.0}


def pareto_front(points: Sequence[Sequence[float]], directions: Sequence[str]) -> list[int]:
    """Indices of the non-dominated points, in their input order.

    A point is dominated when another is at least as good on every objective and better on one.
    Points with equal values are all kept.

    Args:
        points: one row of objective values per candidate.
        directions: ``"maximize"`` or ``"minimize"`` for each objective.

    Raises:
        ValueError: on an unknown direction or a row of the wrong length.

    Example::

        >>> pareto_front([(90, 1.0), (80, 0.5), (70, 0.9)], ["maximize", "minimize"])
        [0, 1]
    """
    for direction in directions:
        if direction not in _SIGN:
            raise ValueError(f"`directions` can hold {', '.join(_SIGN)}, got {direction!r}.")
    signs = [_SIGN[d] for d in directions]
    rows = []
    for i, point in enumerate(points):
        if len(point) != len(signs):
            raise ValueError(
                f"Point {i} has {len(point)} values but there are {len(signs)} directions."
            )
        rows.append([s * float(v) for s, v in zip(signs, point)])

    def dominates(a: list[float], b: list[float]) -> bool:
        return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))

    return [i for i, row in enumerate(rows) if not any(dominates(o, row) for o in rows)]
