"""Running interrupted trials again: a trial that Ctrl-C stopped, or whose error stopped the run
(bad data met while training, say), is run again, with the same architecture, when its study
resumes.

The re-run is a trial enqueued through Optuna with the interrupted trial's parameters and the
user attribute ``reruns`` (the interrupted trial's number). Each interrupted trial is enqueued
once: not when a trial of the study already runs it again (an earlier resume's re-run, waiting,
running or finished, or Optuna's retry of a trial whose worker stopped); and where several
workers enqueue it at the same moment, the later duplicates that no worker has started yet are
cancelled (failed with the status :data:`DUPLICATE`, never run, never counted).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from nsearch.search.results import INTERRUPTED, NOT_RUN, runs_again
from nsearch.search.storage import worker_id

__all__ = [
    "DUPLICATE", "cancel_waiting", "ctrl_c_as_interrupt", "fail_own_running", "requeue_interrupted",
]  # fmt: skip

DUPLICATE = NOT_RUN + "another trial runs the same interrupted trial again"


def requeue_interrupted(study: optuna.Study) -> list[int]:
    """Enqueue one re-run of each interrupted trial that no trial runs again yet; call it as a
    worker starts, before its first trial.

    A trial still running in storage under this very process was interrupted before Optuna
    could record its end (Ctrl-C cut the write short): this process runs no trial as a worker
    starts, so such a trial is failed as interrupted first. (Such a trial of a process that has
    exited is :func:`~nsearch.search.storage.fail_orphaned_trials`' to fail and retry.)

    Trials that confirm a supernet's estimate are left to the strategy, which trains its
    unconfirmed estimates again itself, and a trial stopped before it had an architecture has
    nothing to run again.

    Returns:
        The numbers of the interrupted trials enqueued now.
    """
    fail_own_running(study)
    trials = study.get_trials(deepcopy=False)
    again = _run_again(trials)
    chosen = [
        t for t in trials
        if t.state == TrialState.FAIL and runs_again(str(t.user_attrs.get("status", "")))
        and t.number not in again and t.params and t.user_attrs.get("confirms") is None
    ]  # fmt: skip
    for trial in chosen:
        study.enqueue_trial(dict(trial.params), user_attrs={"reruns": trial.number})
    if chosen:
        cancel_duplicates(study, [t.number for t in chosen])
    return [t.number for t in chosen]


def _run_again(trials: Iterable[FrozenTrial]) -> set[int]:
    """The trials that another trial of the study runs again."""
    again: set[int] = set()
    for t in trials:
        if t.user_attrs.get("status") == DUPLICATE:
            continue
        if t.user_attrs.get("reruns") is not None:
            again.add(int(t.user_attrs["reruns"]))
        again.update(int(n) for n in t.system_attrs.get("retry_history", ()))
    return again


def cancel_duplicates(study: optuna.Study, numbers: Sequence[int]) -> list[int]:
    """Cancel the re-runs of each of ``numbers`` but the first that are still waiting.

    A waiting trial is claimed as Optuna's workers claim one (waiting to running, which one
    process alone can do), then failed, so that no trial a worker has started is touched.

    Returns:
        The numbers of the trials cancelled.
    """
    trials = study.get_trials(deepcopy=False)
    cancelled = []
    for number in numbers:
        reruns = [t for t in trials if t.user_attrs.get("reruns") == number
                  and t.user_attrs.get("status") != DUPLICATE]  # fmt: skip
        for trial in sorted(reruns, key=lambda t: t.number)[1:]:
            if trial.state == TrialState.WAITING and _cancel(study, trial, DUPLICATE):
                cancelled.append(trial.number)
    return cancelled


def cancel_waiting(
    study: optuna.Study, status: str, keep: Callable[[FrozenTrial], bool] = lambda trial: False
) -> list[int]:
    """Cancel the trials still waiting to run, but those ``keep`` names, with ``status`` (which
    starts with :data:`~nsearch.search.results.NOT_RUN`): a stage that enqueues its own trials
    and runs them one by one (promotion) must run those, not what an earlier stage left queued.

    Returns:
        The numbers of the trials cancelled.
    """
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    return [t.number for t in waiting if not keep(t) and _cancel(study, t, status)]


def _cancel(study: optuna.Study, trial: FrozenTrial, status: str) -> bool:
    """Claim a waiting trial as Optuna's workers claim one (waiting to running, which one
    process alone can do), then fail it with ``status``; False where a worker started it first.
    Optuna has no public call for this; ``fail_orphaned_trials`` does the same."""
    storage = study._storage
    if not storage.set_trial_state_values(trial._trial_id, state=TrialState.RUNNING):
        return False
    storage.set_trial_user_attr(trial._trial_id, "status", status)
    storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
    return True


@contextlib.contextmanager
def ctrl_c_as_interrupt() -> Iterator[None]:
    """Around ``study.optimize``: Ctrl-C while Optuna 5.1 stores a finished trial surfaces from
    its ``_run_trial`` as an UnboundLocalError (its ``finally`` reads a name that the interrupted
    write never set); raise it as the KeyboardInterrupt it was."""
    try:
        yield
    except UnboundLocalError as error:
        if isinstance(error.__context__, KeyboardInterrupt):
            raise KeyboardInterrupt from error
        raise


def fail_own_running(study: optuna.Study) -> None:
    """Fail as interrupted the trials still running in storage under this very process: Ctrl-C
    cut Optuna's record of their end short. Call it before a stop rule counts running trials."""
    me = worker_id()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get("worker") != me:
            continue
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            study._storage.set_trial_user_attr(trial._trial_id, "status", INTERRUPTED)
            study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
