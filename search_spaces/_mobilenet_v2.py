"""MobileNetV2's architecture table and the layers both MobileNet spaces build around it.

torchvision's table of ``t, c, n, s`` rows (expansion, channels, repeats, stride), the strides
for small inputs, the stem and the last 1x1 layer, and the classifier head. The stage-wise
``mobilenet`` space gives each row its own width and depth; ``mobilenet-uniform`` scales every
row by one width and one depth multiplier.
"""

from __future__ import annotations

from torch import nn
from torchvision.models.mobilenetv2 import _make_divisible
from torchvision.ops.misc import Conv2dNormActivation

__all__ = [
    "INVERTED_RESIDUAL_SETTING",
    "LAST_CHANNELS",
    "SMALL_INPUT_STRIDES",
    "STEM_CHANNELS",
    "classifier",
    "last_layer",
    "row_strides",
    "stem",
]

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
# For small inputs the stem keeps full resolution and the rows downsample three times (28x28
# ends at 4x4); larger inputs keep torchvision's strides (total 32).
SMALL_INPUT_STRIDES = (1, 2, 2, 2, 1, 1, 1)
STEM_CHANNELS, LAST_CHANNELS = 32, 1280


def row_strides(small: bool) -> tuple[int, ...]:
    """Each row's stride: torchvision's, or :data:`SMALL_INPUT_STRIDES` for small inputs."""
    return SMALL_INPUT_STRIDES if small else tuple(s for _, _, _, s in INVERTED_RESIDUAL_SETTING)


def stem(in_channels: int, width: float, small: bool) -> tuple[nn.Module, int]:
    """The 3x3 stem of ``32 * width`` channels (stride 1 for small inputs), and its channels."""
    channels = _make_divisible(STEM_CHANNELS * width, 8)
    layer = Conv2dNormActivation(
        in_channels, channels, stride=1 if small else 2, activation_layer=nn.ReLU6
    )
    return layer, channels


def last_layer(channels: int, width: float) -> tuple[nn.Module, int]:
    """The last 1x1 layer of ``1280 * width`` channels (torchvision keeps 1280 below width 1.0,
    which would dominate a small network's parameters), and its channels."""
    last = _make_divisible(LAST_CHANNELS * width, 8)
    layer = Conv2dNormActivation(channels, last, kernel_size=1, activation_layer=nn.ReLU6)
    return layer, last


def classifier(channels: int, num_classes: int, dropout: float) -> nn.Sequential:
    """Dropout and the linear layer, as torchvision's."""
    return nn.Sequential(nn.Dropout(p=dropout), nn.Linear(channels, num_classes))
