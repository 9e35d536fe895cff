"""Batches of in-memory tensors, by slicing."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

__all__ = ["TensorLoader"]


class TensorLoader:
    """Batches of in-memory tensors, by slicing (no worker processes, no per-sample collation).

    Shuffled with a seeded generator, a new order each epoch; ``flip`` mirrors a random half of
    each batch left to right.

    Args:
        images: ``N x C x H x W`` float images.
        labels: ``N`` class indices.
        batch_size: images per batch (the last batch may hold fewer).
        shuffle: draw a new order every epoch.
        flip: mirror a random half of each batch left to right.
        seed: seeds the order and the flips.
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
