"""Finalize the front: every front model trained properly, one after another, resumable, with
``final_front.csv`` and a section of ``report.md``."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from search_helpers import read_csv, refused

from nsearch import finalize
from nsearch.core.metrics import Measured
from nsearch.deployment import front as front_module
from nsearch.deployment.bundle import Bundle
from nsearch.deployment.description import InputSpec, ModelDescription, TrainingFacts
from nsearch.deployment.front import SECTION, FrontRow, rank_agreement, write_section
from nsearch.search.results import TrialRecord, read_records
from nsearch.search.run_info import open_run
from nsearch.search.selection import Selection

QUICK_FINAL = ["--epochs", "1", "--train-limit", "300", "--formats", "pt2", "--no-progress"]
INTERVALS = ("accuracy_percent", "test_accuracy_percent", "test_ci_low", "test_ci_high",
             "netscore_final_db", "feasible_final", "best_final", "fidelity", "folder")  # fmt: skip


@pytest.fixture
def run_copy(searched: Path, tmp_path: Path) -> Path:
    """A copy of the shared search, which these tests may change."""
    return Path(shutil.copytree(searched, tmp_path / "run"))


def test_front_is_trained_tested_and_tabled_then_read_back(
    run_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert finalize.main(["--out", str(run_copy), "--front", "--top", "1", *QUICK_FINAL]) == 0
    rows = read_csv(run_copy / "final_front.csv")
    assert len(rows) == 1 and rows[0]["rank"] == "1" and rows[0]["read_back"] == "False"
    row = rows[0]
    assert all(row[name] != "" for name in INTERVALS)
    config = run_copy / "final" / f"trial_{int(row['trial']):04d}" / "config.json"
    written = json.loads(config.read_text())
    assert float(row["test_accuracy_percent"]) == pytest.approx(written["test_accuracy_percent"])
    assert float(row["test_ci_low"]) <= float(row["test_accuracy_percent"]) <= float(
        row["test_ci_high"])  # fmt: skip
    report = (run_copy / "report.md").read_text()
    assert report.count(SECTION) == 1 and "## Pareto front" in report
    assert "needs at least 5 models, got 1" in report
    # Run again: the finished model is read back, not trained again.
    before = config.stat().st_mtime_ns
    assert finalize.main(["--out", str(run_copy), "--front", "--top", "1", *QUICK_FINAL]) == 0
    assert config.stat().st_mtime_ns == before and "(read back)" in capsys.readouterr().out
    again = read_csv(run_copy / "final_front.csv")
    assert again[0]["read_back"] == "True" and again[0]["test_ci_low"] == row["test_ci_low"]
    assert (run_copy / "report.md").read_text().count(SECTION) == 1


def _fake_finalize(calls: list[int], stop_at: int | None = None) -> Any:
    """A stand-in for the final training that writes a finished bundle's files, as
    ``config.json`` has them, in no time; Ctrl-C (KeyboardInterrupt) on trial ``stop_at``."""

    def train(out: Path, *, trial: int, epochs: int, dest: Path, **_: Any) -> Bundle:
        if trial == stop_at:
            (dest / "logs").mkdir(parents=True)  # stopped while training: no config.json yet
            raise KeyboardInterrupt
        calls.append(trial)
        description = ModelDescription(
            "mobilenet-uniform", {}, "", trial, "trained", InputSpec((1, 28, 28), (0.5,), (0.25,)),
            ("0", "1"), 1000, 10**6, Measured(4000 + 100 * trial, 5000),
            training=TrainingFacts("embedded", 300, epochs, 64, 0.1, 0, 1.0, "recipe"),
        )  # fmt: skip
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "config.json").write_text(json.dumps(description.config()))
        (dest / "weights.pt").write_bytes(b"")
        (dest / "MODEL_CARD.md").write_text("card")
        return Bundle(dest, {}, description)

    return train


def _both_trained(records: Sequence[TrialRecord], selection: Selection) -> list[TrialRecord]:
    """A front of both of the shared search's trials (its real front has one)."""
    return sorted((r for r in records if r.trained), key=lambda r: -(r.accuracy_percent or 0))


def test_an_interrupted_front_trains_only_what_is_missing(
    run_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(front_module, "front", _both_trained)
    records = read_records(open_run(run_copy).study, run_copy)
    first, second = (r.trial for r in _both_trained(records, Selection()))
    calls: list[int] = []
    argv = ["--out", str(run_copy), "--front", "--top", "2", *QUICK_FINAL]
    # Ctrl-C while the second model trains: the first is kept, and no table is written.
    monkeypatch.setattr(front_module, "finalize", _fake_finalize(calls, stop_at=second))
    assert finalize.main(argv) == 130 and calls == [first]
    assert "same command trains only the rest" in capsys.readouterr().err
    assert not (run_copy / "final_front.csv").exists()
    # Run again: only the second model trains; the table has both, with their intervals.
    monkeypatch.setattr(front_module, "finalize", _fake_finalize(calls))
    assert finalize.main(argv) == 0 and calls == [first, second]
    rows = read_csv(run_copy / "final_front.csv")
    assert [(r["rank"], r["trial"], r["read_back"]) for r in rows] == [
        ("1", str(first), "True"), ("2", str(second), "False")]  # fmt: skip
    for row in rows:
        test = Measured(4000 + 100 * int(row["trial"]), 5000)
        assert float(row["test_accuracy_percent"]) == pytest.approx(test.percent)
        assert (float(row["test_ci_low"]), float(row["test_ci_high"])) == pytest.approx(
            test.interval)  # fmt: skip
    # The better model at its final accuracy is the best feasible one (10 % floor).
    assert sum(r["best_final"] == "True" for r in rows) == 1
    report = (run_copy / "report.md").read_text()
    assert report.count(SECTION) == 1 and "needs at least 5 models, got 2" in report
    # Everything finished: a third run trains nothing.
    assert finalize.main(argv) == 0 and calls == [first, second]


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--front", "--rank", "1"], r"argument --rank: not allowed with argument --front"),
        (["--front", "--trial", "0"], r"argument --trial: not allowed with argument --front"),
        (["--rank", "1", "--top", "2"], r"argument --top: only goes with --front\."),
        (["--front", "--top", "0"], r"argument --top: must be at least 1, got 0"),
        (["--front", "--dest", "x"], r"argument --dest: not allowed with --front"),
    ],
)
def test_front_with_a_trial_choice_is_one_sentence(
    searched: Path, argv: list[str], match: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert re.search(match, refused(finalize.main, ["--out", str(searched), *argv], capsys))


def test_the_report_section_replaces_its_old_self_and_states_kendall_tau(tmp_path: Path) -> None:
    tests = [880, 870, 850, 860, 840, 830]  # the third and fourth swap places
    rows = [FrontRow(i + 1, i, "1x384", Measured(900 - 10 * i, 1000), 1000, 10**6,
                     Measured(correct, 1000), tmp_path)
            for i, correct in enumerate(tests)]  # fmt: skip
    assert re.fullmatch(r"Kendall's tau 0\.87 \(95 % interval -?\d\.\d\d to \d\.\d\d, "
                        r"6 models\)\.", rank_agreement(rows))  # fmt: skip
    assert rank_agreement(rows[:4]) == "Kendall's tau: needs at least 5 models, got 4."
    report = tmp_path / "report.md"
    report.write_text("# Run\n\n## Pareto front\n\ntable\n\n## Later\n\ntext\n")
    write_section(report, f"{SECTION}\n\nold")
    write_section(report, f"{SECTION}\n\nnew")
    text = report.read_text()
    assert text.endswith(f"## Later\n\ntext\n\n{SECTION}\n\nnew\n") and "old" not in text
    report.write_text(f"# Run\n\n{SECTION}\n\nx\n\n## Later\n\ntext\n")
    write_section(report, f"{SECTION}\n\nnew")
    assert report.read_text() == f"# Run\n\n{SECTION}\n\nnew\n\n## Later\n\ntext\n"
