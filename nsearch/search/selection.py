"""Which trials a user should look at: budgets, the accuracy floor and how sure a verdict on it
is, the Pareto front and the best feasible trial.

Pure functions of trial records and a :class:`Selection` (the current objective, floor, budgets
and floor rule): they are re-applied every time, so changing them on resume changes what is
feasible, never a stored flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from nsearch.core.pareto import pareto_front
from nsearch.search import objectives
from nsearch.search.results import TrialRecord

__all__ = [
    "FLOOR_RULES",
    "Budgets",
    "Selection",
    "best_feasible",
    "floor_met",
    "front",
    "front_axes",
    "is_feasible",
    "over_budget",
    "pick",
    "within_budget",
]

_FRONT_DIRECTIONS = ("maximize", "minimize", "minimize")

# How sure a verdict on the floor is, from the accuracy's Wilson 95 % interval.
CONFIDENT, POINT_ESTIMATE, NO = "confident", "point estimate", "no"
# --floor-confidence: the verdicts that make a trial feasible.
FLOOR_RULES: dict[str, tuple[str, ...]] = {
    "confident": (CONFIDENT,),
    "point": (CONFIDENT, POINT_ESTIMATE),
}
RULE_TEXT = {
    "confident": "its validation accuracy's Wilson 95 % interval lies at or above the floor",
    "point": "its validation accuracy is at or above the floor (the interval may reach below)",
}


@dataclass(frozen=True)
class Budgets:
    """The most a candidate may cost: parameters in millions, GMACs per image, milliseconds per
    image (median, batch 1, in the search's latency runtime); ``None`` is no limit."""

    max_params: float | None = None
    max_macs: float | None = None
    max_latency_ms: float | None = None

    def excess(
        self, params_millions: float, gmacs: float, latency_ms: float | None = None
    ) -> str | None:
        """Why a network is over budget, or None if it is within.

        Example::

            >>> Budgets(max_params=0.5).excess(0.8, 0.01)
            '0.800 M params exceed --max-params 0.5 M'
        """
        if self.max_params is not None and params_millions > self.max_params:
            return f"{params_millions:.3f} M params exceed --max-params {self.max_params:g} M"
        if self.max_macs is not None and gmacs > self.max_macs:
            return f"{gmacs:.4f} GMACs exceed --max-macs {self.max_macs:g} GMACs"
        limit = self.max_latency_ms
        if limit is not None and latency_ms is not None and latency_ms > limit:
            return f"{latency_ms:.2f} ms exceed --max-latency-ms {limit:g} ms"
        return None


@dataclass(frozen=True)
class Selection:
    """How trials are judged now.

    Attributes:
        objective: the ``--objective`` name (the front's cost axis and the best trial's score).
        min_accuracy: the accuracy floor, percent of the validation images.
        budgets: the cost limits.
        floor_confidence: ``"confident"`` (the interval's lower end is at or above the floor)
            or ``"point"`` (the accuracy itself is): which verdicts of :func:`floor_met` are
            feasible.
    """

    objective: str = "netscore"
    min_accuracy: float = 80.0
    budgets: Budgets = field(default_factory=Budgets)
    floor_confidence: str = "confident"

    def __post_init__(self) -> None:
        if self.floor_confidence not in FLOOR_RULES:
            raise ValueError(
                f"`floor_confidence` can be {', '.join(FLOOR_RULES)}, "
                f"got {self.floor_confidence!r}."
            )

    @property
    def uses_latency(self) -> bool:
        """Whether judging a trial needs its latency: a latency objective or a latency budget."""
        return (objectives.get(self.objective).needs_latency
                or self.budgets.max_latency_ms is not None)  # fmt: skip

    @property
    def rule(self) -> str:
        """The floor rule in words, for the report."""
        return f"a trial is feasible when {RULE_TEXT[self.floor_confidence]}"


def front_axes(selection: Selection) -> tuple[str, str, str]:
    """The front is non-dominated over validation accuracy (max), params (min) and the
    objective's cost (min): MACs, or measured latency for the latency objectives."""
    return ("accuracy_percent", "params_millions", objectives.get(selection.objective).cost_axis)


def over_budget(record: TrialRecord, budgets: Budgets) -> str | None:
    """Why a counted trial is over ``budgets`` (the current ones, whatever they were when it
    ran), in words; ``None`` within them, or not counted yet.

    Example::

        >>> over_budget(TrialRecord(0, "complete", {}, params=800_000, macs=10**7),
        ...             Budgets(max_params=0.5))
        '0.800 M params exceed --max-params 0.5 M'
    """
    if record.params_millions is None or record.gmacs is None:
        return None
    if budgets.max_latency_ms is not None and record.latency_ms is None:
        return f"latency not measured, --max-latency-ms {budgets.max_latency_ms:g} ms"
    return budgets.excess(record.params_millions, record.gmacs, record.latency_ms)


def within_budget(record: TrialRecord, budgets: Budgets) -> bool:
    """Counted, and within ``budgets`` (a latency budget needs a measured latency)."""
    counted = record.params_millions is not None and record.gmacs is not None
    return counted and over_budget(record, budgets) is None


def floor_met(record: TrialRecord, min_accuracy: float) -> str | None:
    """``"confident"`` when the validation accuracy's Wilson 95 % interval lies at or above the
    floor, ``"point estimate"`` when only the accuracy does, ``"no"`` otherwise; ``None``
    without an accuracy."""
    validation = record.validation
    if validation is None:
        return None
    if validation.interval[0] >= min_accuracy:
        return CONFIDENT
    return POINT_ESTIMATE if validation.percent >= min_accuracy else NO


def is_feasible(record: TrialRecord, selection: Selection) -> bool:
    """Trained, within the budgets, and over the floor as surely as the floor rule asks."""
    return (
        record.trained
        and within_budget(record, selection.budgets)
        and floor_met(record, selection.min_accuracy) in FLOOR_RULES[selection.floor_confidence]
    )


def at_top_fidelity(records: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The records whose accuracy is of the highest fidelity (in image-epochs) that a trained,
    complete trial reached, and every estimate: a 1-epoch accuracy is never ranked with a
    15-epoch one. Pruned trials keep the fidelity they stopped at and drop out here."""
    top = max((r.image_epochs for r in records if r.trained), default=0)
    return [r for r in records if r.estimate or r.image_epochs == top]


def front(
    records: Sequence[TrialRecord], selection: Selection, *, estimates: bool = False
) -> list[TrialRecord]:
    """The trained trials within budget that no other beats on accuracy, params and cost (MACs,
    or latency) at once, most accurate first; with ``estimates``, the same over the trials whose
    accuracy a supernet estimated. Trained trials are ranked at the highest fidelity reached
    (:func:`at_top_fidelity`)."""
    axes = front_axes(selection)
    candidates = [
        r for r in at_top_fidelity(records)
        if r.complete and r.estimate == estimates and within_budget(r, selection.budgets)
        and getattr(r, axes[2]) is not None
    ]  # fmt: skip
    points = [[float(getattr(r, axis)) for axis in axes] for r in candidates]
    chosen = [candidates[i] for i in pareto_front(points, _FRONT_DIRECTIONS)]
    return sorted(chosen, key=lambda r: (-float(r.accuracy_percent or 0), r.trial))


def best_feasible(records: Sequence[TrialRecord], selection: Selection) -> TrialRecord | None:
    """The feasible trial of the highest NetScore (or latency NetScore, for the latency
    objectives)."""
    rank_by = objectives.get(selection.objective).rank_by
    feasible = [r for r in at_top_fidelity(records)
                if is_feasible(r, selection) and getattr(r, rank_by) is not None]  # fmt: skip
    return max(feasible, key=lambda r: (float(getattr(r, rank_by)), -r.trial), default=None)


def pick(
    records: Sequence[TrialRecord], selection: Selection, *, trial: int | None,
    rank: int | None,
) -> TrialRecord:  # fmt: skip
    """The trained trial asked for, by number or by rank on the front (as in ``pareto.csv``).

    Raises:
        ValueError: unless exactly one of ``trial`` and ``rank`` is given, if the rank is off the
            front, or if the trial has no trained model.
    """
    if (trial is None) == (rank is None):
        raise ValueError("Give exactly one of `trial` and `rank`.")
    if rank is not None:
        chosen = front(records, selection)
        if not 1 <= rank <= len(chosen):
            raise ValueError(
                f"`--rank` must be between 1 and {len(chosen)} (the front's size), got {rank}."
            )
        return chosen[rank - 1]
    trained = {r.trial: r for r in records if r.checkpoint}
    if trial not in trained:
        raise ValueError(
            f"Trial {trial} has no trained model; the trials that do are: "
            f"{', '.join(map(str, sorted(trained))) or 'none'}."
        )
    return trained[trial]
