"""Optuna's loop with nsearch's stop rules, in this process or in several worker processes that
share one storage; a worker's bad-input error reaches the parent as one sentence."""

from __future__ import annotations

import builtins
import contextlib
import time
from pathlib import Path
from typing import Any

import optuna
import torch

from nsearch.search.data_setup import make_candidates
from nsearch.search.progress import Progress
from nsearch.search.requeue import ctrl_c_as_interrupt, fail_own_running, requeue_interrupted
from nsearch.search.results import finished_count
from nsearch.search.settings import SearchSettings
from nsearch.search.stop import Deadline, EpochBudget, StopRule, TrialTotal, any_reached
from nsearch.search.storage import fail_orphaned_trials, open_storage
from nsearch.search.strategies import STRATEGIES
from nsearch.search.study import create_study

__all__ = ["optimize", "run_workers", "stop_rules"]


def stop_rules(settings: SearchSettings, deadline: float) -> list[StopRule]:
    """When the study stops starting trials: its trial total (across workers), the deadline and
    the epoch budget."""
    return [TrialTotal(settings.trials), Deadline(deadline), EpochBudget(settings.epoch_budget)]


def optimize(settings: SearchSettings, out: Path, storage_url: str, study_name: str,
              worker: int, deadline: float, objective: Any,
              progress: Progress | None = None) -> None:  # fmt: skip
    """One worker's share of the study: Optuna's loop until a stop rule holds.

    Orphaned trials (their worker process on this machine is gone) are failed and retried
    before each trial, as the first of the callbacks Optuna runs after each trial.
    """
    # Optuna would log each failed trial with its traceback; nsearch says it in one line instead.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = open_storage(storage_url, heartbeat_seconds=settings.heartbeat)
    study = create_study(settings, storage, study_name, worker=worker)
    rules = stop_rules(settings, deadline)
    fail_orphaned_trials(study)
    fail_own_running(study)  # else TrialTotal would count them as running
    if any_reached(rules, study):
        return
    requeue_interrupted(study)  # trials Ctrl-C stopped run again first
    callbacks: list[Any] = [lambda study, trial: fail_orphaned_trials(study), *rules]
    if progress is not None:
        callbacks.append(progress)
    with ctrl_c_as_interrupt():
        study.optimize(objective, catch=(FloatingPointError,), callbacks=callbacks)


def _worker_main(settings: SearchSettings, out: Path, storage_url: str, study_name: str,
                 worker: int, threads: int, deadline: float, errors: Any) -> None:  # fmt: skip
    torch.set_num_threads(threads)
    try:
        with contextlib.suppress(KeyboardInterrupt):  # the parent reports; its Ctrl-C reaches us
            candidates = make_candidates(settings, out)
            # a supernet is loaded from the run's folder, where the parent left it
            objective = STRATEGIES[settings.strategy].objective(settings.plan(worker), candidates,
                                                                out, False)  # fmt: skip
            optimize(settings, out, storage_url, study_name, worker, deadline, objective)
    except (ValueError, OSError) as error:  # the user's to mend (bad data): the parent says it
        errors.put((type(error).__name__, str(error)))
        raise SystemExit(1) from None


def _worker_error(name: str, message: str) -> Exception:
    """A worker's error raised again in the parent, of its own kind where that is a
    ValueError or OSError (the kinds the command line reports in one sentence)."""
    kind = getattr(builtins, name, ValueError)
    ok = isinstance(kind, type) and issubclass(kind, (ValueError, OSError))
    return kind(message) if ok else ValueError(message)


def run_workers(settings: SearchSettings, out: Path, storage_url: str, study_name: str,
                 study: optuna.Study, bar: Progress, deadline: float) -> None:  # fmt: skip
    """Run the study in ``settings.workers`` processes until they stop. A worker stopped by
    bad input (a ValueError or OSError) has its error raised here once all have stopped; one
    that ended otherwise is named with its exit code."""
    import multiprocessing

    threads = max(1, torch.get_num_threads() // settings.workers)
    context = multiprocessing.get_context("spawn")
    errors = context.SimpleQueue()
    # time.monotonic() is system-wide on Linux: the workers share the parent's deadline.
    workers = [
        context.Process(
            target=_worker_main,
            args=(settings, out, storage_url, study_name, i, threads, deadline, errors),
        )
        for i in range(settings.workers)
    ]
    for process in workers:
        process.start()
    try:
        seen = finished_count(study)
        while any(process.is_alive() for process in workers):
            time.sleep(2)
            now = finished_count(study)
            if now > seen:
                bar.update(study, now - seen)
                seen = now
    finally:
        for process in workers:
            process.join()
    if not errors.empty():
        raise _worker_error(*errors.get())
    failed = [(i, p.exitcode) for i, p in enumerate(workers) if p.exitcode]
    if failed:
        i, code = failed[0]
        raise ChildProcessError(f"Search worker {i} ended with exit code {code} (its output "
                                "above says why); the study keeps its finished trials: run "
                                "again to resume.")  # fmt: skip
