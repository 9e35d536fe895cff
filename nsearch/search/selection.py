"""Which trials a user should look at: feasibility, the Pareto front and the best feasible trial.

Pure functions of trial records and the current settings: the accuracy floor and the budgets are
re-applied every time, so changing them on resume changes what is feasible, never a stored flag.
"""

from __future__ import annotations

from collections.abc import Sequence

from nsearch.pareto import pareto_front
from nsearch.search import objectives
from nsearch.search.results import TrialRecord
from nsearch.search.settings import SearchSettings

__all__ = ["best_feasible", "budget_excess", "front", "front_axes", "is_feasible", "pick"]

_FRONT_DIRECTIONS = ("maximize", "minimize", "minimize")


def front_axes(settings: SearchSettings) -> tuple[str, str, str]:
    """The front is non-dominated over validation accuracy (max), params (min) and the
    objective's cost (min): MACs, or measured latency for the latency objectives."""
    return ("accuracy_percent", "params_millions", objectives.get(settings.objective).cost_axis)


def budget_excess(
    settings: SearchSettings,
    params_millions: float,
    gmacs: float,
    latency_ms: float | None = None,
) -> str | None:
    """Why a network is over ``settings``' budgets, or None if it is within them."""
    if settings.max_params is not None and params_millions > settings.max_params:
        return f"{params_millions:.3f} M params exceed --max-params {settings.max_params:g} M"
    if settings.max_macs is not None and gmacs > settings.max_macs:
        return f"{gmacs:.4f} GMACs exceed --max-macs {settings.max_macs:g} GMACs"
    limit = settings.max_latency_ms
    if limit is not None and latency_ms is not None and latency_ms > limit:
        return f"{latency_ms:.2f} ms exceed --max-latency-ms {limit:g} ms"
    return None


def within_budget(record: TrialRecord, settings: SearchSettings) -> bool:
    if record.params_millions is None or record.gmacs is None:
        return False
    if settings.max_latency_ms is not None and record.latency_ms is None:
        return False
    excess = budget_excess(settings, record.params_millions, record.gmacs, record.latency_ms)
    return excess is None


def is_feasible(record: TrialRecord, settings: SearchSettings) -> bool:
    """Trained, within the budgets and at or above the accuracy floor (validation)."""
    return (
        record.trained
        and within_budget(record, settings)
        and record.accuracy_percent is not None
        and record.accuracy_percent >= settings.min_accuracy
    )


def front(
    records: Sequence[TrialRecord], settings: SearchSettings, *, estimates: bool = False
) -> list[TrialRecord]:
    """The trained trials within budget that no other beats on accuracy, params and cost (MACs,
    or latency) at once, most accurate first; with ``estimates``, the same over the trials whose
    accuracy a supernet estimated."""
    axes = front_axes(settings)
    candidates = [
        r for r in records
        if r.complete and r.estimate == estimates and within_budget(r, settings)
        and getattr(r, axes[2]) is not None
    ]  # fmt: skip
    points = [[float(getattr(r, axis)) for axis in axes] for r in candidates]
    chosen = [candidates[i] for i in pareto_front(points, _FRONT_DIRECTIONS)]
    return sorted(chosen, key=lambda r: (-float(r.accuracy_percent or 0), r.trial))


def best_feasible(records: Sequence[TrialRecord], settings: SearchSettings) -> TrialRecord | None:
    """The feasible trial of the highest NetScore (or latency NetScore, for the latency
    objectives)."""
    rank_by = objectives.get(settings.objective).rank_by
    feasible = [r for r in records if is_feasible(r, settings) and getattr(r, rank_by) is not None]
    return max(feasible, key=lambda r: (float(getattr(r, rank_by)), -r.trial), default=None)


def pick(
    records: Sequence[TrialRecord], settings: SearchSettings, *, trial: int | None,
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
        chosen = front(records, settings)
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
