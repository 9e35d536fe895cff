"""What a search optimises: every difference between objectives in one table.

Each :class:`Objective` says which directions the Optuna study has, whether it can prune, which
number of a validation epoch decides the best epoch (and so the checkpoint, the pruning reports
and the trial's result), which values a finished trial returns to Optuna, which cost the Pareto
front is drawn over (MACs or measured latency) and which NetScore picks the best feasible trial.
Nothing else in nsearch branches on the objective's name, in the manner of Lightning's
``mode_dict``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from nsearch.metrics import netscore, netscore_latency

__all__ = ["FLOOR_PENALTY_DB_PER_POINT", "OBJECTIVES", "Epoch", "Objective", "floor_penalised",
           "get"]  # fmt: skip

# Below the accuracy floor a NetScore objective loses this many dB per missing percentage point,
# so the sampler and the pruner prefer networks that can reach the floor.
FLOOR_PENALTY_DB_PER_POINT = 3.0


@dataclass(frozen=True)
class Epoch:
    """What one validation epoch measured, with the network's cost, in NetScore's units
    (latency: median milliseconds per image, batch 1, CPU)."""

    accuracy_percent: float
    params_millions: float
    gmacs: float
    latency_ms: float | None = None


def floor_penalised(score: float, accuracy_percent: float, min_accuracy: float) -> float:
    """``score`` less 3 dB per percentage point that the accuracy falls short of the floor."""
    shortfall = max(0.0, min_accuracy - accuracy_percent)
    return score - FLOOR_PENALTY_DB_PER_POINT * shortfall


def _netscore(epoch: Epoch) -> float:
    if epoch.accuracy_percent <= 0:
        return -math.inf
    return netscore(epoch.accuracy_percent, epoch.params_millions, epoch.gmacs)


def _netscore_latency(epoch: Epoch) -> float:
    if epoch.latency_ms is None:
        raise ValueError("A latency objective needs the network's measured latency.")
    if epoch.accuracy_percent <= 0:
        return -math.inf
    return netscore_latency(epoch.accuracy_percent, epoch.params_millions, epoch.latency_ms)


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
        cost_axis: the cost the Pareto front is drawn over besides params: ``gmacs`` or
            ``latency_ms`` (a :class:`~nsearch.search.results.TrialRecord` attribute).
        rank_by: the record attribute (``netscore`` or ``netscore_latency``) whose highest value
            among feasible trials is the best feasible trial.
        description: one sentence for ``--help`` and the report.
    """

    name: str
    directions: tuple[str, ...]
    metric_names: tuple[str, ...]
    prunes: bool
    epoch_score: Callable[[Epoch, float], float]
    values: Callable[[Epoch, float], tuple[float, ...]]
    cost_axis: str
    rank_by: str
    description: str

    @property
    def needs_latency(self) -> bool:
        return self.cost_axis == "latency_ms"


def _scalar(name: str, score: Callable[[Epoch], float], cost: str, rank_by: str,
            description: str) -> Objective:  # fmt: skip
    def penalised(epoch: Epoch, floor: float) -> float:
        return floor_penalised(score(epoch), epoch.accuracy_percent, floor)

    return Objective(name, ("maximize",), (f"{rank_by}_penalised_db",), True, penalised,
                     lambda epoch, floor: (penalised(epoch, floor),), cost, rank_by,
                     description)  # fmt: skip


def _pareto(name: str, cost: str, description: str) -> Objective:
    return Objective(
        name, ("maximize", "minimize", "minimize"), ("accuracy_percent", "params_millions", cost),
        False, lambda epoch, floor: epoch.accuracy_percent,
        lambda epoch, floor: (epoch.accuracy_percent, epoch.params_millions,
                              float(getattr(epoch, cost))),
        cost, "netscore_latency" if cost == "latency_ms" else "netscore", description,
    )  # fmt: skip


OBJECTIVES: dict[str, Objective] = {
    objective.name: objective
    for objective in (
        _scalar("netscore", _netscore, "gmacs", "netscore",
                "maximise NetScore (dB), less 3 dB per point below the accuracy floor, with a "
                "single-objective sampler and pruning"),
        _scalar("netscore-latency", _netscore_latency, "latency_ms", "netscore_latency",
                "maximise nsearch's latency NetScore (measured CPU milliseconds in place of "
                "GMACs), less 3 dB per point below the floor, with pruning"),
        _pareto("pareto", "gmacs",
                "search accuracy, params and MACs as three objectives, without pruning"),
        _pareto("pareto-latency", "latency_ms",
                "search accuracy, params and measured latency as three objectives, without "
                "pruning"),
    )
}  # fmt: skip


def get(name: str) -> Objective:
    """The objective called ``name``.

    Raises:
        ValueError: if there is none; the message lists the known names.
    """
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise ValueError(f"`objective` can be {', '.join(OBJECTIVES)}, got {name!r}.") from None
