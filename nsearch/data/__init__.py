"""Image data for nsearch, held in memory as tensors.

Sources, one loader each, in a registry (:func:`list_sources`, sorted; :data:`DATASETS`):

- ``cifar10``: CIFAR-10 from ``data_dir`` (torchvision's ``cifar-10-batches-py`` layout).
- ``embedded`` (the default): the Fashion-MNIST subset shipped in the package, 20,000 training
  images (2,000 per class) and 5,000 test images (500 per class). With the default
  ``val_fraction=0.2``: 16,000 train, 4,000 validation, 5,000 test.
- ``fashion-mnist``: full Fashion-MNIST from ``data_dir`` (the official ``*-ubyte(.gz)`` files, or
  torchvision's ``FashionMNIST/raw`` layout), else Debian's ``dataset-fashion-mnist`` package, else
  a download where the network allows.
- ``imagefolder``: any ``ImageFolder`` tree, ``data_dir/train/<class>/*`` and ``data_dir/test/...``
  (or ``val/``), resized to ``image_size``.

:class:`ImageDataModule` carves a stratified, seeded validation split from the training images
(the split a search selects on; the test split is only for final reports), scales pixels to
[0, 1] and normalises them with the training images' per-channel mean and std in those units.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Importing each source module registers its sources.
from nsearch.data import _cifar10, _fashion_mnist, _imagefolder  # noqa: F401
from nsearch.data._loader import TensorLoader
from nsearch.data._registry import (
    DATASETS,
    DataSource,
    SourceOptions,
    get_source,
    list_sources,
    register_source,
)
from nsearch.data._splits import Splits, stratified_sample

if TYPE_CHECKING:
    from nsearch.data._datamodule import ImageDataModule

__all__ = [
    "DATASETS",
    "DataSource",
    "ImageDataModule",
    "Splits",
    "SourceOptions",
    "TensorLoader",
    "get_source",
    "list_sources",
    "register_source",
    "stratified_sample",
]


def __getattr__(name: str) -> Any:
    # The data module is a LightningDataModule; the sources and splits do not need Lightning.
    if name == "ImageDataModule":
        from nsearch.data._datamodule import ImageDataModule

        return ImageDataModule
    raise AttributeError(f"module 'nsearch.data' has no attribute {name!r}")
