"""What a search optimises: every difference between objectives in one table.

Each :class:`Objective` says which directions the Optuna study has, whether it can prune, which
number of a validation epoch decides the best epoch (and so the checkpoint, the pruning reports
and the trial's result), and which values a finished trial returns to Optuna. Nothing else in
nsearch branches on the objective's name, in the manner of Lightning's ``mode_dict``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from nsearch.metrics import netscore

__all__ = ["FLOOR_PENALTY_DB_PER_POINT", "OBJECTIVES", "Objective", "floor_penalised", "get"]

# Below the accuracy floor a NetScore objective loses this many dB per missing percentage point,
# so the sampler and the pruner prefer networks that can reach the floor.
FLOOR_PENALTY_DB_PER_POINT = 3.0


@dataclass(frozen=True)
class Epoch:
    """What one validation epoch measured, in the units of NetScore."""

    accuracy_percent: float
    params_millions: float
    gmacs: float


def floor_penalised(score: float, accuracy_percent: float, min_accuracy: float) -> float:
    """``score`` less 3 dB per percentage point that the accuracy falls short of the floor."""
    shortfall = max(0.0, min_accuracy - accuracy_percent)
    return score - FLOOR_PENALTY_DB_PER_POINT * shortfall


def _netscore(epoch: Epoch) -> float:
    if epoch.accuracy_percent <= 0:
        return -math.inf
    return netscore(epoch.accuracy_percent, epoch.params_millions, epoch.gmacs)


@dataclass(frozen=True)
class Objective:
    """One way to score trials.

    Attributes:
        name: the ``--objective`` value.
        directions: the Optuna study's directions, one per value a trial returns.
        metric_names: names of those values, for Optuna's plots and the dashboard.
        prunes: whether trials report to a pruner (Optuna cannot prune several objectives).
        epoch_score: the number that picks the best epoch of a trial (checkpoint, pruning
            reports and the trial's result all follow it), from the epoch and the floor.
        values: what a finished trial returns to Optuna, from its best epoch and the floor.
        description: one sentence for ``--help`` and the report.
    """

    name: str
    directions: tuple[str, ...]
    metric_names: tuple[str, ...]
    prunes: bool
    epoch_score: Callable[[Epoch, float], float]
    values: Callable[[Epoch, float], tuple[float, ...]]
    description: str


def _penalised_netscore(epoch: Epoch, floor: float) -> float:
    return floor_penalised(_netscore(epoch), epoch.accuracy_percent, floor)


OBJECTIVES: dict[str, Objective] = {
    objective.name: objective
    for objective in (
        Objective(
            name="netscore",
            directions=("maximize",),
            metric_names=("netscore_penalised_db",),
            prunes=True,
            epoch_score=_penalised_netscore,
            values=lambda epoch, floor: (_penalised_netscore(epoch, floor),),
            description="maximise NetScore (dB), less 3 dB per point below the accuracy floor, "
            "with a single-objective sampler and pruning",
        ),
        Objective(
            name="pareto",
            directions=("maximize", "minimize", "minimize"),
            metric_names=("accuracy_percent", "params_millions", "gmacs"),
            prunes=False,
            epoch_score=lambda epoch, floor: epoch.accuracy_percent,
            values=lambda epoch, floor: (
                epoch.accuracy_percent,
                epoch.params_millions,
                epoch.gmacs,
            ),
            description="search accuracy, params and MACs as three objectives, without pruning",
        ),
    )
}


def get(name: str) -> Objective:
    """The objective called ``name``.

    Raises:
        ValueError: if there is none; the message lists the known names.
    """
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise ValueError(f"`objective` can be {', '.join(OBJECTIVES)}, got {name!r}.") from None
