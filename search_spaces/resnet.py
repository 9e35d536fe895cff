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

from dataclasses import dataclass

import torch
from torch import nn
from torchvision.models.mobilenetv2 import _make_divisible
from torchvision.models.resnet import BasicBlock, conv1x1

from nsearch.search_spaces._common import (
    StageGrid,
    check_build_args,
    distinct_multipliers,
    init_weights,
    is_small,
    register_stagewise,
)
from nsearch.search_spaces._resnet import (
    SMALL_INPUT_STRIDES,
    STAGE_STRIDES,
    stem,
    zero_init_residual,
)

# stage widths and the most blocks per stage
STAGE_WIDTHS = (32, 64, 128, 256)
MAX_BLOCKS = (3, 3, 3, 3)
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
        layers = [stem(in_channels, channels, small)]
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
        init_weights(self)
        zero_init_residual(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


# build(config, *, in_channels, num_classes, input_size): the network itself
build = StagewiseResNet


SPACE = register_stagewise(
    "resnet",
    GRID,
    StagewiseResNetConfig,
    build,
    description="ResNet basic blocks with a width and a depth for each of its four stages.",
    lr=0.2,
    # 0.2 did best of 0.05-0.4 (3 epochs over 4,000 embedded images: largest 65.4 %, smallest
    # 59.1 % validation accuracy).
    supernet_lr=0.2,
)
LARGEST, SMALLEST = SPACE.largest, SPACE.smallest
suggest, params_of, config_from_params = SPACE.suggest, SPACE.params_of, SPACE.config_from_params
