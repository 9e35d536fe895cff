"""``resnet-uniform``: ResNet-style stages of torchvision's ``BasicBlock`` (or ``Bottleneck``),
scaled by one width and one depth multiplier: the hand-scaling baseline of the stage-wise
``resnet``.

torchvision's ``ResNet`` fixes stage widths at 64-128-256-512; this space scales them with a
width multiplier (rounded to multiples of 8) and scales the blocks per stage (ResNet-18's 2-2-2-2)
with a depth multiplier, never below one block. Inputs below 128 pixels get a 3x3 stride-1 stem
without max pooling and downsample in the first three stages instead of the last three (28x28 ends
at 4x4, with under half the MACs of CIFAR-style strides); larger inputs keep torchvision's 7x7
stride-2 stem, max pooling and strides (total 32).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from optuna.distributions import FloatDistribution
from torch import nn
from torchvision.models.mobilenetv2 import _make_divisible
from torchvision.models.resnet import BasicBlock, Bottleneck, conv1x1

from nsearch.search_spaces._common import (
    check_build_args,
    init_weights,
    is_small,
    scaled_depth,
    suggest_params,
)
from nsearch.search_spaces._registry import SearchSpace, register_space
from nsearch.search_spaces._resnet import (
    SMALL_INPUT_STRIDES,
    STAGE_STRIDES,
    stem,
    zero_init_residual,
)

if TYPE_CHECKING:
    import optuna

STAGE_WIDTHS = (64, 128, 256, 512)
STAGE_BLOCKS = {"basic": (2, 2, 2, 2), "bottleneck": (3, 4, 6, 3)}  # ResNet-18, ResNet-50
BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}
WIDTH_RANGE = (0.125, 0.5)
DEPTH_RANGE = (0.5, 1.5)
DISTRIBUTIONS = {
    "width": FloatDistribution(*WIDTH_RANGE, step=0.125),
    "depth": FloatDistribution(*DEPTH_RANGE, step=0.5),
}


@dataclass(frozen=True)
class ResNetConfig:
    """Width multiplier of the stage widths, depth multiplier of blocks per stage, block type."""

    width: float = 1.0
    depth: float = 1.0
    block: str = "basic"

    def __post_init__(self) -> None:
        if self.block not in BLOCKS:
            raise ValueError(f"`block` can be {', '.join(BLOCKS)}, got {self.block!r}.")


def suggest(trial: optuna.Trial) -> ResNetConfig:
    return ResNetConfig(**suggest_params(trial, DISTRIBUTIONS))


def params_of(config: ResNetConfig) -> dict[str, float]:
    """The searched parameters of ``config``; the space searches basic blocks only."""
    if config.block != "basic":
        raise ValueError(
            f"Space 'resnet-uniform' searches basic blocks only, got block {config.block!r}."
        )
    return {"width": config.width, "depth": config.depth}


class ResNet(nn.Module):
    """A ResNet whose stage widths and depths follow a :class:`ResNetConfig`."""

    def __init__(
        self,
        config: ResNetConfig,
        *,
        in_channels: int = 3,
        num_classes: int = 1000,
        input_size: int = 224,
    ) -> None:
        super().__init__()
        check_build_args(in_channels, num_classes, input_size)
        block = BLOCKS[config.block]
        widths = [_make_divisible(w * config.width, 8) for w in STAGE_WIDTHS]
        channels = widths[0]
        layers = [stem(in_channels, channels, is_small(input_size))]
        strides = SMALL_INPUT_STRIDES if is_small(input_size) else STAGE_STRIDES
        for width, blocks, stride in zip(widths, STAGE_BLOCKS[config.block], strides):
            stage_blocks: list[nn.Module] = []
            for i in range(scaled_depth(blocks, config.depth)):
                downsample = None
                if i == 0 and (stride != 1 or channels != width * block.expansion):
                    downsample = nn.Sequential(
                        conv1x1(channels, width * block.expansion, stride),
                        nn.BatchNorm2d(width * block.expansion),
                    )
                stage_blocks.append(block(channels, width, stride if i == 0 else 1, downsample))
                channels = width * block.expansion
            layers.append(nn.Sequential(*stage_blocks))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        init_weights(self)
        zero_init_residual(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


# build(config, *, in_channels, num_classes, input_size): the network itself
build = ResNet


SPACE = register_space(
    SearchSpace(
        lr=0.2,
        name="resnet-uniform",
        config_type=ResNetConfig,
        suggest=suggest,
        build=build,
        smallest=ResNetConfig(width=WIDTH_RANGE[0], depth=DEPTH_RANGE[0]),
        largest=ResNetConfig(width=WIDTH_RANGE[1], depth=DEPTH_RANGE[1]),
        distributions=DISTRIBUTIONS,
        to_params=params_of,
        description="ResNet BasicBlocks, one width (0.125-0.5) and one depth (0.5-1.5) multiplier.",
    )
)
