"""The LightningModule that trains a supernet: the sandwich rule with in-place distillation, or
uniform single-path sampling, as its :class:`SupernetRecipe` says."""

from __future__ import annotations

import random
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from nsearch.supernet import Supernet
from nsearch.training.schedule import warmup_cosine
from nsearch.training.subnet_scoring import count_correct, prepare_subnet
from nsearch.training.supernet_recipe import SupernetRecipe

__all__ = ["SandwichModule"]


class SandwichModule(pl.LightningModule):
    """Train every sub-network of a supernet at once.

    With ``recipe.sampling == "sandwich"`` (Yu & Huang 2019; Yu et al. 2020) each step runs, on
    the same batch, the largest sub-network (cross-entropy with the labels), then the smallest
    and ``num_random`` random ones, each learning the largest's predicted class probabilities
    (detached soft targets: in-place distillation) or, without ``distill``, the labels. With
    ``"uniform"`` each step runs ``num_random`` random sub-networks on the labels. Their
    gradients add up (clipped to ``grad_clip`` if set) and one SGD step (Nesterov momentum, as
    :class:`~nsearch.training.Classifier`) follows, under a linear warm-up and cosine decay
    (:func:`~nsearch.training.schedule.warmup_cosine`) over the whole run. The random
    sub-networks of step ``k`` are drawn from a generator seeded by ``(seed, k)``, so a resumed
    run draws what an uninterrupted one would.

    Each validation scores the largest and the smallest sub-networks, extracted with batch-norm
    statistics re-estimated on training batches (:func:`prepare_subnet`), and logs
    ``val_acc_largest`` and ``val_acc_smallest`` (fractions); ``train_loss`` (the first
    sub-network's cross-entropy) and ``distill_loss`` (the others' mean loss) are logged too, and
    every epoch's figures are kept in :attr:`history`, which checkpoints carry.

    Args:
        supernet: the supernet to train (in place).
        recipe: how; its ``lr`` must be set (:meth:`SupernetRecipe.with_lr`).
    """

    def __init__(self, supernet: Supernet, recipe: SupernetRecipe) -> None:
        super().__init__()
        if recipe.lr is None:
            raise ValueError("The recipe's `lr` must be set: use recipe.with_lr(space lr).")
        self.save_hyperparameters(recipe.as_dict())
        self.automatic_optimization = False
        self.recipe = recipe
        self.supernet = (
            supernet.to(memory_format=torch.channels_last) if recipe.channels_last else supernet
        )
        self.history: list[dict[str, float]] = []
        self.settings: dict[str, Any] = {}  # what made the run; checkpoints carry it
        self._sums = {"train_loss": 0.0, "distill_loss": 0.0, "batches": 0.0}
        self._scored: dict[str, list[Any]] = {}  # name -> [prepared model, correct, total]
        self._val: dict[str, float] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.recipe.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.supernet(x)

    def sandwich(self, step: int) -> list[Any]:
        """The configs of step ``step``: largest, smallest, then ``num_random`` random ones (or
        only the random ones, for uniform sampling)."""
        rng = random.Random(f"{self.recipe.seed}:{step}")
        s = self.supernet
        drawn = [s.sample(rng) for _ in range(self.recipe.num_random)]
        return drawn if self.recipe.sampling == "uniform" else [s.largest, s.smallest, *drawn]

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, y, label_smoothing=self.recipe.label_smoothing)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        optimizer = self.optimizers()
        schedule = self.lr_schedulers()
        optimizer.zero_grad()  # type: ignore[union-attr]
        first, *others = self.sandwich(self.global_step)
        self.supernet.set_active(first)
        logits = self(x)
        loss = self._loss(logits, y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"The first sub-network's loss is {loss.item()}.")
        self.manual_backward(loss)
        distill = self.recipe.sampling == "sandwich" and self.recipe.distill
        soft_targets = logits.detach().softmax(1)
        rest = torch.zeros((), device=loss.device)
        for config in others:
            self.supernet.set_active(config)
            out = self(x)
            if distill:
                other = -(soft_targets * F.log_softmax(out, 1)).sum(1).mean()
            else:
                other = self._loss(out, y)
            self.manual_backward(other)
            rest += other.detach()
        self.supernet.set_active(self.supernet.largest)
        if self.recipe.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.supernet.parameters(), self.recipe.grad_clip)
        optimizer.step()  # type: ignore[union-attr]
        schedule.step()  # type: ignore[union-attr]
        rest /= max(1, len(others))
        self.log("train_loss", loss.detach(), prog_bar=True, batch_size=len(y))
        self.log("distill_loss", rest, prog_bar=True, batch_size=len(y))
        self._sums["train_loss"] += loss.item()
        self._sums["distill_loss"] += rest.item()
        self._sums["batches"] += 1
        return loss.detach()

    def on_validation_epoch_start(self) -> None:
        data = getattr(self.trainer, "datamodule", None)
        batches: Any = (
            data.train_dataloader() if data is not None else self.trainer.train_dataloader
        )
        self._scored = {
            name: [prepare_subnet(self.supernet, config, batches, self.recipe.recalibration_batches,
                                  channels_last=self.recipe.channels_last), 0, 0]
            for name, config in (("largest", self.supernet.largest),
                                 ("smallest", self.supernet.smallest))
        }  # fmt: skip

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        for entry in self._scored.values():
            entry[1] += count_correct(entry[0], x, y, channels_last=self.recipe.channels_last)
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
            lr=float(self.recipe.lr or 0.0),  # set: checked in __init__
            momentum=0.9,
            nesterov=True,
            weight_decay=self.recipe.weight_decay,
        )
        total = max(1, int(self.trainer.estimated_stepping_batches))
        fraction = self.recipe.warmup_fraction
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: warmup_cosine(step, total, warmup_fraction=fraction)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
