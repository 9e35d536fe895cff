"""The network as a device takes it: images in [0, 1] in, class logits out.

:class:`Normalized` puts the training data's per-channel normalisation inside the exported
model, so that every file a device team receives (``model.pt2``, ``model.onnx``, ``model.pte``
and their int8 versions) takes plain float images in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["Normalized"]


class Normalized(nn.Module):
    """Takes float images in [0, 1] and normalises them per channel before ``model``.

    Args:
        model: the network, trained on ``(image - mean) / std``.
        mean: per-channel mean, in [0, 1] units (e.g. 0.2860 for Fashion-MNIST).
        std: per-channel standard deviation, in [0, 1] units, each > 0.

    Raises:
        ValueError: if ``mean`` and ``std`` differ in length or are empty, or a ``std`` is <= 0.

    Example::

        >>> wrapped = Normalized(nn.Identity(), [0.5], [0.25])
        >>> wrapped(torch.ones(1, 1, 2, 2)).flatten().tolist()
        [2.0, 2.0, 2.0, 2.0]
    """

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std) or not mean:
            raise ValueError(
                f"`mean` and `std` must have one value per channel each, got {list(mean)!r} "
                f"and {list(std)!r}."
            )
        if not all(s > 0 for s in std):
            raise ValueError(f"`std` must be positive, got {list(std)!r}.")
        self.model = model
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.tensor([float(m) for m in mean]).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor([float(s) for s in std]).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)
