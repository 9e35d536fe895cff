"""Training one candidate with Lightning: the callbacks, the checkpoint of its best epoch, and what
each validation epoch measured.

One number decides everything about epochs: the objective's ``epoch_score``, logged as
``search_score``. The checkpoint keeps the epoch of the highest score, pruning reports it, and the
trial's result is that epoch's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import signal
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import optuna
import pytorch_lightning as pl
import torch

from nsearch.callbacks import NetScoreCallback, OptunaPruning
from nsearch.classifier import Classifier
from nsearch.data import ImageDataModule
from nsearch.search.objectives import Epoch, Objective
from nsearch.search.settings import SearchSettings

__all__ = [
    "SCORE",
    "EpochResult",
    "TrainingOutcome",
    "interrupts_as_keyboard_interrupt",
    "quiet_lightning",
    "train",
]

SCORE = "search_score"


@dataclass(frozen=True)
class EpochResult:
    """One validation epoch: its index, correct predictions of how many, and its score."""

    epoch: int
    val_correct: int
    val_images: int
    score: float


@dataclass(frozen=True)
class TrainingOutcome:
    """What a fit left: every validation epoch, the best epoch's checkpoint, the time it took,
    whether the pruner stopped it before its last epoch, and why it failed (a NaN loss), if it
    did."""

    epochs: list[EpochResult]
    checkpoint: Path | None
    seconds: float
    pruned: bool = False
    failure: str | None = None

    @property
    def best(self) -> EpochResult | None:
        return max(self.epochs, key=lambda e: e.score, default=None)


@dataclass
class _ScoreEpochs(pl.Callback):
    """Logs the objective's score of each validation epoch and keeps every epoch's result."""

    objective: Objective
    min_accuracy: float
    cost: Epoch  # the network's params, MACs and latency (its accuracy is filled per epoch)
    val_images: int
    epochs: list[EpochResult] = field(default_factory=list)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        accuracy = float(trainer.callback_metrics["val_acc"])
        correct = round(accuracy * self.val_images)
        epoch = dataclasses.replace(self.cost, accuracy_percent=100.0 * correct / self.val_images)
        score = self.objective.epoch_score(epoch, self.min_accuracy)
        pl_module.log(SCORE, score, on_epoch=True)
        self.epochs.append(EpochResult(trainer.current_epoch, correct, self.val_images, score))


@contextlib.contextmanager
def interrupts_as_keyboard_interrupt() -> Iterator[None]:
    """Lightning answers Ctrl-C with a graceful shutdown, then ``exit(1)``; turn that back into the
    KeyboardInterrupt that Optuna and nsearch's callers expect.

    A SIGINT handler notes that Ctrl-C came, because by the time ``exit(1)`` arrives Lightning's
    teardown has restored whatever SIGINT handler it found, so the handler alone tells an
    interrupt from a genuine exit. Off the main thread (where handlers cannot be set) Lightning's
    own sign, SIGINT left ignored, is the fallback.
    """
    interrupted = False
    previous = signal.getsignal(signal.SIGINT)

    def note_interrupt(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupted
        interrupted = True
        signal.default_int_handler(signum, frame)

    on_main_thread = threading.current_thread() is threading.main_thread()
    if on_main_thread:
        signal.signal(signal.SIGINT, note_interrupt)
    try:
        yield
    except SystemExit as error:
        if not (interrupted or signal.getsignal(signal.SIGINT) is signal.SIG_IGN):
            raise
        raise KeyboardInterrupt from error
    finally:
        if on_main_thread and previous is not None:
            signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Lightning's per-trial banners and advice would bury the study's own progress."""
    names = ("pytorch_lightning", "lightning.pytorch", "lightning")
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="pytorch_lightning")
            warnings.filterwarnings("ignore", module="lightning")
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def train(
    model: torch.nn.Module,
    *,
    trial: optuna.Trial | None,
    settings: SearchSettings,
    objective: Objective,
    data: ImageDataModule,
    cost: Epoch,
    folder: Path,
    log_dir: Path,
) -> TrainingOutcome:
    """Train ``model`` for up to ``settings.epochs`` epochs, keeping its best epoch's checkpoint
    in ``folder/best.ckpt``; report each epoch to ``trial``'s pruner when the objective prunes.
    ``cost`` holds the network's params, MACs and latency that each epoch is scored with.

    A loss that turns NaN or infinite ends the fit; the outcome says so in ``failure``.

    Raises:
        KeyboardInterrupt: on Ctrl-C (Lightning's graceful shutdown, turned back).
    """
    scores = _ScoreEpochs(objective, settings.min_accuracy, cost, data.val_images)
    checkpoint = pl.callbacks.ModelCheckpoint(
        dirpath=folder, filename="best", monitor=SCORE, mode="max", save_top_k=1
    )
    callbacks: list[Any] = [NetScoreCallback(input_shape=data.input_shape), scores, checkpoint]
    if trial is not None and settings.pruner != "none" and objective.prunes:
        callbacks.append(OptunaPruning(trial, monitor=SCORE))
    start = time.perf_counter()
    pruned, failure = False, None
    try:
        with quiet_lightning(), interrupts_as_keyboard_interrupt():
            trainer = pl.Trainer(
                max_epochs=settings.epochs,
                accelerator="auto",
                devices=1,
                callbacks=callbacks,
                logger=pl.loggers.CSVLogger(log_dir.parent, name=log_dir.name, version=""),
                enable_progress_bar=False,
                enable_model_summary=False,
                num_sanity_val_steps=0,
                log_every_n_steps=10,
            )
            trainer.fit(Classifier(model, lr=settings.peak_lr), datamodule=data)
    except optuna.TrialPruned:
        # A trial stopped after its last epoch has trained fully: it is complete.
        pruned = len(scores.epochs) < settings.epochs
    except FloatingPointError as error:
        failure = str(error)
    path = Path(checkpoint.best_model_path) if checkpoint.best_model_path else None
    seconds = time.perf_counter() - start
    return TrainingOutcome(scores.epochs, path, seconds, pruned, failure)
