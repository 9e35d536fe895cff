"""Optuna storages for one process, several processes on one machine, and several machines.

- ``sqlite:///PATH``: one file, the default for one worker (SQLite locks under many writers).
- ``journal:PATH``: Optuna's journal file, the default for ``--workers N`` on one machine.
- ``postgresql://USER:PASSWORD@HOST:PORT/DB`` (``pip install nsearch[postgres]``), or any other
  SQLAlchemy URL: one study shared by workers on several machines.

Trials that lose their worker are failed and retried once. On an RDB storage a trial whose
heartbeat stops (a killed worker on any machine) is failed when another trial starts; on every
storage a trial whose worker process on this machine is gone is failed when a worker starts or
finishes a trial.
"""

from __future__ import annotations

import copy
import os
import socket
import warnings
from typing import Any

import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from nsearch.search.results import INTERRUPTED

__all__ = ["fail_orphaned_trials", "open_storage", "redact", "worker_id"]

MAX_RETRY = 1
# Renamed in Optuna 4.9; the old name still works, with a warning.
RetryCallback: Any = getattr(
    optuna.storages, "RetryHeartbeatStaleTrialCallback", optuna.storages.RetryFailedTrialCallback
)


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def open_storage(url: str, *, heartbeat_seconds: int = 30) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url``, with heartbeats and one retry for trials that lose their
    worker.

    Raises:
        ValueError: if the URL is malformed, its driver is missing, or the database cannot be
            reached; the message names the URL (without its password).
    """
    if url.startswith("journal:"):
        path = url.removeprefix("journal:").removeprefix("//")
        folder = os.path.dirname(os.path.abspath(path))
        if not path or not os.path.isdir(folder):
            raise ValueError(
                f"The journal storage {url!r} must name a file in an existing folder, "
                "such as journal:runs/study.journal."
            )
        return JournalStorage(JournalFileBackend(path))
    if "://" not in url:
        raise ValueError(
            f"`--storage` must be an Optuna storage URL such as sqlite:///study.db, "
            f"postgresql://user:password@host:5432/db or journal:study.journal, got {url!r}."
        )
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    try:
        make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        raise ValueError(f"`--storage` {redact(url)!r} is not a valid database URL.") from None
    engine_kwargs: dict[str, Any] = (
        {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    )
    if url.startswith("postgresql"):
        engine_kwargs["connect_args"] = {"connect_timeout": 10}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat_seconds,
                grace_period=3 * heartbeat_seconds,
                heartbeat_stale_trial_callback=RetryCallback(max_retry=MAX_RETRY),
            )
    except ImportError as error:
        raise ValueError(
            f"The storage {redact(url)} needs a database driver that is not installed "
            f"({error}); for PostgreSQL, pip install 'nsearch[postgres]'."
        ) from None
    except sqlalchemy.exc.SQLAlchemyError as error:
        reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
        raise ValueError(
            f"The database of storage {redact(url)} cannot be reached: {reason}."
        ) from None


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_orphaned_trials(study: optuna.Study) -> list[int]:
    """Fail (and retry once) the running trials whose worker process on this machine is gone.

    A trial that Ctrl-C interrupted before Optuna recorded its end keeps its status,
    ``interrupted``; the others are ``failed: its worker (...) stopped``.

    Returns the numbers of the trials it failed.
    """
    host = socket.gethostname()
    failed = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = RetryCallback(max_retry=MAX_RETRY)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get("worker", "")
        owner_host, _, pid = owner.rpartition(":")
        if owner_host != host or not pid.isdigit() or _alive(int(pid)):
            continue
        # Optuna has no public call to finish another process's trial; its own
        # `fail_stale_trials` goes through the storage in the same way.
        try:
            if trial.user_attrs.get("status") != INTERRUPTED:  # else Ctrl-C cut its end short
                study._storage.set_trial_user_attr(
                    trial._trial_id, "status", f"failed: its worker ({owner}) stopped"
                )
            if not study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker got there first
        retry(study, copy.deepcopy(study._storage.get_trial(trial._trial_id)))
        failed.append(trial.number)
    return failed
