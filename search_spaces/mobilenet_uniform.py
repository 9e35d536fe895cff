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

from nsearch.search_spaces._common import (
    check_build_args,
    init_weights,
    is_small,
    scaled_depth,
    suggest_params,
)
from nsearch.search_spaces._mobilenet_v2 import (
    INVERTED_RESIDUAL_SETTING,
    classifier,
    last_layer,
    row_strides,
    stem,
)
from nsearch.search_spaces._registry import SearchSpace, register_space

if TYPE_CHECKING:
    import optuna

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
        first, channels = stem(in_channels, config.width, small)
        layers: list[nn.Module] = [first]
        strides = row_strides(small)
        for row, (t, c, n, _) in enumerate(INVERTED_RESIDUAL_SETTING):
            out = _make_divisible(c * config.width, 8)
            for i in range(scaled_depth(n, config.depth)):
                layers.append(InvertedResidual(channels, out, strides[row] if i == 0 else 1, t))
                channels = out
        last, self.last_channel = last_layer(channels, config.width)
        layers.append(last)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = classifier(self.last_channel, num_classes, dropout)
        init_weights(self, linear_std=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


# build(config, *, in_channels, num_classes, input_size): the network itself
build = MobileNet


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
