"""One trial: any number of optimiser steps, one value decides the best epoch, a trial that
trained every epoch is complete, and an interrupted trial does not count."""

from __future__ import annotations

import csv
import os
import signal
from pathlib import Path

import optuna
import pytest
import pytorch_lightning as pl
import torch
from search_helpers import QUICK, QUICK_ARGS

from nsearch import run
from nsearch.search import SearchSettings, objectives, run_study, study, trial
from nsearch.search.results import INTERRUPTED, finished_count
from nsearch.training.lightning import interrupts_as_keyboard_interrupt
from nsearch.training.schedule import warmup_cosine


@pytest.mark.parametrize("total", range(1, 12))
def test_the_schedule_is_defined_for_any_number_of_steps(total: int) -> None:
    factors = [warmup_cosine(step, total) for step in range(total)]
    assert all(0.0 <= f <= 1.0 for f in factors) and max(factors) == 1.0


@pytest.mark.parametrize(("epochs", "train_limit"), [("1", "500"), ("2", "256")])
def test_four_optimiser_steps_train(
    epochs: str, train_limit: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 500 images at batch 128 (or 256 over two epochs) make exactly 4 optimiser steps.
    argv = [*QUICK_ARGS, "--trials", "1", "--epochs", epochs, "--train-limit", train_limit,
            "--out", str(tmp_path)]  # fmt: skip
    assert run.main(argv) == 0, capsys.readouterr().err
    assert (tmp_path / "report.md").is_file()


def test_one_value_decides_the_best_epoch_checkpoint_reports_and_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An objective that prefers the first epoch, whatever the accuracy: everything must follow it.
    prefers_first = objectives.Objective(
        name="netscore", directions=("maximize",), metric_names=("score",), prunes=True,
        score=lambda epoch: -float(len(scores)) if scores.append(1) is None else 0.0,
        values=lambda epoch: (0.0,), cost_axis="gmacs", rank_by="netscore", description="",
    )  # fmt: skip
    scores: list[int] = []
    monkeypatch.setitem(objectives.OBJECTIVES, "netscore", prefers_first)
    monkeypatch.setattr(study, "make_pruner", lambda name, prunes: optuna.pruners.NopPruner())
    result = run_study(SearchSettings(**{**QUICK, "trials": 1, "epochs": 3}), tmp_path,
                       progress=False)  # fmt: skip
    record = result.records[0]
    frozen = result.study.trials[0]
    assert record.best_epoch == 0
    assert frozen.intermediate_values == {0: -1.0, 1: -2.0, 2: -3.0}  # what pruning saw
    state = torch.load(tmp_path / record.checkpoint, map_location="cpu", weights_only=False)
    assert state["epoch"] == 0  # the checkpoint is the first epoch's
    with open(tmp_path / "logs" / "trial_0000" / "metrics.csv") as f:
        logged = [float(r["search_score"]) for r in csv.DictReader(f) if r.get("search_score")]
    assert logged == [-1.0, -2.0, -3.0]


def test_a_trial_stopped_after_its_last_epoch_is_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This pruner stops every trial once its last epoch (step 1 of 2) is reported.
    last = optuna.pruners.ThresholdPruner(lower=1e9, n_warmup_steps=1)
    monkeypatch.setattr(study, "make_pruner", lambda name, prunes: last)
    result = run_study(SearchSettings(**{**QUICK, "trials": 1, "epochs": 2}), tmp_path,
                       progress=False)  # fmt: skip
    assert result.records[0].state == "complete" and result.records[0].epochs_trained == 2
    assert [r.trial for r in result.front] == [0] and result.best is not None


def test_a_trial_stopped_before_its_last_epoch_is_pruned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = optuna.pruners.ThresholdPruner(lower=1e9, n_warmup_steps=0)
    monkeypatch.setattr(study, "make_pruner", lambda name, prunes: first)
    result = run_study(SearchSettings(**{**QUICK, "trials": 1, "epochs": 2}), tmp_path,
                       progress=False)  # fmt: skip
    assert result.records[0].state == "pruned" and result.records[0].epochs_trained == 1
    assert result.records[0].status == "pruned after epoch 0" and result.front == []


def test_an_interrupted_trial_does_not_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train = trial.train

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(trial, "train", interrupted)
    result = run_study(SearchSettings(**{**QUICK, "trials": 1}), tmp_path, progress=False)
    assert result.interrupted
    assert [r.status for r in result.records] == [INTERRUPTED]
    assert finished_count(result.study) == 0
    monkeypatch.setattr(trial, "train", train)
    result = run_study(SearchSettings(**{**QUICK, "trials": 1}), tmp_path, progress=False)
    assert [r.state for r in result.records] == ["fail", "complete"]  # one trial was trained


def test_ctrl_c_during_lightning_fit_is_a_keyboard_interrupt() -> None:
    """Lightning turns Ctrl-C into ``exit(1)`` after restoring the SIGINT handler it found; the
    search still sees a KeyboardInterrupt, and its own SIGINT handler is back afterwards."""

    class Interrupt(pl.Callback):
        def on_train_batch_start(self, *args: object) -> None:
            os.kill(os.getpid(), signal.SIGINT)

    class Tiny(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch: list[torch.Tensor], _: int) -> torch.Tensor:
            return self.layer(batch[0]).sum()

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(4, 2)))
    trainer = pl.Trainer(max_epochs=1, callbacks=[Interrupt()], logger=False,
                         enable_checkpointing=False, enable_progress_bar=False)  # fmt: skip
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), interrupts_as_keyboard_interrupt():
        trainer.fit(Tiny(), data)
    assert signal.getsignal(signal.SIGINT) is before
