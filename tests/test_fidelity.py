"""Issue 25: every accuracy carries its fidelity; selection ranks one fidelity only; the rung
schedule is part of what a study is; the fidelity study writes its interface."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from optuna.trial import TrialState
from search_helpers import QUICK, QUICK_ARGS, fingerprint, read_csv

from nsearch.run import main
from nsearch.search import SearchSettings, run_study
from nsearch.search.promotion import LEFT_WAITING, next_promotion
from nsearch.search.results import TrialRecord
from nsearch.search.selection import Selection, at_top_fidelity, best_feasible, front

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
RUNGS = {**QUICK, "trials": 3, "rungs": "2x768", "promote": 2}


def record(trial: int, accuracy_correct: int, fidelity: str, params: int) -> TrialRecord:
    return TrialRecord(trial=trial, state="complete", architecture={}, params=params,
                       macs=params * 30, val_correct=accuracy_correct, val_images=1000,
                       checkpoint=f"trials/trial_{trial:04d}/best.ckpt",
                       fidelity=fidelity)  # fmt: skip


def test_selection_never_ranks_two_fidelities_together() -> None:
    cheap_and_great = record(0, 990, "1x4000", 10_000)  # at a low fidelity: never ranked
    final = [record(1, 900, "15x16000", 50_000), record(2, 920, "15x16000", 200_000)]
    selection = Selection("netscore", 80.0)
    records = [cheap_and_great, *final]
    assert at_top_fidelity(records) == final
    assert {r.trial for r in front(records, selection)} == {1, 2}
    best = best_feasible(records, selection)
    assert best is not None and best.trial == 1
    # a run of an older nsearch (no fidelity recorded) is ranked as before
    old = [record(3, 900, "", 50_000), record(4, 950, "", 60_000)]
    assert at_top_fidelity(old) == old


def test_promotion_bisects_the_front_for_the_cheapest_network_over_the_floor() -> None:
    # A front of 7 at the first rung, all below a 90 % floor there; at the next rung (each
    # network 8.5 points up, as from 4x4000 to 15xall) members 0-2 miss it and 3-6 clear it.
    below = [record(i, 800 + 5 * i, "4x4000", 10_000 * 2**i) for i in range(7)]
    selection = Selection("netscore", 90.0, floor_confidence="point")

    def promote(count: int) -> list[int]:
        promoted: dict[int, TrialRecord] = {}
        while (chosen := next_promotion(below, promoted, selection, count)) is not None:
            again = record(chosen.trial, 885 + 5 * chosen.trial, "15x16000", chosen.params)
            promoted[chosen.trial] = again
        return list(promoted)

    assert promote(3) == [3, 1, 2]  # middle, cheaper half, crossing found at 3
    assert promote(5) == [3, 1, 2, 4, 5]  # then the crossing's neighbours
    # a member that clears the floor at its own rung bounds the search: nothing dearer is tried
    below[1] = record(1, 905, "4x4000", 20_000)
    assert max(promote(3)) <= 2


def test_promoted_trials_carry_their_fidelity_into_records_csvs_and_report(tmp_path: Path) -> None:
    result = run_study(SearchSettings(**RUNGS), tmp_path, progress=False)

    first = [r for r in result.records if r.promotes is None and r.trained]
    promoted = [r for r in result.records if r.promotes is not None]
    assert first and all(r.fidelity == "1x384" for r in first)
    assert len(promoted) == 2 and all(r.fidelity == "2x768" for r in promoted)
    assert {r.promotes for r in promoted} <= {r.trial for r in first}
    trials = read_csv(tmp_path / "trials.csv")
    assert {row["fidelity"] for row in trials if row["state"] == "complete"} == {"1x384", "2x768"}
    pareto = read_csv(tmp_path / "pareto.csv")
    assert pareto and {row["fidelity"] for row in pareto} == {"2x768"}  # decided at the top
    assert result.best is None or result.best.fidelity == "2x768"
    report = (tmp_path / "report.md").read_text()
    assert "| fidelity |" in report and "2x768" in report

    # resuming trains no promotion again; a changed rung schedule is refused, nothing altered
    again = run_study(SearchSettings(**RUNGS), tmp_path, progress=False)
    assert len([r for r in again.records if r.promotes is not None]) == 2
    before = fingerprint(tmp_path)
    with pytest.raises(ValueError, match="rungs"):
        run_study(SearchSettings(**{**RUNGS, "rungs": "3x768"}), tmp_path, progress=False)
    args = [*QUICK_ARGS, "--trials", "3", "--rungs", "2x768,3x768", "--out", str(tmp_path)]
    assert main(args) == 2
    assert fingerprint(tmp_path) == before


def test_promotion_trains_its_own_choice_not_what_the_first_rung_left_queued(
    tmp_path: Path,
) -> None:
    # cost-tpe queues a 5-network start; a 2-trial first rung leaves 3 of them waiting
    settings = SearchSettings(**{**RUNGS, "sampler": "cost-tpe", "trials": 2, "promote": 1})
    result = run_study(settings, tmp_path, progress=False)
    top = [r for r in result.records if r.fidelity == "2x768"]
    assert len(top) == 1 and top[0].promotes in {r.trial for r in result.records[:2]}
    left = [t for t in result.study.trials if t.user_attrs.get("status") == LEFT_WAITING]
    assert [(t.number, t.state) for t in left] == [(n, TrialState.FAIL) for n in (2, 3, 4)]
    assert [r.trial for r in result.records] == [0, 1, 5]  # the cancelled have no record


def test_a_bad_rung_schedule_is_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--rungs", "15x", "--no-progress"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--rungs" in err and "EPOCHSxIMAGES" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["--rungs", "15xall,2x100", "--no-progress"])  # cheaper than the one before


def test_the_fidelity_study_writes_its_interface_on_a_tiny_run(tmp_path: Path) -> None:
    args = ["--architectures", "5", "--uniform", "1", "--second-seed", "5", "--fidelities",
            "1x200", "--final-epochs", "1", "--train-limit", "300", "--supernet-epochs", "0",
            "--draws", "30", "--threads", "1", "--out", str(tmp_path)]  # fmt: skip
    done = subprocess.run([sys.executable, str(EXPERIMENTS / "fidelity.py"), *args],
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]

    result = json.loads((tmp_path / "fidelity.json").read_text())
    assert result["n_architectures"] == 5 and result["seeds"] == 2
    final = result["final"]
    assert final["epochs"] == 1 and final["train_images"] == 300
    assert set(final["ceiling"]) >= {"kendall_tau", "ci95"}
    assert final["accuracy_spread_points"] >= 0
    (fidelity,) = result["fidelities"]
    assert fidelity["epochs"] == 1 and fidelity["train_images"] == 200
    assert {"kendall_tau", "ci95", "seconds_per_network", "top_k_overlap"} <= set(fidelity)
    assert {"params", "macs", "supernet"} <= set(result["estimators"])
    assert len(result["runs"]) == 5 * (1 + 2)
    # resumable: a second run with the same settings trains nothing more
    done = subprocess.run([sys.executable, str(EXPERIMENTS / "fidelity.py"), *args],
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0
    assert len(json.loads((tmp_path / "fidelity.json").read_text())["runs"]) == 15
