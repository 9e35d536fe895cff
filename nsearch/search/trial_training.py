"""Training one candidate with Lightning: the callbacks, the checkpoint of its best epoch, and what
each validation epoch measured.

One number decides everything about epochs: the trial's score of an epoch (see
:class:`~nsearch.search.objectives.Scoring`), logged as ``search_score``. The checkpoint keeps the
epoch of the highest score, pruning reports it, and the trial's result is that epoch's.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import torch

from nsearch.callbacks import NetScoreCallback, OptunaPruning
from nsearch.callbacks._compat import CALLBACK_BASES
from nsearch.search.candidates import Candidates
from nsearch.search.objectives import Epoch
from nsearch.search.user_code import check_lightning_module, lightning_classes
from nsearch.training.hardware import Hardware
from nsearch.training.lightning import interrupts_as_keyboard_interrupt, quiet_lightning

__all__ = ["SCORE", "EpochResult", "TrainingOutcome", "check_recipe", "train"]

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


def _accuracy(metrics: dict[str, Any]) -> float:
    """The module's logged validation accuracy, a fraction.

    Raises:
        ValueError: if the module logged no ``val_acc``, naming the keys it did log.
    """
    if "val_acc" not in metrics:
        raise ValueError(
            "The training module must log `val_acc` (the validation accuracy, a fraction) from "
            f"its validation step; it logged: {', '.join(sorted(metrics)) or 'nothing'}."
        )
    return float(metrics["val_acc"])


@dataclass
class _ScoreEpochs(*CALLBACK_BASES):  # type: ignore[misc]
    """Logs the trial's score of each validation epoch and keeps every epoch's result."""

    score: Callable[[Epoch], float]
    cost: Epoch  # the network's params, MACs and latency (its accuracy is filled per epoch)
    val_images: int
    epochs: list[EpochResult] = field(default_factory=list)

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        correct = round(_accuracy(trainer.callback_metrics) * self.val_images)
        epoch = dataclasses.replace(self.cost, accuracy_percent=100.0 * correct / self.val_images)
        score = self.score(epoch)
        pl_module.log(SCORE, score, on_epoch=True)
        self.epochs.append(EpochResult(trainer.current_epoch, correct, self.val_images, score))


def train(
    model: torch.nn.Module,
    *,
    candidates: Candidates,
    epochs: int,
    score: Callable[[Epoch], float],
    cost: Epoch,
    folder: Path,
    log_dir: Path,
    trial: optuna.Trial | None = None,
    hardware: Hardware | None = None,
    worker: int = 0,
) -> TrainingOutcome:
    """Train ``model`` with the candidates' recipe for up to ``epochs`` epochs, keeping its best
    epoch's checkpoint in ``folder/best.ckpt``; report each epoch's ``score`` to ``trial``'s
    pruner, where a trial is given. ``cost`` holds the network's params, MACs and latency that
    each epoch is scored with.

    A loss that turns NaN or infinite ends the fit; the outcome says so in ``failure``.

    Raises:
        KeyboardInterrupt: on Ctrl-C (Lightning's graceful shutdown, turned back).
        ValueError: if the training module logs no ``val_acc``.
    """
    scores = _ScoreEpochs(score, cost, candidates.val_images)
    module = candidates.module(model)
    lightning = lightning_classes(module)  # the user's module may be built on either
    checkpoint = lightning.callbacks.ModelCheckpoint(
        dirpath=folder, filename="best", monitor=SCORE, mode="max", save_top_k=1
    )
    callbacks: list[Any] = [NetScoreCallback(input_shape=candidates.input_shape), scores,
                            checkpoint]  # fmt: skip
    if trial is not None:
        callbacks.append(OptunaPruning(trial, monitor=SCORE))
    start = time.perf_counter()
    pruned, failure = False, None
    try:
        with quiet_lightning(), interrupts_as_keyboard_interrupt():
            trainer = lightning.Trainer(
                max_epochs=epochs,
                **(hardware or Hardware()).trainer_kwargs(worker),
                callbacks=callbacks,
                logger=lightning.loggers.CSVLogger(log_dir.parent, name=log_dir.name, version=""),
                enable_progress_bar=False,
                enable_model_summary=False,
                num_sanity_val_steps=0,
                log_every_n_steps=10,
            )
            trainer.fit(module, datamodule=candidates.data)
    except optuna.TrialPruned:
        # A trial stopped after its last epoch has trained fully: it is complete.
        pruned = len(scores.epochs) < epochs
    except FloatingPointError as error:
        failure = str(error)
    path = Path(checkpoint.best_model_path) if checkpoint.best_model_path else None
    seconds = time.perf_counter() - start
    return TrainingOutcome(scores.epochs, path, seconds, pruned, failure)


def check_recipe(candidates: Candidates, space: Any, hardware: Hardware) -> None:
    """Run the user's training recipe for one batch of training and one of validation on the
    space's smallest network, so that a recipe that cannot train a candidate is refused before
    the search writes anything: one that makes no LightningModule, fails its first steps, logs
    no ``val_acc``, or logs it outside [0, 1] (in percent, say).

    Raises:
        ValueError: in one sentence that says what to change.
    """
    network = candidates.build(space, space.smallest if space.smallest is not None
                               else space.suggest(optuna.trial.FixedTrial({})))  # fmt: skip
    module = candidates.module(network)
    check_lightning_module(module)
    lightning = lightning_classes(module)
    with quiet_lightning():
        trainer = lightning.Trainer(fast_dev_run=1, logger=False, enable_progress_bar=False,
                                    enable_model_summary=False,
                                    **hardware.trainer_kwargs())  # fmt: skip
        try:
            trainer.fit(module, datamodule=candidates.data)
        except ValueError:
            raise  # nsearch's own sentences (a bad image), and the user's
        except Exception as error:
            raise ValueError(
                "The training recipe failed on its first training and validation batch: "
                f"{type(error).__name__}: {error}".rstrip(".") + "."
            ) from None
    accuracy = _accuracy(trainer.callback_metrics)
    if not 0.0 <= accuracy <= 1.0:
        raise ValueError(
            f"The training module logs `val_acc` = {accuracy:g}, outside [0, 1]: log the "
            "validation accuracy as a fraction (correct / total, as torchmetrics' Accuracy "
            "does), not in percent."
        )
