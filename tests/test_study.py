from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import torch

import nsearch
from nsearch import study as study_module
from nsearch.export import export_trial
from nsearch.run import main
from nsearch.study import SearchSettings, run_study, search_score

QUICK = {"trials": 2, "epochs": 1, "train_limit": 384, "min_accuracy": 10.0, "timeout": None}


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("search")
    run_study(SearchSettings(space="mobilenet", **QUICK), out, progress=False)
    return out


def test_search_writes_every_file(searched: Path) -> None:
    for name in ("trials.csv", "pareto.csv", "report.md", "pareto.png", "run.json", "study.db"):
        assert (searched / name).is_file(), name
    assert list((searched / "optuna").glob("*.html"))
    trials = read_csv(searched / "trials.csv")
    assert [t["state"] for t in trials] == ["complete", "complete"]
    for t in trials:
        assert (searched / t["checkpoint"]).is_file()
        assert (searched / "logs" / f"trial_{int(t['trial']):04d}").is_dir()
        assert float(t["netscore"]) == pytest.approx(
            nsearch.netscore(
                float(t["accuracy_percent"]), float(t["params_millions"]), float(t["gmacs"])
            ),
            rel=1e-5,
        )
        assert int(t["epochs_trained"]) == 1 and float(t["train_seconds"]) > 0
    front = read_csv(searched / "pareto.csv")
    assert front and all(0 < float(r["test_accuracy_percent"]) <= 100 for r in front)
    assert "Pareto front" in (searched / "report.md").read_text()


def test_objective_value_is_the_best_epochs_netscore(searched: Path) -> None:
    info = json.loads((searched / "run.json").read_text())
    study = optuna.load_study(study_name=info["study_name"], storage=info["storage"])
    for trial in study.trials:
        a = trial.user_attrs
        assert trial.value == pytest.approx(
            search_score(a["netscore"], a["accuracy_percent"], 10.0)
        )
        assert a["config"] == {"width": trial.params["width"], "depth": trial.params["depth"]}


def test_running_again_resumes(searched: Path) -> None:
    before = read_csv(searched / "trials.csv")
    run_study(SearchSettings(space="mobilenet", **{**QUICK, "trials": 3}), searched, progress=False)
    after = read_csv(searched / "trials.csv")
    assert [r["trial"] for r in after] == ["0", "1", "2"]
    front_columns = {"test_accuracy_percent", "rank", "best_feasible_netscore"}  # may change

    def trial_columns(row: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in row.items() if k not in front_columns}

    assert [trial_columns(r) for r in after[:2]] == [trial_columns(r) for r in before]
    # asked for 3 trials again: nothing new runs
    run_study(SearchSettings(space="mobilenet", **{**QUICK, "trials": 3}), searched, progress=False)
    assert len(read_csv(searched / "trials.csv")) == 3


def test_exported_torchscript_predicts_what_the_trial_model_predicts(
    searched: Path, tmp_path: Path
) -> None:
    files = export_trial(searched, rank=1, dest=tmp_path / "export")
    config = json.loads(files["config"].read_text())
    info = study_module.read_run_file(searched)
    row = next(r for r in read_csv(searched / "pareto.csv") if r["rank"] == "1")
    typed = {k: float(v) for k, v in row.items() if k in ("width", "depth")}
    model = study_module.load_trial_model(searched, {**row, **typed}, info)
    loaded = torch.jit.load(str(files["torchscript"]))
    images = torch.rand(16, *config["input_shape"])
    mean = torch.tensor(info["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(info["std"]).view(1, -1, 1, 1)
    with torch.no_grad():
        expected = model((images * 255 - mean) / std)
        got = loaded(images)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert torch.equal(got.argmax(1), expected.argmax(1))
    assert config["config"] == typed and config["trial"] == int(row["trial"])


def test_exported_model_loads_without_nsearch(searched: Path, tmp_path: Path) -> None:
    files = export_trial(searched, trial=0, dest=tmp_path / "export")
    code = (
        "import sys, torch; sys.modules['nsearch'] = None; "
        f"m = torch.jit.load({str(files['torchscript'])!r}); "
        "print(m(torch.rand(2, 1, 28, 28)).shape)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "torch.Size([2, 10])" in result.stdout


def test_over_budget_candidates_are_never_trained(tmp_path: Path, monkeypatch) -> None:
    def fit(*args: object, **kwargs: object) -> None:
        raise AssertionError("an over-budget candidate was trained")

    monkeypatch.setattr(study_module.pl.Trainer, "fit", fit)
    # The seeded sampler's first two candidates have 0.76 M and 0.87 M params.
    result = run_study(
        SearchSettings(space="mobilenet", **{**QUICK, "max_params": 0.5}), tmp_path, progress=False
    )
    assert [t.state for t in result.study.trials] == [optuna.trial.TrialState.PRUNED] * 2
    for t in result.study.trials:
        assert t.user_attrs["status"].startswith("over budget, not trained: ")
        assert "M params exceed --max-params 0.5 M" in t.user_attrs["status"]
    assert not (tmp_path / "logs").exists() and not (tmp_path / "trials").exists()


def test_pareto_objective_is_three_objectives(tmp_path: Path) -> None:
    result = run_study(
        SearchSettings(space="resnet", objective="pareto", **QUICK), tmp_path, progress=False
    )
    assert len(result.study.directions) == 3
    for t in result.study.trials:
        assert t.values == [
            pytest.approx(t.user_attrs["accuracy_percent"]),
            pytest.approx(t.user_attrs["params_millions"]),
            pytest.approx(t.user_attrs["gmacs"]),
        ]
    assert (tmp_path / "optuna" / "pareto_front.html").is_file()


def test_search_score_penalises_only_below_the_floor() -> None:
    assert search_score(90.0, 88.0, 85.0) == 90.0
    assert search_score(90.0, 80.0, 85.0) == 90.0 - 15.0


def test_pareto_rows_keep_only_non_dominated_complete_trials() -> None:
    base = {"state": "complete", "gmacs": 1.0}
    rows = [
        {**base, "trial": 0, "accuracy_percent": 90.0, "params_millions": 2.0},
        {**base, "trial": 1, "accuracy_percent": 85.0, "params_millions": 1.0},
        {**base, "trial": 2, "accuracy_percent": 84.0, "params_millions": 1.5},
        {**base, "trial": 3, "accuracy_percent": 95.0, "params_millions": 0.5, "state": "pruned"},
    ]
    assert [r["trial"] for r in study_module.pareto_rows(rows)] == [0, 1]


def test_cli_prints_the_front(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--space", "mobilenet", "--trials", "1", "--epochs", "1", "--train-limit", "256",
            "--min-accuracy", "5", "--out", str(tmp_path), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Pareto front of nsearch-mobilenet-embedded-netscore" in printed
    assert "Best feasible NetScore: trial 0" in printed


def test_a_nan_loss_fails_the_trial_with_its_reason_and_the_study_goes_on(tmp_path: Path) -> None:
    result = run_study(SearchSettings(lr=1e30, **QUICK), tmp_path, progress=False)
    states = [t.state for t in result.study.trials]
    assert states == [optuna.trial.TrialState.FAIL] * 2
    for t in result.study.trials:
        assert t.user_attrs["status"] in (
            "failed: The train loss is nan.",
            "failed: The train loss is inf.",
        )
    assert (tmp_path / "report.md").is_file()
