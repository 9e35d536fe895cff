"""What a search optimises: every difference between objectives in one table, and how the accuracy
floor reaches the sampler.

Each :class:`Objective` says which directions the Optuna study has, whether it can prune, which
number of a validation epoch scores it, which values a finished trial returns to Optuna, which
cost the Pareto front is drawn over (MACs or measured latency) and which NetScore picks the best
feasible trial. Nothing else in nsearch branches on the objective's name, in the manner of
Lightning's ``mode_dict``.

The floor (``--min-accuracy``) reaches the sampler in one of two ways (:data:`FLOOR_MODES`,
applied by :class:`Scoring`): as a penalty of 3 dB per point below the floor on the scalar
objectives' values (:data:`DEFAULT_FLOOR_MODE`, chosen by a benchmark: see README; the stored
values then depend on the floor), or as a constraint (``trial.set_constraint``; the stored values
are the objective's own, and constrained samplers prefer feasible trials). Objectives without a
scalar value to penalise (the Pareto ones) take the floor as a constraint in both modes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nsearch.core.metrics import Measured, netscore_or_inf

__all__ = ["DEFAULT_FLOOR_MODE", "FLOOR_MODES", "FLOOR_PENALTY_DB_PER_POINT", "OBJECTIVES",
           "Epoch", "Objective", "Scoring", "floor_penalised", "get"]  # fmt: skip

# Below the accuracy floor a penalised NetScore objective loses this many dB per missing
# percentage point, so the sampler and the pruner prefer networks that can reach the floor.
FLOOR_PENALTY_DB_PER_POINT = 3.0
FLOOR_MODES = ("penalty", "constraint")
# Penalty found a higher best feasible NetScore than constraint on 4 of 5 benchmark seeds and the
# same network on the fifth (mean +2.8 dB), at an even hypervolume (README: "Constraint or
# penalty").
DEFAULT_FLOOR_MODE = "penalty"


@dataclass(frozen=True)
class Epoch:
    """What one validation epoch measured, with the network's cost, in NetScore's units
    (latency: milliseconds per image, batch 1, CPU: median and 90th percentile)."""

    accuracy_percent: float
    params_millions: float
    gmacs: float
    latency_ms: float | None = None
    latency_p90_ms: float | None = None


def floor_penalised(score: float, accuracy_percent: float, min_accuracy: float) -> float:
    """``score`` less 3 dB per percentage point that the accuracy falls short of the floor."""
    shortfall = max(0.0, min_accuracy - accuracy_percent)
    return score - FLOOR_PENALTY_DB_PER_POINT * shortfall


def _netscore(epoch: Epoch) -> float:
    return netscore_or_inf(epoch.accuracy_percent, epoch.params_millions, epoch.gmacs)


def _netscore_latency(epoch: Epoch) -> float:
    if epoch.latency_ms is None:
        raise ValueError("A latency objective needs the network's measured latency.")
    return netscore_or_inf(epoch.accuracy_percent, epoch.params_millions, epoch.latency_ms)


@dataclass(frozen=True)
class Objective:
    """One way to score trials.

    Attributes:
        name: the ``--objective`` value.
        directions: the Optuna study's directions, one per value a trial returns.
        metric_names: names of those values, for Optuna's plots and the dashboard.
        prunes: whether trials report to a pruner (Optuna cannot prune several objectives).
        score: the number of an epoch that picks a trial's best epoch (checkpoint, pruning
            reports and the trial's result all follow it).
        values: what a finished trial returns to Optuna, from its best epoch.
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
    score: Callable[[Epoch], float]
    values: Callable[[Epoch], tuple[float, ...]]
    cost_axis: str
    rank_by: str
    description: str

    @property
    def needs_latency(self) -> bool:
        return self.cost_axis == "latency_ms"


def _scalar(name: str, score: Callable[[Epoch], float], cost: str, rank_by: str,
            description: str) -> Objective:  # fmt: skip
    return Objective(name, ("maximize",), (f"{rank_by}_db",), True, score,
                     lambda epoch: (score(epoch),), cost, rank_by, description)  # fmt: skip


def _pareto(name: str, cost: str, description: str) -> Objective:
    return Objective(
        name, ("maximize", "minimize", "minimize"), ("accuracy_percent", "params_millions", cost),
        False, lambda epoch: epoch.accuracy_percent,
        lambda epoch: (epoch.accuracy_percent, epoch.params_millions, float(getattr(epoch, cost))),
        cost, "netscore_latency" if cost == "latency_ms" else "netscore", description,
    )  # fmt: skip


OBJECTIVES: dict[str, Objective] = {
    objective.name: objective
    for objective in (
        _scalar("netscore", _netscore, "gmacs", "netscore",
                "maximise NetScore (dB) with a single-objective sampler and pruning"),
        _scalar("netscore-latency", _netscore_latency, "latency_ms", "netscore_latency",
                "maximise nsearch's latency NetScore (measured milliseconds in place of GMACs) "
                "with pruning"),
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


@dataclass(frozen=True)
class Scoring:
    """How a trial's epochs and result are scored: its objective, and how the floor reaches the
    sampler (``floor_mode``, one of :data:`FLOOR_MODES`).

    With ``"penalty"`` the scalar objectives' scores and values lose 3 dB per point of accuracy
    below the floor, and no constraint is set. With ``"constraint"``, and for objectives without
    a scalar value (the Pareto ones) in either mode, an epoch's score and the trial's values are
    the objective's own, and the trial's constraint (<= 0: feasible) is the floor less the
    accuracy, or less the lower end of its Wilson interval where the floor rule is
    ``"confident"``.
    """

    objective: Objective
    min_accuracy: float
    floor_mode: str = DEFAULT_FLOOR_MODE
    floor_confidence: str = "confident"

    def __post_init__(self) -> None:
        if self.floor_mode not in FLOOR_MODES:
            raise ValueError(f"`floor_mode` can be {', '.join(FLOOR_MODES)}, "
                             f"got {self.floor_mode!r}.")  # fmt: skip

    @property
    def _penalised(self) -> bool:
        return self.floor_mode == "penalty" and self.objective.prunes

    def epoch_score(self, epoch: Epoch) -> float:
        score = self.objective.score(epoch)
        if self._penalised:
            return floor_penalised(score, epoch.accuracy_percent, self.min_accuracy)
        return score

    def values(self, epoch: Epoch) -> tuple[float, ...]:
        if self._penalised:
            return (self.epoch_score(epoch),)
        return self.objective.values(epoch)

    def constraint(self, measured: Measured) -> float | None:
        """The floor's constraint of a measured accuracy, in percentage points (<= 0 is
        feasible), or None where the floor is a penalty on the objective's value."""
        if self._penalised:
            return None
        judged = measured.interval[0] if self.floor_confidence == "confident" else measured.percent
        return self.min_accuracy - judged
