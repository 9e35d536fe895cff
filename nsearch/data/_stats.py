"""Per-channel pixel statistics, exact, from histograms of the 256 levels; no Lightning, so that
exporting a run can recompute what its data module normalised with."""

from __future__ import annotations

import numpy as np

__all__ = ["channel_stats", "histogram_stats"]


def histogram_stats(counts: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std, in [0, 1] units, from each channel's counts of the
    256 levels (``C x 256``); a channel without variation gets std 1, so normalising by it only
    centres it."""
    levels = np.arange(256) / 255.0
    means, stds = [], []
    for channel in counts:
        share = channel / channel.sum()
        mean = float(share @ levels)
        std = float(np.sqrt(share @ (levels - mean) ** 2))
        means.append(mean)
        stds.append(std if std > 0 else 1.0)
    return tuple(means), tuple(stds)


def channel_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of uint8 ``N x C x H x W`` images, in [0, 1] units.

    Exact, from each channel's histogram of the 256 levels (:func:`histogram_stats`).

    Example::

        >>> channel_stats(np.array([[[[0, 255]]]], dtype=np.uint8))
        ((0.5,), (0.5,))
    """
    counts = np.stack([np.bincount(images[:, c].ravel(), minlength=256)
                       for c in range(images.shape[1])])  # fmt: skip
    return histogram_stats(counts)
