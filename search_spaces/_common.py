from __future__ import annotations


def check_build_args(in_channels: int, num_classes: int, input_size: int) -> None:
    for name, value, minimum in (
        ("in_channels", in_channels, 1),
        ("num_classes", num_classes, 2),
        ("input_size", input_size, 8),
    ):
        if not isinstance(value, int) or value < minimum:
            raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")


def scaled_depth(blocks: int, depth: float) -> int:
    """A stage's repeat count scaled by ``depth``, never below one block."""
    return max(1, round(blocks * depth))


def is_small(input_size: int) -> bool:
    """Inputs below 128 pixels (28x28, 32x32, 64x64) get a stride-1 stem and fewer downsamplings."""
    return input_size < 128
