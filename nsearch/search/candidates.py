"""What every candidate network of a study is built for and trained on: the data (a
LightningDataModule, nsearch's own or the user's), the shape of its images, its classes, and
the training recipe (a function from the network to a LightningModule)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from nsearch.search_spaces import SearchSpace

__all__ = ["Candidates", "ModuleFactory"]

# The training recipe: the network -> a LightningModule that trains it and logs `val_acc`.
ModuleFactory = Callable[[nn.Module], Any]


@dataclass(frozen=True)
class Candidates:
    """The data and recipe every candidate gets.

    Attributes:
        data: a LightningDataModule, set up for fitting; its loaders yield ``(images, labels)``.
        input_shape: one image's shape, ``C x H x W``.
        classes: the class names, in label order.
        val_images: the number of validation images (for each accuracy's interval).
        module: the training recipe, ``module(network) -> LightningModule``.
    """

    data: Any
    input_shape: tuple[int, int, int]
    classes: tuple[str, ...]
    val_images: int
    module: ModuleFactory

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def build(self, space: SearchSpace, config: Any) -> nn.Module:
        """The space's network of ``config`` for these images and classes."""
        return space.build(
            config,
            in_channels=self.input_shape[0],
            num_classes=self.num_classes,
            input_size=self.input_shape[-1],
        )
