from __future__ import annotations

import importlib
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

# The tiny network of these tests: conv 1->4 (3x3) on 8x8, global pooling, linear 4->2.
TINY_PARAMS = (4 * 9 + 4) + (4 * 2 + 2)
TINY_MACS = 4 * 9 * 8 * 8 + 4 * 2  # tiny_macs(8)


def tiny_macs(size: int) -> int:
    """MACs of the tiny network for one ``size`` x ``size`` image."""
    return 4 * 9 * size * size + 4 * 2


def tiny_data(n: int, seed: int, size: int = 8) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, size, size, generator=g)
    half = size // 2
    y = (x[:, 0, :half].mean((1, 2)) > x[:, 0, half:].mean((1, 2))).long()  # top half brighter?
    x[:, 0, :half] += 0.3 * (2 * y[:, None, None] - 1)
    return TensorDataset(x, y)


def tiny_module_class(distribution: str, *, log_from_epoch_end: bool = False) -> type:
    """A tiny classifier on either Lightning distribution ("pytorch_lightning" or "lightning").

    It logs its validation accuracy from ``validation_step`` and does not override
    ``on_validation_epoch_end``; with ``log_from_epoch_end=True`` its class overrides that hook and
    logs the accuracy from there instead. The classes live in this module under their own names
    (``Tiny_lightning``, ``TinyEpochEnd_pytorch_lightning``, ...), so their instances pickle.
    """
    name = f"{'TinyEpochEnd' if log_from_epoch_end else 'Tiny'}_{distribution}"
    if name not in globals():
        _define_tiny_classes(distribution)
    return globals()[name]  # type: ignore[no-any-return]


def _define_tiny_classes(distribution: str) -> None:
    L: Any = importlib.import_module(
        "pytorch_lightning" if distribution == "pytorch_lightning" else "lightning.pytorch"
    )

    class Tiny(L.LightningModule):  # type: ignore[name-defined,misc]
        log_from_epoch_end = False

        def __init__(
            self,
            scripted_accuracy: list[float] | None = None,
            accuracy_key: str = "val_acc",
            example_input: bool = False,
            size: int = 8,
        ) -> None:
            super().__init__()
            self.net = nn.Sequential(
                nn.Conv2d(1, 4, 3, padding=1),
                nn.ReLU(),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
                nn.Linear(4, 2),
            )
            self.scripted_accuracy = scripted_accuracy
            self.accuracy_key = accuracy_key
            self.size = size
            self.correct = self.seen = 0
            if example_input:
                self.example_input_array = torch.zeros(2, 1, size, size)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            loss = F.cross_entropy(self(x), y)
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            correct = (self(x).argmax(1) == y).sum().item()
            self.correct, self.seen = self.correct + correct, self.seen + len(y)
            if not self.log_from_epoch_end:
                self.log(self.accuracy_key, self.accuracy(correct / len(y)), on_epoch=True)

        def on_validation_epoch_start(self) -> None:
            self.correct = self.seen = 0

        def accuracy(self, measured: float) -> float:
            if self.scripted_accuracy is None or self.trainer.sanity_checking:
                return measured
            return self.scripted_accuracy[self.current_epoch]

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.5)

        def train_dataloader(self) -> DataLoader:
            return DataLoader(tiny_data(128, seed=0, size=self.size), batch_size=32, shuffle=True)

        def val_dataloader(self) -> DataLoader:
            return DataLoader(tiny_data(64, seed=1, size=self.size), batch_size=32)

    class TinyEpochEnd(Tiny):  # type: ignore[misc,valid-type]
        log_from_epoch_end = True

        def on_validation_epoch_end(self) -> None:
            self.log(self.accuracy_key, self.accuracy(self.correct / self.seen))

    for kind in (Tiny, TinyEpochEnd):
        kind.__name__ = kind.__qualname__ = f"{kind.__name__}_{distribution}"
        globals()[kind.__name__] = kind


def trainer_class(distribution: str) -> type:
    if distribution == "pytorch_lightning":
        import pytorch_lightning

        return pytorch_lightning.Trainer
    import lightning.pytorch

    return lightning.pytorch.Trainer


TRAINER_DEFAULTS: dict[str, Any] = {
    "accelerator": "cpu",
    "devices": 1,
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "num_sanity_val_steps": 1,
}
