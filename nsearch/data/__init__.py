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
  (or ``val/``); in memory at ``image_size`` here, or streamed at its own size by
  :class:`FolderDataModule` (what a search uses).

:class:`ImageDataModule` carves a stratified, seeded validation split from the training images
(the split a search selects on; the test split is only for final reports), scales pixels to
[0, 1] and normalises them with the training images' per-channel mean and std in those units.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nsearch._lazy import lazy_names

# Importing each source module registers its sources.
from nsearch.data import _cifar10, _fashion_mnist, _imagefolder  # noqa: F401
from nsearch.data._folder import AUGMENTATIONS, FolderScan, scan_folder
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
    from nsearch.data._folder_module import FolderDataModule

__all__ = [
    "AUGMENTATIONS",
    "DATASETS",
    "DataSource",
    "FolderDataModule",
    "FolderScan",
    "ImageDataModule",
    "Splits",
    "SourceOptions",
    "TensorLoader",
    "get_source",
    "list_sources",
    "register_source",
    "scan_folder",
    "stratified_sample",
]


# The data modules are LightningDataModules; the sources and splits do not need Lightning.
__getattr__ = lazy_names("nsearch.data", {"ImageDataModule": "_datamodule",
                                          "FolderDataModule": "_folder_module"})
