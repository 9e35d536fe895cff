"""Splits of a data set, and the stratified, seeded subsets carved from them.

A subset is stratified when each class takes its share in proportion to its count, as near as
integer counts allow (largest remainders); which images of a class are taken depends only on the
random generator, so a seed fixes every subset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["VAL_FRACTION", "Splits", "class_quotas", "split_train", "stratified_sample"]

# The share of the training images a search holds out for validation (its selection split).
VAL_FRACTION = 0.2


@dataclass(frozen=True)
class Splits:
    """A data set as loaded: images as uint8 ``N x C x H x W`` arrays, labels as int64.

    Raises:
        ValueError: if an array has the wrong type or shape, or labels and images differ in number.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            images, labels = getattr(self, f"{split}_images"), getattr(self, f"{split}_labels")
            if images.dtype != np.uint8 or images.ndim != 4:
                raise ValueError(
                    f"`{split}_images` must be a uint8 N x C x H x W array, got {images.dtype} "
                    f"of shape {images.shape}."
                )
            if labels.dtype != np.int64 or labels.shape != images.shape[:1]:
                raise ValueError(
                    f"`{split}_labels` must be int64 of shape {images.shape[:1]}, got "
                    f"{labels.dtype} of shape {labels.shape}."
                )


def class_quotas(counts: np.ndarray, size: int) -> np.ndarray:
    """Share ``size`` items among classes in proportion to ``counts`` (largest remainders).

    Ties between equal remainders go to the earlier class, so the result is deterministic.

    Example::

        >>> class_quotas(np.array([10, 10, 20]), 8).tolist()
        [2, 2, 4]
        >>> class_quotas(np.array([5, 5, 5]), 4).tolist()
        [2, 1, 1]
    """
    total = int(counts.sum())
    exact = counts.astype(np.int64) * size
    quotas, remainders = exact // total, exact % total
    short = size - int(quotas.sum())
    quotas[np.argsort(-remainders, kind="stable")[:short]] += 1
    return quotas


def stratified_sample(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``size`` of the items, each class in proportion, drawn with ``rng``.

    Raises:
        ValueError: if ``size`` is negative or larger than the number of items.
    """
    if not 0 <= size <= len(labels):
        raise ValueError(f"`size` must be in [0, {len(labels)}], got {size}.")
    classes, members = np.unique(labels, return_inverse=True)
    quotas = class_quotas(np.bincount(members, minlength=len(classes)), size)
    picks = [rng.permutation(np.flatnonzero(members == c))[:q] for c, q in enumerate(quotas)]
    return np.sort(np.concatenate(picks)) if picks else np.empty(0, dtype=np.int64)


def split_train(
    labels: np.ndarray, val_fraction: float, train_limit: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)`` into the training data: disjoint, stratified and seeded.

    The validation split takes ``round(n * val_fraction)`` items (at least one where
    ``val_fraction > 0``); ``train`` is the rest, or a stratified ``train_limit`` of the rest. The
    validation split is drawn first, so it does not depend on ``train_limit``.

    Raises:
        ValueError: if no training item would remain.
    """
    n = len(labels)
    n_val = max(1, round(n * val_fraction)) if val_fraction > 0 else 0
    if n - n_val < 1:
        raise ValueError(
            f"The training data has {n} images, too few to hold out {n_val} for validation."
        )
    rng = np.random.default_rng(seed)
    val = stratified_sample(labels, n_val, rng)
    rest = np.setdiff1d(np.arange(n), val, assume_unique=True)
    if train_limit is not None and train_limit < len(rest):
        rest = rest[stratified_sample(labels[rest], train_limit, rng)]
    return rest, val
