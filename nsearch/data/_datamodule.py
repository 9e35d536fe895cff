"""``ImageDataModule``: one registered source in memory, split, normalised, served as tensors.

Pixels are scaled to [0, 1] (uint8 / 255) and then normalised per channel with the mean and std of
the training images, in those [0, 1] units: a model trained on this data takes
``(x - mean) / std`` of images ``x`` in [0, 1].
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from nsearch.data._loader import TensorLoader
from nsearch.data._registry import SourceOptions, get_source
from nsearch.data._splits import VAL_FRACTION, split_train
from nsearch.data._stats import channel_stats, histogram_stats

log = logging.getLogger(__name__)

__all__ = ["ImageDataModule", "channel_stats", "histogram_stats"]

EVAL_BATCH_SIZE = 512


@dataclass(frozen=True)
class _Loaded:
    """The splits as normalised float tensors (``channels_last``), and what describes them."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...]


class ImageDataModule(pl.LightningDataModule):
    """One of :data:`~nsearch.data.DATASETS` in memory, normalised with the training images' stats.

    The validation split is carved from the training data and ``train_limit`` takes a subset of
    the rest; both are stratified by class (each class in proportion, as near as integer counts
    allow) and depend only on ``seed``. The data loads on :meth:`setup` or on first use of a
    property or data loader.

    Args:
        dataset: a name from :data:`~nsearch.data.DATASETS`.
        data_dir: where the files are (``fashion-mnist``: optional; ``cifar10``, ``imagefolder``:
            required; ``embedded``: not used).
        batch_size: training batch size (evaluation uses batches of 512).
        val_fraction: share of the training images held out for validation, in [0, 0.5]. The
            default 0.2 gives 4,000 validation and 16,000 training images of the embedded data.
            0 holds nothing out, for a final training on every training image (mean and std
            then come from all of them): :meth:`val_dataloader` returns an empty list, the value
            Lightning asks for when there is no data, and ``Trainer.fit`` skips the sanity check
            and every validation. Lightning 2.x then warns once that the list has zero length;
            ``Trainer(limit_val_batches=0)`` runs the same fit without that warning.
        seed: seeds the validation split, the ``train_limit`` subset, the shuffling and the flips.
        flip: mirror a random half of each training batch left to right.
        train_limit: train on at most this many images (a stratified subset of those left after
            the validation split), for quick runs; the validation split does not change.
        image_size: the side, in pixels, that ``imagefolder`` images are resized to.
        shuffle_seed: seeds the order and the flips alone (``seed`` where it is None), for
            independent trainings on the same split.

    Raises:
        ValueError: on an unknown dataset or an argument out of range.
        FileNotFoundError: when the data is not where it was asked for (when it loads).
    """

    def __init__(
        self,
        dataset: str = "embedded",
        data_dir: str | os.PathLike[str] | None = None,
        *,
        batch_size: int = 128,
        val_fraction: float = VAL_FRACTION,
        seed: int = 0,
        flip: bool = True,
        train_limit: int | None = None,
        image_size: int = 32,
        shuffle_seed: int | None = None,
    ) -> None:
        super().__init__()
        self.source = get_source(dataset)
        if not 0 <= val_fraction <= 0.5:
            raise ValueError(f"`val_fraction` must be in [0, 0.5], got {val_fraction!r}.")
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
        if train_limit is not None and train_limit < 1:
            raise ValueError(
                f"`train_limit` must be a positive number of images or None, got {train_limit!r}."
            )
        if image_size < 1:
            raise ValueError(
                f"`image_size` must be a positive number of pixels, got {image_size!r}."
            )
        self.dataset = dataset
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.batch_size, self.val_fraction, self.seed = batch_size, val_fraction, seed
        self.flip, self.train_limit, self.image_size = flip, train_limit, image_size
        self.shuffle_seed = shuffle_seed
        self._loaded: _Loaded | None = None

    def _load(self) -> _Loaded:
        if self._loaded is not None:
            return self._loaded
        splits = self.source.load(self.data_dir, SourceOptions(image_size=self.image_size))
        labels = splits.train_labels
        train, val = split_train(labels, self.val_fraction, self.train_limit, self.seed)
        mean, std = channel_stats(splits.train_images[train])
        shift = torch.tensor(mean).view(1, -1, 1, 1)
        scale = torch.tensor(std).view(1, -1, 1, 1)

        def to_tensor(images: np.ndarray) -> torch.Tensor:
            pixels = torch.from_numpy(np.ascontiguousarray(images)).float() / 255.0
            return ((pixels - shift) / scale).contiguous(memory_format=torch.channels_last)

        self._loaded = _Loaded(
            train_x=to_tensor(splits.train_images[train]),
            train_y=torch.from_numpy(labels[train]),
            val_x=to_tensor(splits.train_images[val]),
            val_y=torch.from_numpy(labels[val]),
            test_x=to_tensor(splits.test_images),
            test_y=torch.from_numpy(splits.test_labels),
            mean=mean,
            std=std,
            classes=splits.classes,
        )
        log.info("%s: %d train, %d validation, %d test images",
                 self.dataset, len(train), len(val), len(splits.test_labels))  # fmt: skip
        return self._loaded

    def setup(self, stage: str | None = None) -> None:
        self._load()

    @property
    def mean(self) -> tuple[float, ...]:
        """Per-channel mean of the training images, in [0, 1] pixel units."""
        return self._load().mean

    @property
    def std(self) -> tuple[float, ...]:
        """Per-channel std of the training images, in [0, 1] pixel units (1 for a flat channel)."""
        return self._load().std

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names, by label."""
        return self._load().classes

    @property
    def in_channels(self) -> int:
        return int(self._load().train_x.shape[1])

    @property
    def input_size(self) -> int:
        return int(self._load().train_x.shape[-1])

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self._load().train_x.shape[1:]
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def train_images(self) -> int:
        """The number of training images (after ``train_limit``)."""
        return len(self._load().train_y)

    @property
    def val_images(self) -> int:
        """The number of validation images (0 where ``val_fraction`` is 0)."""
        return len(self._load().val_y)

    @property
    def test_images(self) -> int:
        """The number of test images."""
        return len(self._load().test_y)

    def train_dataloader(self) -> TensorLoader:
        loaded = self._load()
        seed = self.seed if self.shuffle_seed is None else self.shuffle_seed
        return TensorLoader(loaded.train_x, loaded.train_y, self.batch_size, shuffle=True,
                            flip=self.flip, seed=seed)  # fmt: skip

    def val_dataloader(self) -> TensorLoader | list[tuple[torch.Tensor, torch.Tensor]]:
        """The validation images in order; an empty list (no validation) if there are none.

        ``[]`` rather than ``None`` or an empty loader: Lightning refuses ``None``, and takes an
        empty list as "no validation" without running any validation hook.
        """
        loaded = self._load()
        if len(loaded.val_y) == 0:
            return []
        return TensorLoader(loaded.val_x, loaded.val_y, EVAL_BATCH_SIZE)

    def test_dataloader(self) -> TensorLoader:
        loaded = self._load()
        return TensorLoader(loaded.test_x, loaded.test_y, EVAL_BATCH_SIZE)
