"""The official Fashion-MNIST files: their names, their class names, and the IDX format they use."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

__all__ = ["CLASSES", "FILES", "find_idx", "read_idx"]

# The four official files by the array each holds (without the ``.gz`` of the download).
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (``.gz`` or not) as a uint8 array of the shape its header gives."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape).copy()


def find_idx(directory: Path, stem: str) -> Path | None:
    """``directory/stem.gz``, else ``directory/stem``, else None."""
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None
