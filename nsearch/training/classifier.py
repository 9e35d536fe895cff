"""The LightningModule that trains any model a search space builds."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from nsearch.training.batchnorm import recalibrate_batchnorm
from nsearch.training.schedule import warmup_cosine

__all__ = ["Classifier"]


class Classifier(pl.LightningModule):
    """Cross-entropy classification of any ``nn.Module``, tuned for short CPU budgets.

    SGD with Nesterov momentum under one warm-up-then-cosine cycle over the whole run
    (:func:`warmup_cosine`, so a 3-epoch budget still anneals, and any number of steps trains),
    ``channels_last`` memory format (1.8x faster for a MobileNetV2 that keeps
    28x28 resolution through its first stages; about even for nsearch's spaces, which downsample
    early: see ``experiments/bench_throughput.py``), and BatchNorm statistics re-estimated before
    each validation so eval-mode accuracy is true after short training. Logs ``train_loss`` and
    ``train_acc`` per epoch, ``val_loss`` and ``val_acc`` (a fraction), and ``test_acc``.

    Args:
        model: the network; it takes ``N x C x H x W`` images and returns class logits.
        lr: peak learning rate of the one-cycle schedule.
        weight_decay: L2 weight decay.
        label_smoothing: of the cross-entropy loss.
        bn_recalibration_batches: training batches used to re-estimate BatchNorm statistics before
            each validation (0 to turn it off).
        channels_last: train in ``channels_last`` memory format.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        lr: float = 0.1,
        weight_decay: float = 5e-5,
        label_smoothing: float = 0.0,
        bn_recalibration_batches: int = 10,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["model"])
        self.lr, self.weight_decay, self.label_smoothing = lr, weight_decay, label_smoothing
        self.bn_recalibration_batches, self.channels_last = bn_recalibration_batches, channels_last
        self.model = model.to(memory_format=torch.channels_last) if channels_last else model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x)

    def _step(self, batch: Any, stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"The {stage} loss is {loss.item()}.")
        accuracy = (logits.argmax(1) == y).float().mean()
        on_step = stage == "train"
        self.log(f"{stage}_loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        self.log(f"{stage}_acc", accuracy, on_step=False, on_epoch=True, batch_size=len(y),
                 prog_bar=not on_step)  # fmt: skip
        return loss

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, "test")

    def on_validation_epoch_start(self) -> None:
        if self.trainer.sanity_checking or self.trainer.train_dataloader is None:
            return
        recalibrate_batchnorm(
            self.model, self.trainer.train_dataloader, self.bn_recalibration_batches
        )

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(
            self.parameters(),
            lr=self.lr,
            momentum=0.9,
            nesterov=True,
            weight_decay=self.weight_decay,
        )
        total = max(1, int(self.trainer.estimated_stepping_batches))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: warmup_cosine(step, total)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
