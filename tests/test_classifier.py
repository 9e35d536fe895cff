from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import nn

from nsearch.data import ImageDataModule
from nsearch.search_spaces import get_space
from nsearch.training.batchnorm import recalibrate_batchnorm
from nsearch.training.classifier import Classifier


def test_small_mobilenet_reaches_80_percent_in_eval_mode_in_three_epochs(tmp_path: Path) -> None:
    # experiments/short_training.py times the same fit (about 15 s on two cores). 8,000 training
    # and 4,000 validation images cost about what 9,000 and 1,000 did (a forward pass is about a
    # third of a training step).
    torch.manual_seed(0)
    data = ImageDataModule("embedded", train_limit=8000)
    space = get_space("mobilenet-uniform")
    model = space.build(space.config_type(width=0.25, depth=0.25), in_channels=1, num_classes=10,
                        input_size=28)  # fmt: skip
    trainer = pl.Trainer(
        max_epochs=3,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(Classifier(model), datamodule=data)
    assert float(trainer.callback_metrics["val_acc"]) >= 0.80
    # measured independently, in eval mode, over the whole validation split
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in data.val_dataloader())
    assert data.val_images == 4000 and correct / data.val_images >= 0.80


def test_recalibration_takes_the_exact_batch_average_and_restores_state() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2), nn.ReLU()).eval()
    model[1].running_mean.fill_(100.0)  # stale statistics
    batches = [(torch.randn(8, 1, 4, 4) + i, torch.zeros(8)) for i in range(3)]
    recalibrate_batchnorm(model, batches, max_batches=2)
    with torch.no_grad():
        means = [model[0](x).mean((0, 2, 3)) for x, _ in batches[:2]]
    torch.testing.assert_close(model[1].running_mean, (means[0] + means[1]) / 2)
    assert model[1].momentum == 0.1 and not model.training and not model[1].training


def test_non_finite_loss_raises_with_its_value() -> None:
    import pytest

    classifier = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), channels_last=False)
    with torch.no_grad():
        classifier.model[1].weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="The train loss is nan"):
        classifier.training_step((torch.ones(2, 1, 2, 2), torch.tensor([0, 1])), 0)
