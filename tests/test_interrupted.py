"""A trial that Ctrl-C stopped is run again, with the same architecture, when the run resumes:
enqueued once through Optuna, however often the run resumes or however many workers start, also
when Ctrl-C cut Optuna's record of its end short; the report counts it apart from failures."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from search_helpers import QUICK, read_csv

from nsearch.search import SearchSettings, run_study, trial
from nsearch.search.requeue import DUPLICATE, cancel_duplicates, requeue_interrupted
from nsearch.search.results import INTERRUPTED, finished_count, record_of
from nsearch.search.storage import fail_orphaned_trials, worker_id


def test_an_interrupted_trial_runs_again_with_its_architecture_on_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train, calls = trial.train, []

    def second_is_interrupted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return train(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(trial, "train", second_is_interrupted)
    settings = SearchSettings(**{**QUICK, "train_limit": 128})  # two short trials
    result = run_study(settings, tmp_path, progress=False)
    assert result.interrupted
    assert [(r.state, r.status) for r in result.records] == [
        ("complete", "complete"), ("fail", INTERRUPTED)
    ]  # fmt: skip
    stopped = result.records[1]
    report = (tmp_path / "report.md").read_text()
    assert "2 trials (1 complete, 0 pruned or over budget, 0 failed, 1 interrupted" in report

    monkeypatch.setattr(trial, "train", train)
    result = run_study(settings, tmp_path, progress=False)
    assert not result.interrupted
    rerun = result.records[2]
    assert (rerun.state, rerun.reruns) == ("complete", 1)
    assert dict(rerun.architecture) == dict(stopped.architecture)
    assert finished_count(result.study) == 2 and result.best is not None
    report = (tmp_path / "report.md").read_text()
    assert "3 trials (2 complete, 0 pruned or over budget, 0 failed, 1 interrupted" in report
    rows = read_csv(tmp_path / "trials.csv")
    assert [(r["status"], r["reruns"]) for r in rows] == [
        ("complete", ""), (INTERRUPTED, ""), ("complete", "1")
    ]  # fmt: skip
    assert requeue_interrupted(result.study) == []  # resumed again: nothing to run again


def test_ctrl_c_during_optunas_record_of_a_trial_is_an_interrupt_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Optuna 5.1 turns a KeyboardInterrupt in its ``_tell_with_warning`` into an
    UnboundLocalError; the run reports it as Ctrl-C, and a resume runs the trial again."""
    from optuna.study import _optimize

    tell, calls = _optimize._tell_with_warning, []

    def second_tell_is_interrupted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return tell(*args, **kwargs)

    monkeypatch.setattr(_optimize, "_tell_with_warning", second_tell_is_interrupted)
    settings = SearchSettings(**{**QUICK, "train_limit": 128})  # two short trials
    result = run_study(settings, tmp_path, progress=False)
    assert result.interrupted
    assert result.records[0].state == "complete" and len(result.records) == 2

    monkeypatch.setattr(_optimize, "_tell_with_warning", tell)
    result = run_study(settings, tmp_path, progress=False)
    assert not result.interrupted and finished_count(result.study) == 2


def interrupted_study(*, running: bool = False) -> optuna.Study:
    """A study whose trial 0 was interrupted: failed, or with ``running`` still running (its
    end never recorded)."""
    study = optuna.create_study()
    stopped = study.ask()
    stopped.suggest_int("width", 1, 8)
    if not running:
        stopped.set_user_attr("status", INTERRUPTED)
        study.tell(stopped, state=TrialState.FAIL)
    return study


def waiting(study: optuna.Study) -> list[tuple[int, dict]]:
    return [(t.number, dict(t.user_attrs))
            for t in study.get_trials(states=(TrialState.WAITING,))]  # fmt: skip


def test_an_interrupted_trial_is_enqueued_once_however_often_workers_start() -> None:
    study = interrupted_study()
    width = study.trials[0].params["width"]
    assert requeue_interrupted(study) == [0]
    assert requeue_interrupted(study) == []  # a second worker, or a second resume
    assert waiting(study) == [(1, {"reruns": 0})]
    assert study.trials[1].system_attrs["fixed_params"] == {"width": width}
    # Two workers that checked at the same moment both enqueued it: the later copy is cancelled,
    # once, and never counted.
    study.enqueue_trial({"width": width}, user_attrs={"reruns": 0})
    assert cancel_duplicates(study, [0]) == [2] and cancel_duplicates(study, [0]) == []
    assert study.trials[2].state == TrialState.FAIL
    assert study.trials[2].user_attrs["status"] == DUPLICATE
    assert waiting(study) == [(1, {"reruns": 0})]
    assert requeue_interrupted(study) == [] and finished_count(study) == 0
    assert study.ask().suggest_int("width", 1, 8) == width  # the re-run runs the same network


def test_a_started_rerun_is_never_cancelled() -> None:
    study = interrupted_study()
    requeue_interrupted(study)
    study.enqueue_trial({"width": 5}, user_attrs={"reruns": 0})
    study.ask(), study.ask()  # the re-run and its duplicate: both started by workers
    assert cancel_duplicates(study, [0]) == []
    assert [t.state for t in study.trials[1:]] == [TrialState.RUNNING] * 2


def test_neither_confirmations_nor_trials_without_an_architecture_are_enqueued() -> None:
    study = optuna.create_study()
    for attrs in ({"confirms": 7}, {}):
        stopped = study.ask()
        if attrs:
            stopped.suggest_int("width", 1, 8)
        for key, value in {**attrs, "status": INTERRUPTED}.items():
            stopped.set_user_attr(key, value)
        study.tell(stopped, state=TrialState.FAIL)
    assert requeue_interrupted(study) == [] and waiting(study) == []


def test_a_trial_left_running_by_this_process_is_interrupted_and_run_again() -> None:
    """Ctrl-C during Optuna's own record of the trial's end leaves it running in storage; a run
    resumed in the same process (a notebook) finds it there, under its own worker id."""
    study = interrupted_study(running=True)
    study._storage.set_trial_user_attr(study.trials[0]._trial_id, "worker", worker_id())
    assert requeue_interrupted(study) == [0]
    stopped = study.trials[0]
    assert (stopped.state, stopped.user_attrs["status"]) == (TrialState.FAIL, INTERRUPTED)
    assert waiting(study) == [(1, {"reruns": 0})]


def test_a_trial_left_running_by_a_process_that_exited_keeps_its_status_and_is_retried() -> None:
    study = interrupted_study(running=True)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    stopped_id = study.trials[0]._trial_id
    study._storage.set_trial_user_attr(stopped_id, "worker", f"{socket.gethostname()}:{gone}")
    study._storage.set_trial_user_attr(stopped_id, "status", INTERRUPTED)
    assert fail_orphaned_trials(study) == [0]
    stopped = study.trials[0]
    assert (stopped.state, stopped.user_attrs["status"]) == (TrialState.FAIL, INTERRUPTED)
    assert requeue_interrupted(study) == []  # Optuna's retry runs it again already
    retry = study.trials[1]
    assert retry.system_attrs["failed_trial"] == 0
    assert record_of(retry).reruns == 0  # trials.csv says which trial it runs again
