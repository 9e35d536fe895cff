"""``mobilenet-uniform``: MobileNetV2-style inverted residuals (torchvision's blocks), scaled by
one width and one depth multiplier: the hand-scaling baseline of the stage-wise ``mobilenet``.

The architecture is torchvision's table of ``t, c, n, s`` rows (expansion, channels, repeats,
stride). Width goes through torchvision's channel rounding (``_make_divisible``, multiples of 8)
and also scales the last 1x1 layer (torchvision keeps it at 1280 below width 1.0, which would
dominate the parameters of a small network); depth scales each stage's repeat count, never below
one block. Inputs below 128 pixels get a stride-1 stem and a total stride of 8 (28x28 ends at
4x4); larger inputs keep torchvision's strides (total 32).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from optuna.distributions import FloatDistribution
from torch import nn
from torchvision.models.mobilenetv2 import InvertedResidual, _make_divisible
from torchvision.ops.misc import Conv2dNormActivation

from nsearch.search_spaces._common import (
    check_build_args,
    is_small,
    scaled_depth,
    suggest_params,
)
from nsearch.search_spaces._registry import SearchSpace, register_space

if TYPE_CHECKING:
    import optuna

# torchvision's MobileNetV2 table: expansion t, channels c, repeats n, stride s.
INVERTED_RESIDUAL_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
# For small inputs the stem keeps full resolution and the stages downsample three times.
SMALL_INPUT_STRIDES = (1, 2, 2, 2, 1, 1, 1)
WIDTH_RANGE = (0.25, 1.0)
DEPTH_RANGE = (0.25, 1.0)
DISTRIBUTIONS = {
    "width": FloatDistribution(*WIDTH_RANGE, step=0.05),
    "depth": FloatDistribution(*DEPTH_RANGE, step=0.25),
}


@dataclass(frozen=True)
class MobileNetConfig:
    """Width multiplier (channels) and depth multiplier (repeats per stage)."""

    width: float = 1.0
    depth: float = 1.0


def suggest(trial: optuna.Trial) -> MobileNetConfig:
    return MobileNetConfig(**suggest_params(trial, DISTRIBUTIONS))


class MobileNet(nn.Module):
    """A MobileNetV2 configured by a ``t, c, n, s`` table, a width and a depth multiplier."""

    def __init__(
        self,
        config: MobileNetConfig,
        *,
        in_channels: int = 3,
        num_classes: int = 1000,
        input_size: int = 224,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        check_build_args(in_channels, num_classes, input_size)
        small = is_small(input_size)
        width = config.width
        channels = _make_divisible(32 * width, 8)
        layers: list[nn.Module] = [
            Conv2dNormActivation(
                in_channels, channels, stride=1 if small else 2, activation_layer=nn.ReLU6
            )
        ]
        for row, (t, c, n, s) in enumerate(INVERTED_RESIDUAL_SETTING):
            out = _make_divisible(c * width, 8)
            stride = SMALL_INPUT_STRIDES[row] if small else s
            for i in range(scaled_depth(n, config.depth)):
                layers.append(InvertedResidual(channels, out, stride if i == 0 else 1, t))
                channels = out
        self.last_channel = _make_divisible(1280 * width, 8)
        layers.append(
            Conv2dNormActivation(
                channels, self.last_channel, kernel_size=1, activation_layer=nn.ReLU6
            )
        )
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(self.last_channel, num_classes)
        )
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


def build(
    config: MobileNetConfig, *, in_channels: int = 3, num_classes: int = 1000, input_size: int = 224
) -> MobileNet:
    return MobileNet(
        config, in_channels=in_channels, num_classes=num_classes, input_size=input_size
    )


SPACE = register_space(
    SearchSpace(
        name="mobilenet-uniform",
        config_type=MobileNetConfig,
        suggest=suggest,
        build=build,
        smallest=MobileNetConfig(width=WIDTH_RANGE[0], depth=DEPTH_RANGE[0]),
        largest=MobileNetConfig(width=WIDTH_RANGE[1], depth=DEPTH_RANGE[1]),
        distributions=DISTRIBUTIONS,
        description="MobileNetV2, one width (0.25-1.0) and one depth (0.25-1.0) multiplier.",
    )
)
