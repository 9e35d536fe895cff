"""``resnet``: ResNet stages of torchvision's ``BasicBlock``, with a width and a depth per stage.

Each of the four stages picks a width multiplier of :data:`STAGE_WIDTHS` (ResNet-18's widths
halved, the largest a CPU supernet affords) from :data:`WIDTH_GRID`, rounded to multiples of 8,
and a block count from 1 to 3 (ResNet-18's 2, times 0.5 to 1.5). A stage keeps only the
multipliers that give it distinct widths (:data:`WIDTH_CHOICES`: the first stage has 8, 16, 24
or 32 channels, the others seven widths each), so every config is a distinct architecture and
the space's size is the product of its choices: (4 x 3) x (7 x 3)^3 = 111,132.

The stem is as wide as the first stage. The first block of a stage has a projection shortcut
(1x1 convolution and batch norm) wherever the largest network has one, that is everywhere except
in a stride-1 first stage (large inputs), whose input is the stem, so every config is a
sub-network of :data:`LARGEST`, which is ``resnet-uniform`` at width 0.5, depth 1.5. Inputs below
128 pixels get a 3x3 stride-1 stem without max pooling and downsample in the first three stages
(28x28 ends at 4x4); larger inputs keep torchvision's 7x7 stride-2 stem, max pooling and strides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torchvision.models.mobilenetv2 import _make_divisible
from torchvision.models.resnet import BasicBlock, conv1x1

from nsearch.search_spaces._common import (
    StageGrid,
    check_build_args,
    describe_stages,
    distinct_multipliers,
    is_small,
    suggest_params,
)
from nsearch.search_spaces._registry import SearchSpace, register_space

if TYPE_CHECKING:
    import optuna

# stage widths and the most blocks per stage; stride of each stage for large and small inputs
STAGE_WIDTHS = (32, 64, 128, 256)
MAX_BLOCKS = (3, 3, 3, 3)
STAGE_STRIDES = (1, 2, 2, 2)
SMALL_INPUT_STRIDES = (2, 2, 2, 1)
WIDTH_GRID = (0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0)
WIDTH_CHOICES = tuple(distinct_multipliers(c, WIDTH_GRID) for c in STAGE_WIDTHS)
DEPTH_CHOICES = tuple(tuple(range(1, n + 1)) for n in MAX_BLOCKS)
GRID = StageGrid(WIDTH_CHOICES, DEPTH_CHOICES)
DISTRIBUTIONS = GRID.distributions  # w1, d1, ..., w4, d4


@dataclass(frozen=True)
class StagewiseResNetConfig:
    """A width multiplier of :data:`STAGE_WIDTHS` and a block count for each of the four stages."""

    widths: tuple[float, ...] = GRID.largest()[0]
    depths: tuple[int, ...] = GRID.largest()[1]

    def __post_init__(self) -> None:
        GRID.check(self)


LARGEST = StagewiseResNetConfig()
SMALLEST = StagewiseResNetConfig(*GRID.smallest())


def params_of(config: StagewiseResNetConfig) -> dict[str, Any]:
    return GRID.params_of(config)


def config_from_params(params: Mapping[str, Any]) -> StagewiseResNetConfig:
    result: StagewiseResNetConfig = GRID.config_from_params(StagewiseResNetConfig, params)
    return result


def suggest(trial: optuna.Trial) -> StagewiseResNetConfig:
    return config_from_params(suggest_params(trial, DISTRIBUTIONS))


class StagewiseResNet(nn.Module):
    """A ResNet of basic blocks whose four stages each have their own width and depth."""

    def __init__(
        self,
        config: StagewiseResNetConfig,
        *,
        in_channels: int = 3,
        num_classes: int = 1000,
        input_size: int = 224,
    ) -> None:
        super().__init__()
        check_build_args(in_channels, num_classes, input_size)
        widths = [_make_divisible(c * w, 8) for c, w in zip(STAGE_WIDTHS, config.widths)]
        channels = widths[0]
        small = is_small(input_size)
        if small:
            stem: list[nn.Module] = [
                nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            ]
        else:
            stem = [
                nn.Conv2d(in_channels, channels, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2, padding=1),
            ]
        layers = [nn.Sequential(*stem)]
        strides = SMALL_INPUT_STRIDES if small else STAGE_STRIDES
        for stage, (width, stride) in enumerate(zip(widths, strides)):
            blocks: list[nn.Module] = []
            for i in range(config.depths[stage]):
                downsample = None
                if i == 0 and (stride != 1 or stage > 0):  # where the largest network has one
                    downsample = nn.Sequential(
                        conv1x1(channels, width, stride), nn.BatchNorm2d(width)
                    )
                blocks.append(BasicBlock(channels, width, stride if i == 0 else 1, downsample))
                channels = width
            layers.append(nn.Sequential(*blocks))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        for m in self.modules():  # torchvision's initialisation, residual BN weights zeroed
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def build(
    config: StagewiseResNetConfig,
    *,
    in_channels: int = 3,
    num_classes: int = 1000,
    input_size: int = 224,
) -> StagewiseResNet:
    return StagewiseResNet(
        config, in_channels=in_channels, num_classes=num_classes, input_size=input_size
    )


def supernet(*, in_channels: int = 3, num_classes: int = 1000, input_size: int = 224) -> nn.Module:
    """The weight-sharing supernet of this space (imported on first use)."""
    from nsearch.supernet import ResNetSupernet

    return ResNetSupernet(in_channels=in_channels, num_classes=num_classes, input_size=input_size)


SPACE = register_space(
    SearchSpace(
        lr=0.2,
        name="resnet",
        config_type=StagewiseResNetConfig,
        suggest=suggest,
        build=build,
        description="ResNet basic blocks with a width and a depth for each of its four stages.",
        smallest=SMALLEST,
        largest=LARGEST,
        distributions=DISTRIBUTIONS,
        to_params=params_of,
        from_params=config_from_params,
        to_text=describe_stages,
        supernet=supernet,
    )
)
