"""What both ResNet spaces build alike: the stem, the stage strides and the zeroed residual
batch norms (torchvision's ``zero_init_residual``)."""

from __future__ import annotations

from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

__all__ = ["SMALL_INPUT_STRIDES", "STAGE_STRIDES", "stem", "zero_init_residual"]

# Each stage's stride: torchvision's, and for small inputs (which skip the stem's downsampling)
# the first three stages instead of the last three (28x28 ends at 4x4, with under half the MACs
# of CIFAR-style strides).
STAGE_STRIDES = (1, 2, 2, 2)
SMALL_INPUT_STRIDES = (2, 2, 2, 1)


def stem(in_channels: int, channels: int, small: bool) -> nn.Sequential:
    """A 3x3 stride-1 stem without max pooling for small inputs; torchvision's 7x7 stride-2 stem
    and max pooling otherwise."""
    if small:
        return nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )
    return nn.Sequential(
        nn.Conv2d(in_channels, channels, 7, stride=2, padding=3, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, stride=2, padding=1),
    )


def zero_init_residual(model: nn.Module) -> None:
    """Each block's last batch norm starts at zero weight, so each block starts as identity."""
    for m in model.modules():
        if isinstance(m, Bottleneck):
            nn.init.zeros_(m.bn3.weight)
        elif isinstance(m, BasicBlock):
            nn.init.zeros_(m.bn2.weight)
