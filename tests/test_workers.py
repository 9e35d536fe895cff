"""Many workers on one study, and a worker killed in the middle of a trial."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest
import sqlalchemy.exc
from optuna.trial import TrialState

from nsearch import export
from nsearch.search import SearchSettings, run_study
from nsearch.search.results import INTERRUPTED, finished_count
from nsearch.search.storage import open_storage

# The seeded TPE sampler: cost-tpe's queued start-up trials would run before a killed trial's retry.
QUICK = {"space": "mobilenet-uniform", "epochs": 1, "train_limit": 128, "min_accuracy": 5.0, "rungs": "",
         "timeout": None, "sampler": "tpe"}  # fmt: skip
RUN = [sys.executable, "-m", "nsearch.run", "--space", "mobilenet-uniform", "--min-accuracy", "5", "--rungs", "",
       "--sampler", "tpe", "--no-progress"]  # fmt: skip
NAME = "nsearch-mobilenet-uniform-embedded-netscore"
POSTGRES_URL = os.environ.get("NSEARCH_TEST_POSTGRES_URL")


def assert_exactly(study: optuna.Study, n: int) -> None:
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == n
    assert len({t.number for t in complete}) == n
    assert len({t._trial_id for t in complete}) == n
    workers = {t.user_attrs["worker"] for t in complete}
    assert len(workers) == 2, workers  # both workers did some of the work


def test_two_workers_share_a_journal_study_and_export_opens_it(tmp_path: Path) -> None:
    result = run_study(SearchSettings(trials=4, workers=2, **QUICK), tmp_path, progress=False)
    assert (tmp_path / "study.journal").is_file()
    assert_exactly(result.study, 4)
    assert len(result.records) == 4
    files = export.export_trial(tmp_path, rank=1, dest=tmp_path / "export",
                                formats=("pt2",))  # journal storage
    assert files.program.is_file()


@pytest.mark.skipif(
    POSTGRES_URL is None and not os.environ.get("CI"),
    reason="set NSEARCH_TEST_POSTGRES_URL to a PostgreSQL database (.ci/run starts one)",
)
def test_two_workers_share_a_postgresql_study(tmp_path: Path) -> None:
    assert POSTGRES_URL, "CI must provide NSEARCH_TEST_POSTGRES_URL"
    name = f"workers-{uuid.uuid4().hex[:8]}"
    result = run_study(
        SearchSettings(trials=4, workers=2, **QUICK),
        tmp_path,
        storage=POSTGRES_URL,
        study_name=name,
        progress=False,
    )
    assert_exactly(result.study, 4)
    # a second "machine" joining the same study with a higher total adds exactly what is missing
    command = [*RUN, "--storage", POSTGRES_URL, "--study-name", name, "--trials", "5",
               "--epochs", "1", "--train-limit", "128", "--out", str(tmp_path / "other")]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    study = optuna.load_study(study_name=name, storage=POSTGRES_URL)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 5
    # its report covers the whole study; checkpoints trained elsewhere are named, not tested
    other = tmp_path / "other"
    assert len((other / "trials.csv").read_text().splitlines()) == 1 + 5
    with open(other / "pareto.csv") as f:
        for row in csv.DictReader(f):
            assert bool(row["test_accuracy_percent"]) == (other / row["checkpoint"]).is_file()


def wait_for(condition, what: str, process: subprocess.Popen, seconds: float = 900) -> None:
    """Poll ``condition`` until it holds; fail if the process ends first or time runs out. The
    process's work is sized so that it cannot finish before the condition holds."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within {seconds} s"
        time.sleep(0.5)


def stop_when(condition, what: str, process: subprocess.Popen) -> None:
    """Wait until ``condition`` holds, then SIGSTOP the process and check it again while the
    process cannot move on (it may have finished the trial between the poll and the signal)."""
    while True:
        wait_for(condition, what, process)
        process.send_signal(signal.SIGSTOP)
        try:
            if condition():
                return
        except sqlalchemy.exc.OperationalError:  # stopped while holding sqlite's write lock
            pass
        process.send_signal(signal.SIGCONT)


def load(out: Path) -> optuna.Study | None:
    """The run's study once its tables exist (run.json is written after they are)."""
    if not (out / "run.json").exists():
        return None
    storage = f"sqlite:///{(out / 'study.db').resolve()}"
    return optuna.load_study(study_name=NAME, storage=open_storage(storage))


def test_killed_worker_trial_is_failed_and_retried(tmp_path: Path) -> None:
    out = tmp_path / "out"
    # Far more trials than can finish before the kill: the run is still going when it comes.
    command = [*RUN, "--trials", "1000", "--epochs", "3", "--train-limit", "512", "--out",
               str(out), "--heartbeat", "1"]  # fmt: skip
    worker = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def one_done_and_next_past_its_first_epoch() -> bool:
        study = load(out)
        if study is None:
            return False
        running = [
            t for t in study.get_trials(states=(TrialState.RUNNING,)) if t.intermediate_values
        ]
        return bool(study.get_trials(states=(TrialState.COMPLETE,))) and bool(running)

    try:
        stop_when(one_done_and_next_past_its_first_epoch, "a trial in mid-training", worker)
    finally:
        worker.kill()  # stopped, and seen in mid-training while stopped
        worker.wait()
    study = load(out)
    assert study is not None
    done = study.get_trials(states=(TrialState.COMPLETE,))
    killed = [t.number for t in study.get_trials(states=(TrialState.RUNNING,))]
    assert len(killed) == 1
    before = {t.number: (t.value, t.user_attrs) for t in done}
    # Restarted with one trial more than had finished: the killed trial's retry is that trial.
    restart = [*command[:-4], "--trials", str(len(done) + 1), "--out", str(out)]
    subprocess.run(restart, check=True, capture_output=True, timeout=600)
    study = load(out)
    assert study is not None
    trials = {t.number: t for t in study.get_trials()}
    for number, (value, attrs) in before.items():  # completed trials are intact
        assert trials[number].state == TrialState.COMPLETE
        assert (trials[number].value, trials[number].user_attrs) == (value, attrs)
    assert trials[killed[0]].state == TrialState.FAIL
    retries = [t for t in trials.values() if t.system_attrs.get("failed_trial") == killed[0]]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == trials[killed[0]].params
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == len(done) + 1


CHILD = Path(__file__).with_name("interrupt_child.py")


def start_child(
    point: str, out: Path, *, sigint: object, wait: float = 60.0
) -> tuple[subprocess.Popen, Path]:
    """A search in a child process that waits at ``point`` (see interrupt_child.py), started with
    SIGINT handled as ``sigint`` however the test suite itself was launched."""
    marker = out.parent / f"{point}.reached"
    command = [sys.executable, str(CHILD), point, str(marker), "--space", "mobilenet-uniform",
               "--min-accuracy", "5", "--rungs", "", "--sampler", "tpe", "--no-progress", "--trials", "2",
               "--epochs", "1", "--train-limit", "128", "--out", str(out)]  # fmt: skip
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "INTERRUPT_CHILD_WAIT": str(wait)},
        preexec_fn=lambda: signal.signal(signal.SIGINT, sigint),  # type: ignore[arg-type]
    )  # fmt: skip
    return child, marker


@pytest.mark.parametrize("point", ["fit", "between", "latency"])
def test_ctrl_c_at_any_point_saves_what_finished_reports_it_and_exits_130(
    point: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    child, marker = start_child(point, out, sigint=signal.SIG_DFL)
    try:
        wait_for(marker.exists, f"the child at {point}", child, seconds=600)
        child.send_signal(signal.SIGINT)
        stdout, stderr = child.communicate(timeout=300)
    finally:
        if child.poll() is None:  # never outlive the test
            child.kill()
            child.wait()
    assert child.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    assert "Interrupted: the finished trials are saved and reported." in stderr
    study = load(out)
    assert study is not None
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    interrupted = [t for t in study.trials if t.user_attrs.get("status") == INTERRUPTED]
    assert [t.number for t in complete] == [0]
    assert [t.number for t in interrupted] == ([] if point == "between" else [1])
    ended = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert finished_count(study) == len(ended) == 1  # the interrupted trial does not count
    assert len((out / "trials.csv").read_text().splitlines()) >= 2
    assert (out / "report.md").is_file() and "Pareto front" in stdout


def test_a_run_started_with_sigint_ignored_ignores_it_throughout(tmp_path: Path) -> None:
    """As Python does: a background job of a shell script starts with SIGINT ignored."""
    out = tmp_path / "out"
    child, marker = start_child("fit", out, sigint=signal.SIG_IGN, wait=5.0)
    try:
        wait_for(marker.exists, "the child in its second fit", child, seconds=600)
        child.send_signal(signal.SIGINT)
        stdout, stderr = child.communicate(timeout=300)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, stderr[-2000:]
    study = load(out)
    assert study is not None
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 2
    assert not [t for t in study.trials if t.user_attrs.get("status") == INTERRUPTED]
