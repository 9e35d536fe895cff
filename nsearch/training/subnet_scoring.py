"""Scoring sub-networks of a supernet: batch-norm statistics re-estimated, then accuracy and
loss on the same images for every sub-network."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nsearch.data import stratified_sample
from nsearch.supernet import Supernet
from nsearch.training.batchnorm import recalibrate_batchnorm

__all__ = ["SPLITS", "SubnetScore", "SubnetScorer", "count_correct", "evaluate_subnet",
           "fold_batchnorm", "prepare_subnet", "score"]  # fmt: skip

SPLITS = {"train": "train_dataloader", "val": "val_dataloader", "test": "test_dataloader"}


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """``model`` (in eval mode) with each batch norm that follows a convolution folded into it.

    Exact up to float rounding, and about twice as fast on a CPU for MobileNetV2-style networks
    (batch norm and its memory traffic are a third of their inference time). Uses ``torch.fx``;
    a model that it cannot trace comes back as it is.
    """
    from torch.fx.experimental.optimization import fuse

    try:
        return fuse(model.eval(), inplace=True)
    except Exception:  # only an optimisation: an untraceable model is scored as it is
        return model


def prepare_subnet(
    supernet: Supernet,
    config: Any,
    batches: Iterable[Any],
    recalibration_batches: int,
    *,
    channels_last: bool = True,
    fold: bool = True,
) -> nn.Module:
    """The standalone sub-network of ``config`` for inference: its batch-norm statistics
    re-estimated as an exact average over the first ``recalibration_batches`` of ``batches``,
    in eval mode, with batch norm folded into the convolutions when ``fold`` is set
    (:func:`fold_batchnorm`).
    """
    model = supernet.extract(config)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    recalibrate_batchnorm(model, batches, recalibration_batches)
    return fold_batchnorm(model) if fold else model.eval()


@torch.inference_mode()
def count_correct(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int = 128,
    *,
    channels_last: bool = True,
) -> int:
    """How many of ``images`` ``model`` classifies as ``labels``, ``batch_size`` at a time."""
    device = next(model.parameters()).device
    correct = 0
    for x, y in zip(images.split(batch_size), labels.split(batch_size)):
        x = x.to(device, non_blocking=True)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        correct += int((model(x).argmax(1) == y.to(device)).sum())
    return correct


@dataclass(frozen=True)
class SubnetScore:
    """What a sub-network scored with the supernet's weights: correct predictions of how many
    images, and its mean cross-entropy on them."""

    correct: int
    images: int
    loss: float

    @property
    def accuracy(self) -> float:
        """A fraction."""
        return self.correct / self.images


class SubnetScorer:
    """Scores many sub-networks of one supernet on the same images, quickly.

    The batch-norm recalibration batches (the first ``recalibration_batches`` of the training
    loader, a seeded order) and the scored images (all of ``split``, or a stratified, seeded
    subsample of ``images`` of them) are drawn once and kept, so that every sub-network is
    recalibrated and scored on exactly the same images. Each sub-network is extracted
    (:meth:`Supernet.extract`: the supernet is left as it was), recalibrated (an exact average),
    folded (:func:`fold_batchnorm`) and run in eval mode.

    Args:
        supernet: a trained supernet.
        data: the images (a LightningDataModule, set up).
        split: ``"val"`` (what a search selects on), ``"test"`` or ``"train"``.
        recalibration_batches: training batches for the statistics; 0 keeps the supernet's.
        images: score on a stratified subsample of this many images of ``split``; ``None``: all.
        seed: seeds the subsample.
        channels_last: run in ``channels_last`` memory format.
        fold: fold batch norm into the convolutions (predictions can differ only where float
            rounding flips one).
        batch_size: images per forward pass (on two CPU cores 128 runs these networks about 1.6x
            faster than 512).

    Raises:
        ValueError: on an unknown ``split``, a negative ``recalibration_batches``, a
            ``batch_size`` below 1, or ``images`` out of range.
    """

    def __init__(self, supernet: Supernet, data: Any, *, split: str = "val",
                 recalibration_batches: int = 16, images: int | None = None, seed: int = 0,
                 channels_last: bool = True, fold: bool = True,
                 batch_size: int = 128) -> None:  # fmt: skip
        if split not in SPLITS:
            raise ValueError(f"`split` can be {', '.join(SPLITS)}, got {split!r}.")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"`batch_size` must be an integer >= 1, got {batch_size!r}.")
        if not isinstance(recalibration_batches, int) or recalibration_batches < 0:
            raise ValueError(f"`recalibration_batches` must be an integer >= 0, got "
                             f"{recalibration_batches!r}.")  # fmt: skip
        self.supernet, self.channels_last, self.fold = supernet, channels_last, fold
        self.batch_size = batch_size
        self.recalibration = list(islice(data.train_dataloader(), recalibration_batches))
        batches = list(getattr(data, SPLITS[split])())
        x = torch.cat([b[0] for b in batches])
        y = torch.cat([b[1] for b in batches])
        if images is not None:
            if not 1 <= images <= len(y):
                raise ValueError(f"`images` must be between 1 and {len(y)}, got {images}.")
            chosen = stratified_sample(y.numpy(), images, np.random.default_rng(seed))
            x, y = x[torch.from_numpy(chosen)], y[torch.from_numpy(chosen)]
        self.images, self.labels = x, y

    @torch.no_grad()
    def __call__(self, config: Any) -> SubnetScore:
        model = prepare_subnet(self.supernet, config, self.recalibration,
                               len(self.recalibration), channels_last=self.channels_last,
                               fold=self.fold)  # fmt: skip
        return score(model, self.images, self.labels, self.batch_size,
                     channels_last=self.channels_last)  # fmt: skip


@torch.inference_mode()
def score(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 128,
          *, channels_last: bool = True) -> SubnetScore:  # fmt: skip
    """Correct predictions and mean cross-entropy of ``model`` on ``images``."""
    device = next(model.parameters()).device
    correct, loss = 0, 0.0
    for x, y in zip(images.split(batch_size), labels.split(batch_size)):
        x, y = x.to(device, non_blocking=True), y.to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = model(x)
        correct += int((logits.argmax(1) == y).sum())
        loss += float(F.cross_entropy(logits, y, reduction="sum"))
    return SubnetScore(correct, len(labels), loss / max(1, len(labels)))


def evaluate_subnet(supernet: Supernet, config: Any, data: Any, *, split: str = "val",
                    recalibration_batches: int = 16, channels_last: bool = True,
                    fold: bool = True, batch_size: int = 128) -> tuple[int, int]:  # fmt: skip
    """The correct predictions and the images of ``split`` for the sub-network of ``config``
    (one :class:`SubnetScorer` call on every image of the split).

    Returns:
        ``(correct, total)``; accuracy is ``correct / total``.
    """
    scorer = SubnetScorer(supernet, data, split=split, recalibration_batches=recalibration_batches,
                          channels_last=channels_last, fold=fold, batch_size=batch_size)
    result = scorer(config)
    return result.correct, result.images
