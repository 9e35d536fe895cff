"""The source ``cifar10``: CIFAR-10 from a local folder (torchvision's ``cifar-10-batches-py``)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from nsearch.data._registry import SourceOptions, given, register_source
from nsearch.data._splits import Splits

_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
_FILES = [*_TRAIN, "test_batch", "batches.meta"]


@register_source("cifar10", "CIFAR-10 (50,000 + 10,000) from data_dir/cifar-10-batches-py.")
def load_cifar10(data_dir: Path | None, options: SourceOptions) -> Splits:
    """CIFAR-10 from the python version's files; ``options`` are not used.

    Raises:
        FileNotFoundError: if ``data_dir/cifar-10-batches-py`` does not hold all its files.
    """
    folder = data_dir / "cifar-10-batches-py" if data_dir is not None else None
    if folder is None or not all((folder / name).is_file() for name in _FILES):
        raise FileNotFoundError(
            "CIFAR-10 needs a data directory that holds the cifar-10-batches-py folder of the "
            f"python version of CIFAR-10 ({', '.join(_FILES)}), {given(data_dir)}."
        )

    def read(name: str) -> dict[str, Any]:
        with open(folder / name, "rb") as f:
            batch: dict[str, Any] = pickle.load(f, encoding="latin1")
            return batch

    def images_labels(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        parts = [read(name) for name in names]
        images = np.concatenate([p["data"] for p in parts]).astype(np.uint8).reshape(-1, 3, 32, 32)
        return images, np.concatenate([p["labels"] for p in parts]).astype(np.int64)

    train_x, train_y = images_labels(_TRAIN)
    test_x, test_y = images_labels(["test_batch"])
    return Splits(train_x, train_y, test_x, test_y, tuple(read("batches.meta")["label_names"]))
