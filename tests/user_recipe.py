"""A user's own data and training recipe, written the way users write them, for the tests of
``--datamodule`` and ``--module`` (importable as ``user_recipe:...`` with tests/ on the path)."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


def _blobs(n: int, seed: int) -> TensorDataset:
    """Three classes of 3 x 24 x 24 images: which colour channel is brighter."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    images = torch.randn(n, 3, 24, 24, generator=g) * 0.5
    images[torch.arange(n), labels] += 1.0
    return TensorDataset(images, labels)


class BlobData(pl.LightningDataModule):
    """Their own splits, loaders and preprocessing (already normalised tensors)."""

    classes = ("red", "green", "blue")

    def __init__(self, batch_size: int = 32) -> None:
        super().__init__()
        self.batch_size = batch_size

    def setup(self, stage: str | None = None) -> None:
        self.train, self.val, self.test = _blobs(192, 0), _blobs(96, 1), _blobs(60, 2)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val, batch_size=64)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test, batch_size=64)


def blob_data() -> BlobData:
    """A function of no arguments that returns the datamodule."""
    return BlobData(batch_size=48)


class AdamRecipe(pl.LightningModule):
    """Their own recipe: Adam, label smoothing, logging val_acc."""

    def __init__(self, network: torch.nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)

    def training_step(self, batch: Any, _: int) -> torch.Tensor:
        x, y = batch
        loss = F.cross_entropy(self(x), y, label_smoothing=0.1)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, _: int) -> None:
        x, y = batch
        self.log("val_acc", (self(x).argmax(1) == y).float().mean())

    def configure_optimizers(self) -> Any:
        return torch.optim.Adam(self.parameters(), lr=3e-3)


class NoAccuracy(AdamRecipe):
    """A recipe that forgets to log val_acc."""

    def validation_step(self, batch: Any, _: int) -> None:
        x, y = batch
        self.log("val_loss", F.cross_entropy(self(x), y))


class Unlabelled(BlobData):
    """Batches of images only."""

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(self.train.tensors[0]), batch_size=32)


class OneClass(BlobData):
    classes = ("only",)


NOT_A_DATAMODULE = 42
