"""The LightningModule that trains a supernet with the sandwich rule and in-place distillation."""

from __future__ import annotations

import random
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from nsearch.classifier import warmup_cosine
from nsearch.supernet._evaluate import count_correct, prepare_subnet
from nsearch.supernet._supernet import Supernet

__all__ = ["SandwichModule"]


class SandwichModule(pl.LightningModule):
    """Train every sub-network of a supernet at once (Yu & Huang 2019; Yu et al. 2020).

    Each step runs, on the same batch, the largest sub-network (cross-entropy with the labels),
    then the smallest and ``num_random`` random ones, each learning the largest's predicted
    class probabilities (detached soft targets: in-place distillation); their gradients add up
    and one SGD step (Nesterov momentum, as :class:`nsearch.classifier.Classifier`) follows, under
    a linear warm-up and cosine decay (:func:`nsearch.classifier.warmup_cosine`) over the whole
    run. The random sub-networks of step ``k`` are drawn from a generator seeded by
    ``(seed, k)``, so a resumed run draws what an uninterrupted one would.

    Each validation scores the largest and the smallest sub-networks, extracted with batch-norm
    statistics re-estimated on training batches (:func:`prepare_subnet`), and logs
    ``val_acc_largest`` and ``val_acc_smallest`` (fractions); ``train_loss`` (the largest's
    cross-entropy) and ``distill_loss`` (the others' mean) are logged too, and every epoch's
    figures are kept in :attr:`history`, which checkpoints carry.

    Args:
        supernet: the supernet to train (in place).
        lr: peak learning rate.
        weight_decay: L2 weight decay.
        num_random: random sub-networks per step besides the largest and the smallest.
        seed: seeds the random sub-networks.
        label_smoothing: of the largest's cross-entropy.
        warmup_fraction: share of the steps spent warming up, in [0, 1) (see
            :func:`nsearch.classifier.warmup_cosine`).
        recalibration_batches: training batches that re-estimate batch-norm statistics before
            each epoch's validation scores.
        channels_last: train in ``channels_last`` memory format (converts the supernet).
    """

    def __init__(
        self,
        supernet: Supernet,
        *,
        lr: float = 0.1,
        weight_decay: float = 5e-5,
        num_random: int = 2,
        seed: int = 0,
        label_smoothing: float = 0.0,
        warmup_fraction: float = 0.25,
        recalibration_batches: int = 16,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["supernet"])
        self.automatic_optimization = False
        self.lr, self.weight_decay, self.num_random, self.seed = lr, weight_decay, num_random, seed
        self.label_smoothing, self.warmup_fraction = label_smoothing, warmup_fraction
        self.recalibration_batches, self.channels_last = recalibration_batches, channels_last
        self.supernet = (
            supernet.to(memory_format=torch.channels_last) if channels_last else supernet
        )
        self.history: list[dict[str, float]] = []
        self.settings: dict[str, Any] = {}  # what made the run; checkpoints carry it
        self._sums = {"train_loss": 0.0, "distill_loss": 0.0, "batches": 0.0}
        self._scored: dict[str, list[Any]] = {}  # name -> [prepared model, correct, total]
        self._val: dict[str, float] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.supernet(x)

    def sandwich(self, step: int) -> list[Any]:
        """The configs of step ``step``: largest, smallest, then ``num_random`` random ones."""
        rng = random.Random(f"{self.seed}:{step}")
        s = self.supernet
        return [s.largest, s.smallest, *(s.sample(rng) for _ in range(self.num_random))]

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        optimizer = self.optimizers()
        schedule = self.lr_schedulers()
        optimizer.zero_grad()  # type: ignore[union-attr]
        largest, *others = self.sandwich(self.global_step)
        self.supernet.set_active(largest)
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"The largest sub-network's loss is {loss.item()}.")
        self.manual_backward(loss)
        soft_targets = logits.detach().softmax(1)
        distill = torch.zeros((), device=loss.device)
        for config in others:
            self.supernet.set_active(config)
            kd = -(soft_targets * F.log_softmax(self(x), 1)).sum(1).mean()
            self.manual_backward(kd)
            distill += kd.detach()
        self.supernet.set_active(largest)
        optimizer.step()  # type: ignore[union-attr]
        schedule.step()  # type: ignore[union-attr]
        distill /= max(1, len(others))
        self.log("train_loss", loss.detach(), prog_bar=True, batch_size=len(y))
        self.log("distill_loss", distill, prog_bar=True, batch_size=len(y))
        self._sums["train_loss"] += loss.item()
        self._sums["distill_loss"] += distill.item()
        self._sums["batches"] += 1
        return loss.detach()

    def on_validation_epoch_start(self) -> None:
        data = getattr(self.trainer, "datamodule", None)
        batches: Any = (
            data.train_dataloader() if data is not None else self.trainer.train_dataloader
        )
        self._scored = {
            name: [prepare_subnet(self.supernet, config, batches, self.recalibration_batches,
                                  channels_last=self.channels_last), 0, 0]
            for name, config in (("largest", self.supernet.largest),
                                 ("smallest", self.supernet.smallest))
        }  # fmt: skip

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        for entry in self._scored.values():
            entry[1] += count_correct(entry[0], x, y, channels_last=self.channels_last)
            entry[2] += len(y)

    def on_validation_epoch_end(self) -> None:
        for name, (_, correct, total) in self._scored.items():
            if not self.trainer.sanity_checking:
                self._val[f"val_acc_{name}"] = correct / max(1, total)
            self.log(f"val_acc_{name}", correct / max(1, total), prog_bar=True)
        self._scored = {}

    def on_train_epoch_end(self) -> None:
        n = max(1.0, self._sums["batches"])
        self.history.append({
            "epoch": float(self.current_epoch),
            "train_loss": self._sums["train_loss"] / n,
            "distill_loss": self._sums["distill_loss"] / n,
            **self._val,
        })  # fmt: skip
        self._sums = dict.fromkeys(self._sums, 0.0)
        self._val = {}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["nsearch_supernet_history"] = list(self.history)
        checkpoint["nsearch_supernet_settings"] = dict(self.settings)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.history = list(checkpoint.get("nsearch_supernet_history", []))

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(
            self.supernet.parameters(),
            lr=self.lr,
            momentum=0.9,
            nesterov=True,
            weight_decay=self.weight_decay,
        )
        total = max(1, int(self.trainer.estimated_stepping_batches))
        fraction = self.warmup_fraction
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: warmup_cosine(step, total, warmup_fraction=fraction)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
