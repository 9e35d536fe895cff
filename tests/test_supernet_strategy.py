"""--strategy supernet: one supernet scores the trials, the front's best few are confirmed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from search_helpers import QUICK_ARGS

from nsearch import export, run
from nsearch.search import SearchSettings, run_study

TINY = {"space": "mobilenet", "strategy": "supernet", "trials": 6, "epochs": 1,
        "train_limit": 300, "min_accuracy": 5.0, "rungs": "", "confirm": 2, "timeout": None}  # fmt: skip


@pytest.fixture(scope="module")
def estimated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("supernet")
    run_study(SearchSettings(**TINY), out, progress=False)
    return out


def test_trials_are_estimates_and_the_front_is_confirmed_by_training(estimated: Path) -> None:
    from nsearch.search import open_run
    from nsearch.search.results import read_records
    from nsearch.search.selection import front

    run = open_run(estimated)
    records = read_records(run.study, estimated)
    estimates = [r for r in records if r.estimate]
    confirmations = [r for r in records if r.confirms is not None]
    # --confirm 2, or fewer where the estimated front has fewer members (its size depends on the
    # supernet's numerics, which differ with the number of torch threads)
    assert len(estimates) == 6 and 1 <= len(confirmations) <= 2
    for r in estimates:
        assert r.epochs_trained == 0 and r.checkpoint is None and r.val_images == 500  # subsample
        assert 0 <= (r.accuracy_percent or 0) <= 100 and r.macs
        assert r.latency_ms is None  # nothing judges it by latency: only what is trained is timed
    by_number = {r.trial: r for r in records}
    for r in confirmations:
        assert r.trained and r.epochs_trained == 1 and r.checkpoint and r.latency_ms
        assert by_number[r.confirms].architecture == r.architecture  # the same network, trained
    assert {r.trial for r in front(records, run.info.settings.selection)} <= {r.trial for r in confirmations}
    assert (estimated / "supernet.pt").is_file()
    report = (estimated / "report.md").read_text()
    assert "Strategy `supernet`: 6 sub-networks" in report and "supernet estimate (%)" in report


def test_export_works_on_a_confirmed_model(estimated: Path, tmp_path: Path) -> None:
    files = export.export_trial(estimated, rank=1, dest=tmp_path, formats=("pt2",))
    assert files.program.is_file()


def test_a_resumed_run_does_not_retrain_the_supernet(
    estimated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from nsearch.training import supernet_training

    out = tmp_path / "copy"
    shutil.copytree(estimated, out)
    digest = hashlib.sha256((out / "supernet.pt").read_bytes()).hexdigest()
    monkeypatch.setattr(supernet_training, "SandwichModule", lambda *a, **k: pytest.fail("retrained"))
    result = run_study(SearchSettings(**{**TINY, "trials": 8}), out, progress=False)
    assert sum(r.estimate for r in result.records) == 8
    assert hashlib.sha256((out / "supernet.pt").read_bytes()).hexdigest() == digest


def test_a_space_without_a_supernet_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*QUICK_ARGS, "--strategy", "supernet", "--out", str(tmp_path / "out")]
    assert run.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "nsearch: error: The space 'mobilenet-uniform' has no weight-sharing supernet; use "
        "--strategy train, or a stage-wise space (mobilenet, resnet)."
    )
    assert not (tmp_path / "out").exists()


def test_estimates_are_timed_only_where_latency_judges_them() -> None:
    from nsearch.search.selection import Budgets, Selection

    assert not Selection().uses_latency
    assert Selection(objective="pareto-latency").uses_latency
    assert Selection(budgets=Budgets(max_latency_ms=5.0)).uses_latency
