"""What every candidate network of a study is built for and trained on: the data (a
LightningDataModule: nsearch's in-memory sources, a streamed image folder, or the user's own),
the shape of its images, its classes, how its images are prepared, and the training recipe (a
function from the network to a LightningModule)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from nsearch.search.fingerprint import DataFingerprint
from nsearch.search_spaces import SearchSpace

__all__ = ["USER_PREPROCESSING", "Candidates", "ModuleFactory"]

# The training recipe: the network -> a LightningModule that trains it and logs `val_acc`.
ModuleFactory = Callable[[nn.Module], Any]
USER_PREPROCESSING = "as your datamodule's loaders prepare images (the model takes them as is)"


@dataclass(frozen=True)
class Candidates:
    """The data and recipe every candidate gets.

    Attributes:
        data: a LightningDataModule, set up for fitting; its loaders yield ``(images, labels)``.
        input_shape: one image's shape, ``C x H x W``.
        classes: the class names, in label order.
        val_images: the number of validation images (for each accuracy's interval).
        module: the training recipe, ``module(network) -> LightningModule``.
        mean: per-channel mean the loaders subtract, [0, 1] units (0 for the user's data).
        std: per-channel std they divide by (1 for the user's data).
        preprocessing: what a deployed model's images need before the model, in words.
        augmentation: what the training images get, in words.
        user_module: whether ``module`` is the user's (checked before the search starts).
        fingerprint: what the data is, to compare on resume, export and finalize.
    """

    data: Any
    input_shape: tuple[int, ...]
    classes: tuple[str, ...]
    val_images: int
    module: ModuleFactory
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    preprocessing: str = "none: images already at this size, scaled to [0, 1]"
    augmentation: str = "random horizontal flips"
    user_module: bool = False
    fingerprint: DataFingerprint | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def fidelity(self, epochs: int) -> str:
        """An accuracy's fidelity after ``epochs`` epochs on these training images:
        ``EPOCHSxIMAGES`` (``EPOCHSxall`` where the datamodule does not count them)."""
        images = None if self.fingerprint is None else self.fingerprint.train_images
        return f"{epochs}x{'all' if images is None else images}"

    def build(self, space: SearchSpace, config: Any) -> nn.Module:
        """The space's network of ``config`` for these images and classes."""
        return space.build(
            config,
            in_channels=self.input_shape[0],
            num_classes=self.num_classes,
            input_size=self.input_shape[-1],
        )
