"""``FolderDataModule``: an ImageFolder tree searched at its own size, read as training goes.

Images are read from disk as training goes (``cache=None``: decoded every epoch by DataLoader
workers), or decoded once into a uint8 cache file that is read a row at a time
(``cache=<folder>``: see :mod:`nsearch.data._folder_cache`); either way the memory a run needs
does not grow with the number of images. Batches are normalised with the training images'
per-channel mean and std (over a stratified sample of up to 5,000 of them), in [0, 1] units, as
:class:`~nsearch.data.ImageDataModule` does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from nsearch.data._datamodule import histogram_stats
from nsearch.data._folder import (
    AUGMENTATIONS,
    FolderImages,
    FolderScan,
    augmentation,
    eval_transform,
    scan_folder,
    train_transform,
)
from nsearch.data._folder_cache import CachedImages, build_cache
from nsearch.data._splits import split_train, stratified_sample

__all__ = ["FolderDataModule"]

STATS_IMAGES = 5000


class _Normalise:
    """Collate ``(uint8 image, label)`` items into a normalised float batch (channels last)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.shift = torch.tensor(mean).view(1, -1, 1, 1)
        self.scale = torch.tensor(std).view(1, -1, 1, 1)

    def __call__(self, items: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        pixels = torch.stack([image for image, _ in items]).float() / 255.0
        images = ((pixels - self.shift) / self.scale).contiguous(memory_format=torch.channels_last)
        return images, torch.tensor([label for _, label in items], dtype=torch.int64)


class FolderDataModule(pl.LightningDataModule):
    """An ImageFolder tree (``data_dir/train``, ``data_dir/test`` or ``val``) for a search.

    Args:
        data_dir: the tree's root.
        image_size: the square side to search at; ``None``: the images' own size (they must all
            share one square size).
        augment: ``"standard"`` (random resized crop of 25-100 %, horizontal flip) or
            ``"none"`` for the training images; evaluation resizes and centre-crops.
        batch_size: images per batch, in training and evaluation alike (images of any size:
            the evaluation batch must fit where the training batch does).
        val_fraction: share of the training images held out for validation, in [0, 0.5].
        seed: seeds the validation split, the ``train_limit`` subset and the shuffling.
        train_limit: train on at most this many images (a stratified subset).
        cache: a folder for the uint8 cache (decode once), or ``None`` to decode every epoch.
        workers: DataLoader worker processes (default: 2 when decoding every epoch, 0 with the
            cache, which reads rows in the training process).
        pin_memory: pin batches for a GPU.

    Raises:
        ValueError: on an argument out of range (the folder's own errors come at setup).
    """

    def __init__(self, data_dir: str | os.PathLike[str], *, image_size: int | None = None,
                 augment: str = "standard", batch_size: int = 128, val_fraction: float = 0.2,
                 seed: int = 0, train_limit: int | None = None, cache: Path | None = None,
                 workers: int | None = None, pin_memory: bool = False) -> None:  # fmt: skip
        super().__init__()
        if augment not in AUGMENTATIONS:
            raise ValueError(f"`augment` can be {', '.join(AUGMENTATIONS)}, got {augment!r}.")
        if not 0 <= val_fraction <= 0.5:
            raise ValueError(f"`val_fraction` must be in [0, 0.5], got {val_fraction!r}.")
        self.data_dir, self.image_size, self.augment = Path(data_dir), image_size, augment
        self.batch_size, self.val_fraction, self.seed = batch_size, val_fraction, seed
        self.train_limit, self.cache, self.pin_memory = train_limit, cache, pin_memory
        self.workers = workers if workers is not None else (0 if cache is not None else 2)
        self._scan: FolderScan | None = None

    def setup(self, stage: str | None = None) -> None:
        if self._scan is not None:
            return
        scan = scan_folder(self.data_dir, self.image_size)
        labels = np.array([label for _, label in scan.train])
        self._train, self._val = split_train(labels, self.val_fraction, self.train_limit,
                                             self.seed)  # fmt: skip
        self._cache_file = None
        if self.cache is not None:
            self._cache_file = build_cache(scan.train + scan.test, scan.size, self.cache,
                                           max(1, self.workers or 2))  # fmt: skip
        self._scan = scan
        sample = self._train[stratified_sample(labels[self._train],
                                               min(STATS_IMAGES, len(self._train)),
                                               np.random.default_rng(self.seed))]  # fmt: skip
        self._mean, self._std = self._channel_stats(sample)

    def _channel_stats(self, sample: Any) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and std of ``sample`` (training indices), from histograms summed
        image by image: memory does not grow with the sample."""
        dataset = self._dataset("train", sample, eval=True)
        counts = np.zeros((3, 256), dtype=np.int64)
        for i in range(len(dataset)):
            image = dataset[i][0].numpy()
            for c in range(3):
                counts[c] += np.bincount(image[c].ravel(), minlength=256)
        return histogram_stats(counts)

    @property
    def scan(self) -> FolderScan:
        self.setup()
        assert self._scan is not None
        return self._scan

    def _dataset(self, split: str, indices: Any, eval: bool = False) -> Any:
        scan = self.scan
        if self._cache_file is not None:  # rows already resized and cropped: augment only
            offset = 0 if split == "train" else len(scan.train)
            extra = None if eval else augmentation(scan.size, self.augment)
            return CachedImages(self._cache_file, scan.size, scan.train + scan.test,
                                [offset + int(i) for i in indices], extra)  # fmt: skip
        samples = scan.train if split == "train" else scan.test
        transform = eval_transform(scan.size) if eval else train_transform(scan.size, self.augment)
        return FolderImages([samples[int(i)] for i in indices], transform)

    def _loader(self, dataset: Any, batch_size: int, shuffle: bool) -> Any:
        generator = torch.Generator().manual_seed(self.seed)
        return torch.utils.data.DataLoader(
            dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
            num_workers=self.workers, persistent_workers=self.workers > 0,
            collate_fn=_Normalise(self._mean, self._std), pin_memory=self.pin_memory,
        )  # fmt: skip

    def train_dataloader(self) -> Any:
        return self._loader(self._dataset("train", self._train), self.batch_size, True)

    def val_dataloader(self) -> Any:
        if len(self._val) == 0:
            return []
        return self._loader(self._dataset("train", self._val, eval=True), self.batch_size, False)

    def test_dataloader(self) -> Any:
        indices = range(len(self.scan.test))
        return self._loader(self._dataset("test", indices, eval=True), self.batch_size, False)

    def pixels(self, split: str, count: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images after the evaluation transform, and labels: every test image
        (``split="test"``), or a stratified, seeded ``count`` of the training split."""
        if split == "test":
            indices: Any = range(len(self.scan.test))
        else:
            labels = np.array([self.scan.train[int(i)][1] for i in self._train])
            rng = np.random.default_rng(self.seed)
            indices = self._train[stratified_sample(labels, count or len(labels), rng)]
        dataset = self._dataset(split, indices, eval=True)
        items = [dataset[i] for i in range(len(dataset))]
        return torch.stack([i for i, _ in items]), torch.tensor([label for _, label in items])

    # The same facts as ImageDataModule's.

    @property
    def mean(self) -> tuple[float, ...]:
        self.setup()
        return tuple(self._mean)

    @property
    def std(self) -> tuple[float, ...]:
        self.setup()
        return tuple(self._std)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.scan.classes

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return 3, self.scan.size, self.scan.size

    @property
    def in_channels(self) -> int:
        return 3

    @property
    def input_size(self) -> int:
        return self.scan.size

    @property
    def train_images(self) -> int:
        self.setup()
        return len(self._train)

    @property
    def val_images(self) -> int:
        self.setup()
        return len(self._val)

    @property
    def test_images(self) -> int:
        return len(self.scan.test)
