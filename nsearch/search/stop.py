"""When a study stops starting trials: small stop rules, run by Optuna's own loop.

Each rule is a callable in the manner of Optuna's ``MaxTrialsCallback``: Optuna calls it after
every trial, and it calls ``study.stop()`` once the study has reached it. Each rule can also be
asked before a worker starts (:meth:`reached`), so that a worker that joins a study which is
already done starts nothing.

Why not ``MaxTrialsCallback``: it counts finished trials only, so ``N`` workers that each start
one more trial while the last ``N - 1`` are running overshoot the total. :class:`TrialTotal`
counts the trials other workers are running as well, so that workers on any number of machines
stop at exactly the study's total (up to two workers checking in the same instant).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Protocol

import optuna
from optuna.trial import FrozenTrial, TrialState

from nsearch.search.results import epochs_trained, finished_count

__all__ = ["Deadline", "EpochBudget", "StopRule", "TrialTotal", "any_reached"]


class StopRule(Protocol):
    """A rule that stops a study: asked before a worker starts, and called after each trial."""

    def reached(self, study: optuna.Study) -> bool: ...

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None: ...


class _Rule:
    def reached(self, study: optuna.Study) -> bool:
        raise NotImplementedError

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self.reached(study):
            study.stop()


class TrialTotal(_Rule):
    """Stop once the study's finished trials (:func:`~nsearch.search.results.finished_count`:
    interrupted trials and trained confirmations do not count) and the trials running anywhere
    reach ``total``.

    Example::

        >>> import optuna
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> study = optuna.create_study()
        >>> study.optimize(lambda t: t.suggest_float("x", 0, 1), callbacks=[TrialTotal(3)])
        >>> len(study.trials)
        3
    """

    def __init__(self, total: int) -> None:
        self.total = total

    def reached(self, study: optuna.Study) -> bool:
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        return finished_count(study) + len(running) >= self.total


class Deadline(_Rule):
    """Stop at ``deadline``, a :func:`time.monotonic` time (system-wide on Linux, so the workers
    of one machine share their parent's); ``math.inf`` never stops."""

    def __init__(self, deadline: float = math.inf) -> None:
        self.deadline = deadline

    @classmethod
    def after(cls, seconds: float | None) -> Deadline:
        """The deadline ``seconds`` from now, or none."""
        return cls(time.monotonic() + seconds if seconds else math.inf)

    def reached(self, study: optuna.Study) -> bool:
        return time.monotonic() >= self.deadline


class EpochBudget(_Rule):
    """Stop once the study's trials have trained ``budget`` epochs in all (``None``: never)."""

    def __init__(self, budget: int | None) -> None:
        self.budget = budget

    def reached(self, study: optuna.Study) -> bool:
        return self.budget is not None and epochs_trained(study) >= self.budget


def any_reached(rules: Sequence[StopRule], study: optuna.Study) -> bool:
    """Whether one of ``rules`` already holds, before a worker starts its first trial."""
    return any(rule.reached(study) for rule in rules)
