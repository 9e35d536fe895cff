"""Lightning DataModules over image data held in memory as tensors.

Sources (``DATASETS``):

- ``embedded``: the Fashion-MNIST subset shipped in the package (10,000 train / 2,000 test).
- ``fashion-mnist``: full Fashion-MNIST from ``data_dir`` (the official ``*-ubyte(.gz)`` files, or
  torchvision's ``FashionMNIST/raw`` layout), else Debian's ``dataset-fashion-mnist`` package, else
  a torchvision download where the network allows.
- ``cifar10``: CIFAR-10 from ``data_dir`` (torchvision's ``cifar-10-batches-py`` layout).
- ``imagefolder``: any ``ImageFolder`` tree: ``data_dir/train/<class>/*`` and ``data_dir/test/...``
  (or ``val/``), resized to ``image_size``.

A seeded split of the training data is the validation set a search selects on; the test split is
only for final reports.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from nsearch.data import embedded

log = logging.getLogger(__name__)

DATASETS = ("embedded", "fashion-mnist", "cifar10", "imagefolder")
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
DOWNLOAD_CACHE = Path.home() / ".cache" / "nsearch"


@dataclass(frozen=True)
class Splits:
    """Images as uint8 ``N x C x H x W`` arrays, labels as int64."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: tuple[str, ...]


def _fashion_splits(arrays: dict[str, np.ndarray]) -> Splits:
    """Fashion-MNIST arrays as in the IDX files (``N x 28 x 28`` uint8) as :class:`Splits`."""
    return Splits(
        arrays["train_images"][:, None],
        arrays["train_labels"].astype(np.int64),
        arrays["test_images"][:, None],
        arrays["test_labels"].astype(np.int64),
        embedded.CLASSES,
    )


def _fashion_from(directory: Path) -> Splits | None:
    for folder in (directory, directory / "FashionMNIST" / "raw"):
        paths = {k: embedded.find_idx(folder, stem) for k, stem in embedded.FILES.items()}
        if all(paths.values()):
            return _fashion_splits({k: embedded.read_idx(p) for k, p in paths.items() if p})
    return None


def _given(data_dir: Path | None) -> str:
    return "but no data directory was given" if data_dir is None else f"got {str(data_dir)!r}"


def load_embedded(data_dir: Path | None = None) -> Splits:
    return _fashion_splits(embedded.load())


def load_fashion_mnist(data_dir: Path | None = None) -> Splits:
    expected = ", ".join(stem + ".gz" for stem in embedded.FILES.values())
    if data_dir is not None:
        splits = _fashion_from(data_dir)
        if splits is None:
            raise FileNotFoundError(
                f"The data directory {str(data_dir)!r} does not hold Fashion-MNIST: expected "
                f"{expected} there or in its FashionMNIST/raw folder."
            )
        return splits
    for folder in (DEBIAN_FASHION_MNIST, DOWNLOAD_CACHE):
        splits = _fashion_from(folder)
        if splits is not None:
            return splits
    try:
        from torchvision.datasets import FashionMNIST

        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(20)
        try:
            FashionMNIST(str(DOWNLOAD_CACHE), train=True, download=True)
            FashionMNIST(str(DOWNLOAD_CACHE), train=False, download=True)
        finally:
            socket.setdefaulttimeout(previous)
    except Exception as error:
        raise FileNotFoundError(
            "Full Fashion-MNIST was not found and could not be downloaded "
            f"({str(error).strip().splitlines()[-1]}); put "
            f"{expected} in a folder and pass it as the data directory, or install Debian's "
            f"dataset-fashion-mnist package (it puts them in {DEBIAN_FASHION_MNIST})."
        ) from None
    splits = _fashion_from(DOWNLOAD_CACHE)
    assert splits is not None
    return splits


def load_cifar10(data_dir: Path | None = None) -> Splits:
    folder = data_dir / "cifar-10-batches-py" if data_dir is not None else None
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
    if folder is None or not all((folder / n).is_file() for n in names):
        raise FileNotFoundError(
            "CIFAR-10 needs a data directory that holds the cifar-10-batches-py folder of the "
            f"python version of CIFAR-10 ({', '.join(names)}), {_given(data_dir)}."
        )

    def read(name: str) -> dict[str, Any]:
        with open(folder / name, "rb") as f:
            batch: dict[str, Any] = pickle.load(f, encoding="latin1")
            return batch

    def images_labels(batches: list[str]) -> tuple[np.ndarray, np.ndarray]:
        parts = [read(n) for n in batches]
        images = np.concatenate([p["data"] for p in parts]).reshape(-1, 3, 32, 32)
        return images, np.concatenate([p["labels"] for p in parts]).astype(np.int64)

    train_x, train_y = images_labels(names[:5])
    test_x, test_y = images_labels(["test_batch"])
    return Splits(train_x, train_y, test_x, test_y, tuple(read("batches.meta")["label_names"]))


def load_imagefolder(data_dir: Path | None, image_size: int = 32) -> Splits:
    from PIL import Image
    from torchvision.datasets import ImageFolder

    if data_dir is None or not (data_dir / "train").is_dir():
        raise FileNotFoundError(
            "An ImageFolder data directory needs a train/ folder with one sub-folder per class "
            f"(and test/ or val/ beside it), {_given(data_dir)}."
        )
    test_dir = next((data_dir / n for n in ("test", "val") if (data_dir / n).is_dir()), None)
    if test_dir is None:
        raise FileNotFoundError(
            f"The data directory {str(data_dir)!r} has no test/ or val/ folder."
        )

    def read(folder: Path, classes: list[str] | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
        dataset = ImageFolder(str(folder))
        if classes is not None and dataset.classes != classes:
            raise ValueError(
                f"{folder} has classes {dataset.classes} but train/ has {classes}; they must match."
            )
        images = np.stack(
            [
                np.asarray(
                    Image.open(path).convert("RGB").resize((image_size, image_size))
                ).transpose(2, 0, 1)
                for path, _ in dataset.samples
            ]
        )
        return images, np.asarray(dataset.targets, dtype=np.int64), dataset.classes

    train_x, train_y, classes = read(data_dir / "train", None)
    test_x, test_y, _ = read(test_dir, classes)
    return Splits(train_x, train_y, test_x, test_y, tuple(classes))


LOADERS: dict[str, Callable[[Path | None], Splits]] = {
    "embedded": load_embedded,
    "fashion-mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
}


class TensorLoader:
    """Batches of in-memory tensors, by slicing (no worker processes, no per-sample collation).

    Shuffled with a seeded generator, a new order each epoch; ``flip`` mirrors a random half of
    each training batch left to right.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        *,
        shuffle: bool = False,
        flip: bool = False,
        seed: int = 0,
    ) -> None:
        self.images, self.labels = images, labels
        self.batch_size, self.shuffle, self.flip = batch_size, shuffle, flip
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            if order is None:
                x = self.images[start : start + self.batch_size]
                y = self.labels[start : start + self.batch_size]
            else:
                index = order[start : start + self.batch_size]
                x, y = self.images[index], self.labels[index]
            if self.flip:
                mirror = torch.rand(len(y), generator=self.generator) < 0.5
                x = torch.where(mirror[:, None, None, None], x.flip(-1), x)
            yield x, y


class ImageDataModule(pl.LightningDataModule):
    """One of :data:`DATASETS` in memory, normalised with the training split's mean and std.

    Args:
        dataset: a name from :data:`DATASETS`.
        data_dir: where the files are (``fashion-mnist``: optional; ``cifar10``, ``imagefolder``:
            required).
        batch_size: training and evaluation batch size.
        val_fraction: share of the training data held out for validation, in (0, 0.5].
        seed: seeds the validation split and the shuffling.
        flip: mirror random training images left to right.
        train_limit: use at most this many training images (after the split), for quick runs.
        image_size: the side images are resized to (``imagefolder`` only).

    Raises:
        ValueError: on an unknown dataset or a value out of range.
        FileNotFoundError: when the data is not where it was asked for (on :meth:`setup`).
    """

    def __init__(
        self,
        dataset: str = "embedded",
        data_dir: str | os.PathLike[str] | None = None,
        *,
        batch_size: int = 128,
        val_fraction: float = 0.1,
        seed: int = 0,
        flip: bool = True,
        train_limit: int | None = None,
        image_size: int = 32,
    ) -> None:
        super().__init__()
        if dataset not in DATASETS:
            raise ValueError(f"`dataset` can be {', '.join(DATASETS)}, got {dataset!r}.")
        if not 0 < val_fraction <= 0.5:
            raise ValueError(f"`val_fraction` must be in (0, 0.5], got {val_fraction!r}.")
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
        self.dataset = dataset
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.batch_size, self.val_fraction, self.seed = batch_size, val_fraction, seed
        self.flip, self.train_limit, self.image_size = flip, train_limit, image_size
        self._tensors: dict[str, torch.Tensor] | None = None
        self.classes: tuple[str, ...] = ()
        # Per-channel mean and std of the training split's pixel values (0-255), once loaded.
        self.mean = self.std = torch.empty(0)

    def _load(self) -> dict[str, torch.Tensor]:
        if self._tensors is not None:
            return self._tensors
        if self.dataset == "imagefolder":
            splits = load_imagefolder(self.data_dir, self.image_size)
        else:
            splits = LOADERS[self.dataset](self.data_dir)
        self.classes = splits.classes
        n = len(splits.train_labels)
        order = np.random.default_rng(self.seed).permutation(n)
        n_val = max(1, round(n * self.val_fraction))
        val, train = order[:n_val], np.sort(order[n_val:])
        if self.train_limit is not None:
            train = train[: self.train_limit]
        reference = torch.from_numpy(splits.train_images[train]).float()
        self.mean = mean = reference.mean(dim=(0, 2, 3), keepdim=True)
        self.std = std = reference.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)

        def to_tensor(images: np.ndarray) -> torch.Tensor:
            return (
                (torch.from_numpy(np.ascontiguousarray(images)).float() - mean) / std
            ).contiguous(memory_format=torch.channels_last)

        self._tensors = {
            "train_x": to_tensor(splits.train_images[train]),
            "train_y": torch.from_numpy(splits.train_labels[train]),
            "val_x": to_tensor(splits.train_images[val]),
            "val_y": torch.from_numpy(splits.train_labels[val]),
            "test_x": to_tensor(splits.test_images),
            "test_y": torch.from_numpy(splits.test_labels),
        }
        log.info(
            "%s: %d train, %d validation, %d test images",
            self.dataset,
            len(train),
            len(val),
            len(splits.test_labels),
        )
        return self._tensors

    def setup(self, stage: str | None = None) -> None:
        self._load()

    @property
    def in_channels(self) -> int:
        return int(self._load()["train_x"].shape[1])

    @property
    def input_size(self) -> int:
        return int(self._load()["train_x"].shape[-1])

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self._load()["train_x"].shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        self._load()
        return len(self.classes)

    def train_dataloader(self) -> TensorLoader:
        t = self._load()
        return TensorLoader(
            t["train_x"],
            t["train_y"],
            self.batch_size,
            shuffle=True,
            flip=self.flip,
            seed=self.seed,
        )

    def val_dataloader(self) -> TensorLoader:
        t = self._load()
        return TensorLoader(t["val_x"], t["val_y"], 512)

    def test_dataloader(self) -> TensorLoader:
        t = self._load()
        return TensorLoader(t["test_x"], t["test_y"], 512)
