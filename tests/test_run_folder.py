"""A run's folder and its study: resumed only with the same training settings, movable, its
study name remembered, and opened the one way by every entry point."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from search_helpers import QUICK, QUICK_ARGS, fingerprint, read_csv

from nsearch import export, run
from nsearch.search import SearchSettings, open_run, run_study
from nsearch.search.results import finished_count


@pytest.fixture
def copy(searched: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(searched, out)
    return out


def test_other_training_settings_are_refused_naming_each_change(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = fingerprint(copy)
    argv = [*QUICK_ARGS, "--out", str(copy), "--epochs", "2", "--seed", "1", "--lr", "0.3"]
    assert run.main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "Traceback" not in error
    for change in ("--epochs 1 -> 2", "--seed 0 -> 1", "--lr None -> 0.3"):
        assert change in error
    assert "new --out" in error
    assert fingerprint(copy) == before


@pytest.mark.parametrize(
    ("argv", "change"),
    [
        (["--space", "resnet-uniform"], "--space mobilenet-uniform -> resnet-uniform"),
        (["--data", "fashion-mnist"], "--data embedded -> fashion-mnist"),
        (["--train-limit", "256"], "--train-limit 384 -> 256"),
        (["--batch-size", "64"], "--batch-size 128 -> 64"),
        (["--objective", "pareto"], "--objective netscore -> pareto"),
        # the floor is in every finished trial's value or constraint, which Optuna cannot change
        (["--min-accuracy", "99"], "--min-accuracy 10.0 -> 99.0"),
        (["--floor-confidence", "point"], "--floor-confidence confident -> point"),
        (["--floor-mode", "constraint"], "--floor-mode penalty -> constraint"),
    ],
)
def test_each_training_setting_is_checked(
    copy: Path, argv: list[str], change: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run.main([*QUICK_ARGS, "--out", str(copy), *argv]) == 2
    assert change in capsys.readouterr().err


def test_trials_timeout_and_budgets_may_change_and_budgets_are_reapplied(copy: Path) -> None:
    result = run_study(SearchSettings(**{**QUICK, "timeout": 60.0}), copy, progress=False)
    assert len(result.records) == 2
    assert json.loads((copy / "run.json").read_text())["settings"]["timeout"] == 60.0
    # A budget that only the smaller trial meets: the front and the best follow it.
    smaller = min(result.records, key=lambda r: r.params or 0)
    budget = (smaller.params or 0) / 1e6 + 1e-6
    assert [r["over_budget"] for r in read_csv(copy / "trials.csv")] == ["", ""]
    result = run_study(SearchSettings(**{**QUICK, "max_params": budget}), copy, progress=False)
    assert result.best is not None and result.best.trial == smaller.trial
    assert [r.trial for r in result.front] == [smaller.trial]
    # trials.csv marks the trial over the budget added now, as the front leaves it out.
    larger = next(r for r in result.records if r.trial != smaller.trial)
    over = {int(r["trial"]): r["over_budget"] for r in read_csv(copy / "trials.csv")}
    assert over == {smaller.trial: "", larger.trial: f"{(larger.params or 0) / 1e6:.3f} M "
                    f"params exceed --max-params {budget:g} M"}  # fmt: skip


def test_a_moved_folder_resumes_and_exports_on_its_own_study(
    searched: Path, tmp_path: Path
) -> None:
    original = tmp_path / "original"
    shutil.copytree(searched, original)
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    shutil.copytree(original, moved)
    before = fingerprint(original)
    files = export.export_trial(moved, rank=1, dest=tmp_path / "export", formats=("pt2",))
    assert files.config.is_file()
    run_study(SearchSettings(**{**QUICK, "trials": 3}), moved, progress=False)
    assert finished_count(open_run(moved).study) == 3
    assert finished_count(open_run(original).study) == 2
    assert fingerprint(original) == before  # the copy wrote nothing into the original
    shutil.rmtree(original)
    assert export.main(["--out", str(moved), "--rank", "1", "--dest", str(tmp_path / "e2"),
                        "--formats", "pt2"]) == 0


def test_the_study_name_is_remembered(tmp_path: Path) -> None:
    argv = [*QUICK_ARGS, "--trials", "1", "--train-limit", "256", "--out", str(tmp_path)]
    assert run.main([*argv, "--study-name", "edge-v1"]) == 0
    assert run.main([*argv[:-2], "--trials", "2", "--out", str(tmp_path)]) == 0  # no --study-name
    assert json.loads((tmp_path / "run.json").read_text())["study_name"] == "edge-v1"
    trials = read_csv(tmp_path / "trials.csv")
    assert [r["trial"] for r in trials] == ["0", "1"]  # the same study, continued


def test_another_study_name_for_the_same_folder_is_refused(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run.main([*QUICK_ARGS, "--out", str(copy), "--study-name", "other"]) == 2
    assert "holds the study 'nsearch-mobilenet-uniform-embedded-netscore', not 'other'" in (
        capsys.readouterr().err
    )
