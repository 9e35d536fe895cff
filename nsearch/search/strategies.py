"""How a search measures its candidates: every difference between strategies in one table.

- ``train``: each trial trains its network (with pruning, where the objective allows it).
- ``supernet``: one weight-sharing supernet is trained once; each trial scores a sub-network
  with its weights in seconds (a supernet estimate), and the estimated front's best few are
  then confirmed by training them on their own.

The table is light: the settings and the CLI read its names without importing the training
code, which each strategy imports when it is used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

    from nsearch.search.plan import TrialPlan
    from nsearch.search.trial import Candidates

__all__ = ["STRATEGIES", "Strategy"]


@dataclass(frozen=True)
class Strategy:
    """One way to measure candidates.

    Attributes:
        name: the ``--strategy`` value.
        objective: makes the function Optuna calls for each trial from the trial plan, the
            candidates' data and training recipe, the run's folder and whether to show progress
            (it may train a supernet first, or load it from the run's folder).
        finish: run once the study's trials are done (the confirmations), or None; it gets the
            study, the plan, the candidates, the folder and how many estimates to confirm.
        check: refuses a space the strategy cannot search, before anything is written.
    """

    name: str
    objective: Callable[[TrialPlan, Candidates, Path, bool], Callable[..., Any]]
    finish: Callable[[optuna.Study, TrialPlan, Candidates, Path, int], Any] | None = None
    check: Callable[[str], None] = lambda space: None


def _train_objective(plan: TrialPlan, candidates: Candidates, out: Path,
                     progress: bool) -> Callable[..., Any]:  # fmt: skip
    from nsearch.search.trial import TrialObjective

    return TrialObjective(plan, candidates, out)


def _supernet_objective(plan: TrialPlan, candidates: Candidates, out: Path,
                        progress: bool) -> Callable[..., Any]:  # fmt: skip
    from nsearch.search.supernet import SupernetObjective, load_supernet

    supernet = load_supernet(plan, candidates, out, progress=progress)
    return SupernetObjective(plan, candidates, out, supernet)


def _has_supernet(space: str) -> None:
    from nsearch.search_spaces import get_space

    if not get_space(space).has_supernet:
        raise ValueError(
            f"The space {space!r} has no weight-sharing supernet; use --strategy train, or a "
            "stage-wise space (mobilenet, resnet)."
        )


def _confirm(study: optuna.Study, plan: TrialPlan, candidates: Candidates, out: Path,
             count: int) -> Any:  # fmt: skip
    from nsearch.search.supernet import confirm

    return confirm(study, plan, candidates, out, count)


STRATEGIES: dict[str, Strategy] = {
    "train": Strategy("train", _train_objective),
    "supernet": Strategy("supernet", _supernet_objective, _confirm, _has_supernet),
}
