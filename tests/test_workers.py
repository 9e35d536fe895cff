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
from optuna.trial import TrialState

from nsearch.storage import open_storage
from nsearch.study import SearchSettings, run_study

QUICK = {"epochs": 1, "train_limit": 128, "min_accuracy": 5.0, "timeout": None}
POSTGRES_URL = os.environ.get("NSEARCH_TEST_POSTGRES_URL")


def assert_exactly(study: optuna.Study, n: int) -> None:
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == n
    assert len({t.number for t in complete}) == n
    assert len({t._trial_id for t in complete}) == n
    workers = {t.user_attrs["worker"] for t in complete}
    assert len(workers) == 2, workers  # both workers did some of the work


def test_two_workers_share_a_journal_study(tmp_path: Path) -> None:
    result = run_study(SearchSettings(trials=4, workers=2, **QUICK), tmp_path, progress=False)
    assert (tmp_path / "study.journal").is_file()
    assert_exactly(result.study, 4)
    assert len(result.rows) == 4


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
    command = [sys.executable, "-m", "nsearch.run", "--storage", POSTGRES_URL, "--study-name",
               name, "--trials", "5", "--epochs", "1", "--train-limit", "128",
               "--min-accuracy", "5", "--out", str(tmp_path / "other"), "--no-progress"]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    study = optuna.load_study(study_name=name, storage=POSTGRES_URL)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 5
    # its report covers the whole study; checkpoints trained elsewhere are named, not tested
    other = tmp_path / "other"
    assert len((other / "trials.csv").read_text().splitlines()) == 1 + 5
    with open(other / "pareto.csv") as f:
        for row in csv.DictReader(f):
            assert bool(row["test_accuracy_percent"]) == (other / row["checkpoint"]).is_file()


def test_killed_worker_trial_is_failed_and_retried(tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "nsearch.run", "--trials", "3", "--epochs", "3",
               "--train-limit", "512", "--min-accuracy", "5", "--out", str(out),
               "--no-progress", "--heartbeat", "1"]  # fmt: skip
    worker = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    storage = f"sqlite:///{(out / 'study.db').resolve()}"
    name = "nsearch-mobilenet-embedded-netscore"
    deadline = time.monotonic() + 240
    killed = None
    while time.monotonic() < deadline and killed is None:
        time.sleep(0.5)
        if not (out / "run.json").exists():  # the study's tables exist once run.json is written
            continue
        try:
            study = optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            continue
        done = study.get_trials(states=(TrialState.COMPLETE,))
        running = [
            t for t in study.get_trials(states=(TrialState.RUNNING,)) if t.intermediate_values
        ]
        if done and running:  # one trial done, the next one past its first epoch
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            killed = running[0].number
            before = {t.number: (t.value, t.user_attrs) for t in done}
    assert killed is not None, "the worker never reached the middle of its second trial"

    subprocess.run(command, check=True, capture_output=True, timeout=300)
    study = optuna.load_study(study_name=name, storage=open_storage(storage))
    trials = {t.number: t for t in study.get_trials()}
    for number, (value, attrs) in before.items():  # completed trials are intact
        assert trials[number].state == TrialState.COMPLETE
        assert (trials[number].value, trials[number].user_attrs) == (value, attrs)
    assert trials[killed].state == TrialState.FAIL
    retries = [t for t in trials.values() if t.system_attrs.get("failed_trial") == killed]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == trials[killed].params
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 3


def test_ctrl_c_saves_what_finished_reports_it_and_exits_130(tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "nsearch.run", "--trials", "5", "--epochs", "3",
               "--train-limit", "512", "--min-accuracy", "5", "--out", str(out), "--no-progress"]  # fmt: skip
    worker = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    storage = f"sqlite:///{(out / 'study.db').resolve()}"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if not (out / "run.json").exists():  # the study's tables exist once run.json is written
            continue
        try:
            study = optuna.load_study(
                study_name="nsearch-mobilenet-embedded-netscore", storage=storage
            )
        except Exception:
            continue
        running = [
            t for t in study.get_trials(states=(TrialState.RUNNING,)) if t.intermediate_values
        ]
        if study.get_trials(states=(TrialState.COMPLETE,)) and running:
            break
    worker.send_signal(signal.SIGINT)
    stdout, stderr = worker.communicate(timeout=120)
    assert worker.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    assert "Interrupted: the finished trials are saved and reported." in stderr
    study = optuna.load_study(study_name="nsearch-mobilenet-embedded-netscore", storage=storage)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert complete and len(complete) < 5
    rows = (out / "trials.csv").read_text().splitlines()
    assert len(rows) >= 1 + len(complete)
    assert (out / "report.md").is_file() and "Pareto front" in stdout
