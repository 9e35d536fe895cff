"""The search end to end: files, records, the objective's values, resume, budgets, objectives."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from search_helpers import QUICK, QUICK_ARGS, read_csv

import nsearch
from nsearch.core.metrics import Measured
from nsearch.run import main
from nsearch.search import SearchSettings, objectives, open_run, run_study
from nsearch.search.objectives import FLOOR_MODES, Epoch, Scoring, floor_penalised
from nsearch.search.results import read_records


def test_search_writes_every_file_with_intervals(searched: Path) -> None:
    for name in ("trials.csv", "pareto.csv", "report.md", "pareto.png", "run.json", "study.db"):
        assert (searched / name).is_file(), name
    assert list((searched / "optuna").glob("*.html"))
    trials = read_csv(searched / "trials.csv")
    assert [t["state"] for t in trials] == ["complete", "complete"]
    for t in trials:
        assert (searched / t["checkpoint"]).is_file()
        assert (searched / "logs" / f"trial_{int(t['trial']):04d}" / "metrics.csv").is_file()
        accuracy = float(t["accuracy_percent"])
        assert int(t["val_images"]) == 4000
        assert accuracy == pytest.approx(100 * int(t["val_correct"]) / 4000)
        low, high = nsearch.wilson_interval(int(t["val_correct"]), 4000)
        assert (float(t["accuracy_ci_low"]), float(t["accuracy_ci_high"])) == pytest.approx(
            (low, high)
        )
        assert float(t["netscore"]) == pytest.approx(
            nsearch.netscore(accuracy, float(t["params_millions"]), float(t["gmacs"])), rel=1e-6
        )
        assert int(t["epochs_trained"]) == 1 and float(t["train_seconds"]) > 0
        assert t["width"] and t["depth"]  # the architecture's parameters, one column each
    front = read_csv(searched / "pareto.csv")
    assert front and [r["rank"] for r in front] == [str(i + 1) for i in range(len(front))]
    for row in front:
        assert 0 < float(row["test_accuracy_percent"]) <= 100
        assert int(row["test_images"]) == 5000
        assert float(row["test_ci_low"]) < float(row["test_accuracy_percent"])
    report = (searched / "report.md").read_text()
    assert "Pareto front" in report and "Wilson 95 % interval on 4,000 validation images" in report


def test_the_value_is_the_best_epochs_netscore_less_the_floors_penalty(searched: Path) -> None:
    run = open_run(searched)
    for trial, record in zip(run.study.trials, read_records(run.study)):
        assert record.netscore is not None and record.accuracy_ci_low is not None
        # the default --floor-mode penalty: 3 dB a point below the floor, none above it
        penalised = floor_penalised(record.netscore, record.accuracy_percent, QUICK["min_accuracy"])
        assert trial.value == pytest.approx(penalised) == pytest.approx(record.netscore)
        assert not trial.constraints  # the floor is in the value, not in a constraint
        assert record.architecture == trial.params


def test_the_floor_reaches_the_sampler_as_a_penalty_or_as_a_constraint() -> None:
    below = Measured(3120, 4000)  # 78 %, interval 76.7-79.3 %, under an 80 % floor
    epoch = Epoch(below.percent, 0.5, 0.01)
    netscore = objectives.get("netscore").score(epoch)
    penalty = Scoring(objectives.get("netscore"), 80.0, "penalty")
    assert penalty.values(epoch) == pytest.approx((netscore - 3 * 2.0,))
    assert penalty.epoch_score(epoch) == pytest.approx(netscore - 6.0)  # what the pruner sees
    assert penalty.constraint(below) is None
    constraint = Scoring(objectives.get("netscore"), 80.0, "constraint")
    assert constraint.values(epoch) == pytest.approx((netscore,))  # the objective's own
    assert constraint.constraint(below) == pytest.approx(80.0 - below.interval[0])
    point = Scoring(objectives.get("netscore"), 80.0, "constraint", floor_confidence="point")
    assert point.constraint(below) == pytest.approx(2.0)
    for mode in FLOOR_MODES:  # nothing to penalise in a Pareto objective: a constraint in both
        pareto = Scoring(objectives.get("pareto"), 80.0, mode)
        assert pareto.values(epoch) == pytest.approx((78.0, 0.5, 0.01))
        assert pareto.constraint(below) == pytest.approx(80.0 - below.interval[0])


def test_running_again_resumes(searched: Path, tmp_path: Path) -> None:
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(searched, out)
    before = read_csv(out / "trials.csv")
    run_study(SearchSettings(**{**QUICK, "trials": 3}), out, progress=False)
    after = read_csv(out / "trials.csv")
    assert [r["trial"] for r in after] == ["0", "1", "2"]
    keep = ("trial", "state", "val_correct", "params", "macs", "checkpoint", "width", "depth")
    assert [{k: r[k] for k in keep} for r in after[:2]] == [{k: r[k] for k in keep} for r in before]
    run_study(SearchSettings(**{**QUICK, "trials": 3}), out, progress=False)  # nothing new runs
    assert len(read_csv(out / "trials.csv")) == 3


def test_over_budget_candidates_are_never_trained(tmp_path: Path, monkeypatch) -> None:
    from nsearch.search import trial

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("an over-budget candidate was trained")

    monkeypatch.setattr(trial, "train", fail)
    # The seeded sampler's first two candidates have 0.76 M and 0.87 M params.
    result = run_study(SearchSettings(**{**QUICK, "max_params": 0.5}), tmp_path, progress=False)
    assert [t.state for t in result.study.trials] == [optuna.trial.TrialState.PRUNED] * 2
    for record in result.records:
        assert record.status.startswith("over budget, not trained: ")
        assert "M params exceed --max-params 0.5 M" in record.status
    assert not (tmp_path / "logs").exists() and not (tmp_path / "trials").exists()


def test_pareto_objective_is_three_objectives(tmp_path: Path) -> None:
    settings = SearchSettings(**{**QUICK, "space": "resnet-uniform", "objective": "pareto"})
    result = run_study(settings, tmp_path, progress=False)
    assert len(result.study.directions) == 3
    for trial, record in zip(result.study.trials, result.records):
        assert trial.values == pytest.approx(
            [record.accuracy_percent, record.params_millions, record.gmacs]
        )
        assert record.accuracy_ci_low is not None  # the floor, as a constraint in every mode
        assert trial.constraints == {
            "accuracy_floor": pytest.approx(QUICK["min_accuracy"] - record.accuracy_ci_low)
        }
    assert (tmp_path / "optuna" / "pareto_front.html").is_file()


def test_cli_prints_the_front(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*QUICK_ARGS, "--trials", "1", "--train-limit", "256", "--out", str(tmp_path)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Pareto front of nsearch-mobilenet-uniform-embedded-netscore" in printed
    assert "Best feasible NetScore: trial 0" in printed


def test_a_nan_loss_fails_the_trial_with_its_reason_and_the_study_goes_on(tmp_path: Path) -> None:
    result = run_study(SearchSettings(**{**QUICK, "lr": 1e30}), tmp_path, progress=False)
    assert [t.state for t in result.study.trials] == [optuna.trial.TrialState.FAIL] * 2
    for record in result.records:
        assert record.status in ("failed: The train loss is nan.", "failed: The train loss is inf.")
    assert (tmp_path / "report.md").is_file()


def test_latency_is_measured_for_every_trial(searched: Path) -> None:
    for t in read_csv(searched / "trials.csv"):
        assert 0 < float(t["latency_ms"]) <= float(t["latency_p90_ms"])
        assert float(t["netscore_latency"]) == pytest.approx(
            nsearch.netscore_latency(
                float(t["accuracy_percent"]), float(t["params_millions"]), float(t["latency_ms"])
            ),
            rel=1e-6,
        )


class FakeLatency:
    """A latency of 1 ms per MMAC: deterministic, so budgets can be tested on any machine."""

    def __init__(self, median_ms: float) -> None:
        self.median_ms = self.p90_ms = median_ms


def fake_latency(model, shape, **kwargs) -> FakeLatency:  # type: ignore[no-untyped-def]
    return FakeLatency(nsearch.count_complexity(model, shape).macs / 1e6)


def test_latency_budget_is_checked_before_training(tmp_path: Path, monkeypatch) -> None:
    from nsearch.search import trial

    monkeypatch.setattr(trial, "measure_latency", fake_latency)
    monkeypatch.setattr(trial, "train", lambda *a, **k: pytest.fail("trained over budget"))
    # The seeded sampler's first two candidates need 15.4 and 17.2 MMACs: 15.4 and 17.2 "ms".
    result = run_study(SearchSettings(**{**QUICK, "max_latency_ms": 10.0}), tmp_path,
                       progress=False)  # fmt: skip
    assert [r.state for r in result.records] == ["pruned", "pruned"]
    assert all("ms exceed --max-latency-ms 10 ms" in r.status for r in result.records)
    with pytest.raises(ValueError, match=r"even the smallest has .* ms exceed --max-latency-ms"):
        run_study(SearchSettings(**{**QUICK, "max_latency_ms": 0.01}), tmp_path / "none",
                  progress=False)  # fmt: skip


@pytest.mark.parametrize("objective", ["netscore-latency", "pareto-latency"])
def test_latency_objectives_score_and_draw_the_front_with_latency(
    objective: str, tmp_path: Path, monkeypatch
) -> None:
    from nsearch.search import trial

    monkeypatch.setattr(trial, "measure_latency", fake_latency)
    settings = SearchSettings(**{**QUICK, "objective": objective})
    result = run_study(settings, tmp_path, progress=False)
    for frozen, record in zip(result.study.trials, result.records):
        assert record.latency_ms == pytest.approx((record.macs or 0) / 1e6, rel=1e-4)
        if objective == "netscore-latency":
            assert frozen.value == pytest.approx(record.netscore_latency)
        else:
            assert frozen.values == pytest.approx(
                [record.accuracy_percent, record.params_millions, record.latency_ms]
            )
    assert "## Pareto front (accuracy vs params vs latency)" in (tmp_path / "report.md").read_text()


def test_an_epoch_budget_stops_the_search(tmp_path: Path) -> None:
    settings = SearchSettings(**{**QUICK, "trials": 10, "epoch_budget": 2, "sampler": "random"})
    result = run_study(settings, tmp_path, progress=False)
    assert len(result.records) == 2 and sum(r.epochs_trained for r in result.records) == 2


def test_cost_tpe_starts_with_networks_spread_over_the_cost_range() -> None:
    from nsearch.search.startup import stratified_start
    from nsearch.search_spaces import get_space

    space = get_space("mobilenet")
    args = {"in_channels": 1, "num_classes": 10, "input_size": 28}
    start = stratified_start(space, 5, seed=0, build_args=args)
    assert start[0] == space.params_of(space.smallest) and len(start) == 5
    sizes = [nsearch.count_params(space.build(space.config_from_params(p), **args)) for p in start]
    assert sizes == sorted(sizes) and sizes[-1] > 4 * sizes[0]  # cheapest first, a wide range
    assert stratified_start(space, 5, seed=0, build_args=args) == start  # seeded
    assert stratified_start(get_space("mobilenet-uniform"), 3, seed=0, build_args=args)


def test_a_cost_tpe_study_runs_its_cost_spread_start_first(tmp_path: Path) -> None:
    from nsearch.search_spaces import get_space

    settings = SearchSettings(**{**QUICK, "space": "mobilenet", "sampler": "cost-tpe"})
    result = run_study(settings, tmp_path, progress=False)
    space = get_space("mobilenet")
    assert result.records[0].architecture == space.params_of(space.smallest)
    assert len(result.study.get_trials(states=(optuna.trial.TrialState.WAITING,))) == 3
