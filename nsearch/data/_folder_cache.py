"""A folder's images decoded once into a uint8 file, and read back a row at a time.

The cache holds every image of the folder after the evaluation transform (RGB, resized and
centre-cropped to ``size``), as ``N x 3 x size x size`` uint8 in one file. Rows are read with
``os.pread`` rather than a memory map, so that the process's resident memory does not grow with
the folder (a mapped file's pages count against it once touched); the operating system's page
cache keeps the file in memory where there is room. A cache is named by a hash of the folder's
files (path, size in bytes, modification time) and the image size, so a changed folder is
decoded again.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nsearch.data._folder import FolderImages, eval_transform

__all__ = ["CachedImages", "build_cache"]

log = logging.getLogger(__name__)


def _key(samples: Sequence[tuple[str, int]], size: int) -> str:
    digest = hashlib.sha256(f"v1|{size}".encode())
    for path, label in samples:
        stat = os.stat(path)
        digest.update(f"{path}|{label}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def build_cache(samples: Sequence[tuple[str, int]], size: int, folder: Path,
                workers: int) -> Path:  # fmt: skip
    """Decode ``samples`` once into ``folder/<hash>.u8`` (kept, and reused while the files are
    unchanged), with ``workers`` decoding processes; the file's path.

    The rows are written to ``<hash>.u8.part``, renamed when complete and removed on any
    failure, so no partial cache is left or read.

    Raises:
        UndecodableImage: naming an image that cannot be decoded.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_key(samples, size)}.u8"
    row = 3 * size * size
    if path.is_file() and path.stat().st_size == row * len(samples):
        return path
    log.info("Decoding %d images into %s", len(samples), path)
    loader = torch.utils.data.DataLoader(
        FolderImages(samples, eval_transform(size)), batch_size=256, num_workers=workers,
        collate_fn=lambda items: torch.stack([image for image, _ in items]),
    )  # fmt: skip
    partial = path.with_name(path.name + ".part")
    try:
        with open(partial, "wb") as f:
            for batch in loader:
                f.write(batch.contiguous().numpy().tobytes())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


class CachedImages(torch.utils.data.Dataset[tuple[torch.Tensor, int]]):
    """Rows ``indices`` of a cache file as ``(uint8 3 x size x size, label)``, each read when it
    is asked for and passed through ``transform`` (an augmentation of uint8 tensors, or None).

    The file is opened afresh in each worker process (a descriptor is not shared across a fork).
    """

    def __init__(self, path: Path, size: int, samples: Sequence[tuple[str, int]],
                 indices: Sequence[int], transform: Any = None) -> None:  # fmt: skip
        self.path, self.size, self.transform = path, size, transform
        self.rows = [int(i) for i in indices]
        self.labels = [samples[i][1] for i in self.rows]
        self.row_bytes = 3 * size * size
        self._fd: int | None = None
        self._pid: int | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        return self._fd

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        data = os.pread(self._descriptor(), self.row_bytes, self.rows[index] * self.row_bytes)
        image = torch.from_numpy(np.frombuffer(data, dtype=np.uint8).copy())
        image = image.view(3, self.size, self.size)
        if self.transform is not None:
            image = self.transform(image)
        return image, self.labels[index]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fd": None, "_pid": None}

    def __del__(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
