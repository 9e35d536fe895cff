"""``mobilenet``: MobileNetV2 inverted residuals with a width and a depth for each row of the table.

The architecture is torchvision's table of ``t, c, n, s`` rows (expansion, channels, repeats,
stride). Each row picks its own width multiplier from :data:`WIDTH_GRID` (channels go through
torchvision's ``_make_divisible``, multiples of 8) and its own repeat count from 1 to ``n``. A
row keeps only the multipliers that give it distinct channel counts (:data:`WIDTH_CHOICES`: 16
channels at 0.25 and 0.5 would both round to 8), so every config is a distinct architecture and
the space's size is the product of its choices: 1,327,104.

The stem follows the first row's multiplier (``32 * w1`` channels) and the last 1x1 layer the
last row's (``1280 * w7``), so widths stay prefixes of the largest network's and a supernet can
slice them. The first block of every row has no residual connection and the others do, whatever
the widths (torchvision adds one wherever stride is 1 and the channels happen to match), so every
config is a sub-network of :data:`LARGEST`, which is ``mobilenet-uniform`` at width 1, depth 1.
The last batch norm of each residual branch starts with zero weights (as in ``resnet``, and as
BigNAS found a weight-sharing supernet needs to train stably), so each block starts as identity.
Inputs below 128 pixels get a stride-1 stem and a total stride of 8 (28x28 ends at 4x4).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torchvision.models.mobilenetv2 import InvertedResidual, _make_divisible

from nsearch.search_spaces._common import (
    StageGrid,
    check_build_args,
    distinct_multipliers,
    init_weights,
    is_small,
    register_stagewise,
)
from nsearch.search_spaces._mobilenet_v2 import (
    INVERTED_RESIDUAL_SETTING,
    classifier,
    last_layer,
    row_strides,
    stem,
)

WIDTH_GRID = (0.25, 0.5, 0.75, 1.0)
WIDTH_CHOICES = tuple(
    distinct_multipliers(c, WIDTH_GRID) for _, c, _, _ in INVERTED_RESIDUAL_SETTING
)
DEPTH_CHOICES = tuple(tuple(range(1, n + 1)) for _, _, n, _ in INVERTED_RESIDUAL_SETTING)

GRID = StageGrid(WIDTH_CHOICES, DEPTH_CHOICES)
DISTRIBUTIONS = GRID.distributions  # w1..w7, d2..d6


@dataclass(frozen=True)
class StagewiseMobileNetConfig:
    """A width multiplier and a repeat count for each of the seven rows of the table."""

    widths: tuple[float, ...] = GRID.largest()[0]
    depths: tuple[int, ...] = GRID.largest()[1]

    def __post_init__(self) -> None:
        GRID.check(self)


class StagewiseMobileNet(nn.Module):
    """A MobileNetV2 whose rows each have their own width and depth.

    ``features`` holds the stem, one ``nn.Sequential`` per row of the table and the last 1x1
    layer, so a block's name depends only on its row and its place in that row.
    """

    def __init__(
        self,
        config: StagewiseMobileNetConfig,
        *,
        in_channels: int = 3,
        num_classes: int = 1000,
        input_size: int = 224,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        check_build_args(in_channels, num_classes, input_size)
        small = is_small(input_size)
        first, channels = stem(in_channels, config.widths[0], small)
        layers: list[nn.Module] = [first]
        strides = row_strides(small)
        for row, (t, c, _, _) in enumerate(INVERTED_RESIDUAL_SETTING):
            out = _make_divisible(c * config.widths[row], 8)
            blocks = []
            for i in range(config.depths[row]):
                block = InvertedResidual(channels, out, strides[row] if i == 0 else 1, t)
                block.use_res_connect = i > 0  # by position, never by matching widths
                blocks.append(block)
                channels = out
            layers.append(nn.Sequential(*blocks))
        last, self.last_channel = last_layer(channels, config.widths[-1])
        layers.append(last)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = classifier(self.last_channel, num_classes, dropout)
        init_weights(self, linear_std=0.01)
        for m in self.modules():  # each residual branch starts at zero, as in `resnet`
            if isinstance(m, InvertedResidual) and m.use_res_connect:
                nn.init.zeros_(m.conv[-1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


# build(config, *, in_channels, num_classes, input_size): the network itself
build = StagewiseMobileNet


SPACE = register_stagewise(
    "mobilenet",
    GRID,
    StagewiseMobileNetConfig,
    build,
    description="MobileNetV2 with a width and a depth for each of its seven stages.",
    lr=0.1,
    # 0.05 did best of 0.025-0.2 (3 epochs over 4,000 embedded images: largest 75.4 %, smallest
    # 73.2 % validation accuracy; the four sub-networks' summed gradients diverge at 0.1 and up).
    supernet_lr=0.05,
)
LARGEST, SMALLEST = SPACE.largest, SPACE.smallest
suggest, params_of, config_from_params = SPACE.suggest, SPACE.params_of, SPACE.config_from_params
