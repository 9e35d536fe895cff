"""Dynamic layers: torch layers that run with the first k channels (or blocks) of their weights.

Each subclasses the torch layer it replaces and keeps its parameter and buffer names, so a
supernet's ``state_dict`` has the keys and shapes of the largest network the space builds, and a
sub-network's tensors are prefixes of the supernet's: the first output channels, the first input
channels, the first blocks of a stage. :func:`to_dynamic` turns a built network into a supernet.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "DynamicBatchNorm2d",
    "DynamicConv2d",
    "DynamicLinear",
    "DynamicSequential",
    "to_dynamic",
]


class DynamicConv2d(nn.Conv2d):
    """A convolution that runs with its first ``out_channels`` filters on its first ``in_channels``
    inputs; a depthwise one (``groups == in_channels == out_channels``) stays depthwise.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        depthwise = self.groups == self.in_channels == self.out_channels
        if self.padding_mode != "zeros" or not (self.groups == 1 or depthwise):
            raise ValueError(
                "A dynamic convolution is a plain (groups=1) or depthwise one with zero padding, "
                f"got groups={self.groups} for {self.in_channels} -> {self.out_channels} channels "
                f"and padding_mode={self.padding_mode!r}."
            )
        self.depthwise = self.groups > 1
        self.active = (self.out_channels, self.in_channels)

    def set_active(self, out_channels: int, in_channels: int) -> None:
        if self.depthwise and out_channels != in_channels:
            raise ValueError(
                f"A depthwise convolution keeps as many outputs as inputs, got {out_channels} "
                f"outputs for {in_channels} inputs."
            )
        self.active = (out_channels, in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, inp = self.active
        if self.active == (self.out_channels, self.in_channels):
            return super().forward(x)
        groups = out if self.depthwise else 1
        weight = self.weight[:out, : inp // groups]
        bias = None if self.bias is None else self.bias[:out]
        return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, groups)


class DynamicBatchNorm2d(nn.BatchNorm2d):
    """Batch norm over the first ``num_features`` channels, with those channels' statistics.

    In training mode it updates the first entries of the running statistics (a cumulative
    average when ``momentum`` is ``None``, as
    :func:`~nsearch.training.batchnorm.recalibrate_batchnorm` sets it), so re-estimating them for
    one sub-network leaves the other entries as they were.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.active = self.num_features

    def set_active(self, num_features: int) -> None:
        self.active = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.active
        if k == self.num_features:
            return super().forward(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        use_stats = not self.training or self.track_running_stats
        mean, var = self.running_mean, self.running_var
        return F.batch_norm(
            x,
            mean[:k] if use_stats and mean is not None else None,
            var[:k] if use_stats and var is not None else None,
            None if self.weight is None else self.weight[:k],
            None if self.bias is None else self.bias[:k],
            self.training or (mean is None and var is None),
            factor,
            self.eps,
        )


class DynamicLinear(nn.Linear):
    """A linear layer that runs with its first ``out_features`` rows and ``in_features`` columns."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.active = (self.out_features, self.in_features)

    def set_active(self, out_features: int, in_features: int) -> None:
        self.active = (out_features, in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, inp = self.active
        if self.active == (self.out_features, self.in_features):
            return super().forward(x)
        bias = None if self.bias is None else self.bias[:out]
        return F.linear(x, self.weight[:out, :inp], bias)


class DynamicSequential(nn.Sequential):
    """A stage of blocks that runs its first ``length`` modules (the depth of a sub-network)."""

    def __init__(self, *modules: nn.Module) -> None:
        super().__init__(*modules)
        self.active = len(self)

    def set_active(self, length: int) -> None:
        self.active = length

    def forward(self, x: Any) -> Any:
        for module in islice(self._modules.values(), self.active):
            x = module(x)
        return x


def _convert(m: nn.Module) -> nn.Module | None:
    """The dynamic twin of ``m``, sharing its parameters and buffers, or ``None``."""
    new: nn.Module
    kind = type(m)
    if kind is nn.Conv2d:
        c: Any = m
        new = DynamicConv2d(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding,
                            c.dilation, c.groups, c.bias is not None, c.padding_mode,
                            device="meta")  # fmt: skip
    elif kind is nn.BatchNorm2d:
        b: Any = m
        new = DynamicBatchNorm2d(b.num_features, b.eps, b.momentum, b.affine,
                                 b.track_running_stats, device="meta")  # fmt: skip
    elif kind is nn.Linear:
        lin: Any = m
        new = DynamicLinear(lin.in_features, lin.out_features, lin.bias is not None, device="meta")
    elif kind is nn.Sequential:
        new = DynamicSequential(*m.children())
        new.training = m.training
        return new
    else:
        return None
    for name, p in m.named_parameters(recurse=False):
        setattr(new, name, p)
    for name, buffer in m.named_buffers(recurse=False):
        setattr(new, name, buffer)
    new.train(m.training)
    return new


def to_dynamic(module: nn.Module) -> nn.Module:
    """Replace, in place and recursively, every ``nn.Conv2d``, ``nn.BatchNorm2d``, ``nn.Linear``
    and plain ``nn.Sequential`` of ``module`` by its dynamic twin, sharing the same tensors.

    Subclasses (torchvision's ``Conv2dNormActivation``, say) are kept, with their children
    converted. Returns ``module``, or its twin when ``module`` itself is converted.

    Raises:
        ValueError: if ``module`` holds parameters in other kinds of layers, which cannot be
            sliced.
    """
    for name, child in list(module.named_children()):
        setattr(module, name, to_dynamic(child))
    converted = _convert(module)
    if converted is None and any(True for _ in module.parameters(recurse=False)):
        raise ValueError(
            f"A supernet can slice Conv2d, BatchNorm2d and Linear layers, got parameters in a "
            f"{type(module).__name__}."
        )
    return module if converted is None else converted
