"""Helpers shared by the built-in spaces: argument checks, rounding, drawing Optuna parameters."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from torch import nn
from torchvision.models.mobilenetv2 import _make_divisible

from nsearch.search_spaces._registry import SearchSpace, register_space

if TYPE_CHECKING:
    import optuna


def check_build_args(in_channels: int, num_classes: int, input_size: int) -> None:
    for name, value, minimum in (
        ("in_channels", in_channels, 1),
        ("num_classes", num_classes, 2),
        ("input_size", input_size, 8),
    ):
        if not isinstance(value, int) or value < minimum:
            raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")


def init_weights(model: nn.Module, *, linear_std: float | None = None) -> None:
    """torchvision's initialisation, for every network of the built-in spaces: Kaiming-normal
    convolutions (fan out, ReLU gain), BatchNorm at weight 1 and bias 0, and, with
    ``linear_std``, linear layers drawn from N(0, linear_std) with zero bias (MobileNetV2's;
    ResNet keeps torch's default for its last layer)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear_std is not None:
            nn.init.normal_(m.weight, 0, linear_std)
            nn.init.zeros_(m.bias)


def scaled_depth(blocks: int, depth: float) -> int:
    """A stage's repeat count scaled by ``depth``, never below one block."""
    return max(1, round(blocks * depth))


def is_small(input_size: int) -> bool:
    """Inputs below 128 pixels (28x28, 32x32, 64x64) get a stride-1 stem and fewer downsamplings."""
    return input_size < 128


def distinct_multipliers(channels: int, grid: Sequence[float]) -> tuple[float, ...]:
    """The multipliers of ``grid`` that give ``channels`` distinct widths after rounding.

    Of the multipliers that round to the same multiple of 8, the largest is kept, so the grid's
    largest multiplier is always there.

    >>> distinct_multipliers(24, (0.25, 0.5, 0.75, 1.0))  # 8, 16, 24, 24
    (0.25, 0.5, 1.0)
    """
    by_width = {_make_divisible(channels * m, 8): m for m in sorted(grid)}
    return tuple(sorted(by_width.values()))


def suggest_params(trial: optuna.Trial, distributions: Mapping[str, BaseDistribution]) -> dict:
    """Draw one value per distribution through the trial's public ``suggest_*`` calls."""
    params: dict[str, Any] = {}
    for name, d in distributions.items():
        if isinstance(d, CategoricalDistribution):
            params[name] = trial.suggest_categorical(name, d.choices)
        elif isinstance(d, IntDistribution):
            params[name] = trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
        elif isinstance(d, FloatDistribution):
            params[name] = trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)
        else:
            raise TypeError(
                f"Parameter {name!r} has a {type(d).__name__}; the spaces draw Categorical-, "
                "Int- and FloatDistribution."
            )
    return params


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    """Raise a ``ValueError`` naming ``value`` and ``choices`` unless ``value`` is one of them."""
    if value not in choices:
        allowed = ", ".join(f"{c:g}" if isinstance(c, float) else str(c) for c in choices)
        raise ValueError(f"`{name}` can be {allowed}, got {value!r}.")


def as_tuple(name: str, values: Sequence[Any], length: int, kind: type) -> tuple[Any, ...]:
    """``values`` as a tuple of ``length`` values of ``kind`` (JSON gives lists back)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"`{name}` must be a sequence of {length} numbers, got {values!r}.")
    if len(values) != length:
        raise ValueError(f"`{name}` must hold {length} values, one per stage, got {len(values)}.")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ValueError(f"`{name}` must hold numbers, got {values!r}.")
    return tuple(kind(v) for v in values)


def stage_distributions(
    width_choices: Sequence[Sequence[float]], depth_choices: Sequence[Sequence[int]]
) -> dict[str, BaseDistribution]:
    """``w1, d1, w2, ...``: each stage's width multiplier, and its depth where it has a choice."""
    distributions: dict[str, BaseDistribution] = {}
    for stage, (widths, depths) in enumerate(zip(width_choices, depth_choices), start=1):
        distributions[f"w{stage}"] = CategoricalDistribution(tuple(widths))
        if len(depths) > 1:
            distributions[f"d{stage}"] = IntDistribution(depths[0], depths[-1])
    return distributions


def stage_params(config: Any, distributions: Mapping[str, BaseDistribution]) -> dict[str, Any]:
    """The flat ``w1, d1, ...`` parameters of a config with per-stage ``widths`` and ``depths``."""
    values = {f"w{i}": w for i, w in enumerate(config.widths, start=1)}
    values |= {f"d{i}": d for i, d in enumerate(config.depths, start=1)}
    return {name: values[name] for name in distributions}


def stage_config(config_type: type, params: Mapping[str, Any], stages: int) -> Any:
    """The inverse of :func:`stage_params`; a stage without a depth parameter has one block."""
    return config_type(
        widths=tuple(params[f"w{i}"] for i in range(1, stages + 1)),
        depths=tuple(params.get(f"d{i}", 1) for i in range(1, stages + 1)),
    )


def describe_stages(config: Any) -> str:
    """E.g. ``"w 0.5/1/0.75 d 1/2/3"``: the per-stage widths and depths of a config."""
    widths = "/".join(f"{w:g}" for w in config.widths)
    return f"w {widths} d {'/'.join(str(d) for d in config.depths)}"


@dataclass(frozen=True)
class StageGrid:
    """The choices of a stage-wise space, per stage: width multipliers and repeat counts.

    Everything a stage-wise space derives from its choices lives here once: the Optuna
    distributions (``w1, d1, w2, ...``), the check of a config, its largest and smallest values,
    and the conversion of a config (with per-stage ``widths`` and ``depths``) to and from Optuna
    parameters.
    """

    width_choices: tuple[tuple[float, ...], ...]
    depth_choices: tuple[tuple[int, ...], ...]

    @property
    def stages(self) -> int:
        return len(self.width_choices)

    @property
    def distributions(self) -> dict[str, BaseDistribution]:
        return stage_distributions(self.width_choices, self.depth_choices)

    def largest(self) -> tuple[tuple[float, ...], tuple[int, ...]]:
        """The widths and depths of the largest network."""
        return tuple(c[-1] for c in self.width_choices), tuple(c[-1] for c in self.depth_choices)

    def smallest(self) -> tuple[tuple[float, ...], tuple[int, ...]]:
        """The widths and depths of the smallest network."""
        return tuple(c[0] for c in self.width_choices), tuple(c[0] for c in self.depth_choices)

    def check(self, config: Any) -> None:
        """Make a config's ``widths`` and ``depths`` tuples (JSON gives lists back) and refuse
        values that are not choices, naming the stage."""
        widths = as_tuple("widths", config.widths, self.stages, float)
        depths = as_tuple("depths", config.depths, self.stages, int)
        object.__setattr__(config, "widths", widths)
        object.__setattr__(config, "depths", depths)
        for stage in range(self.stages):
            check_choice(f"widths[{stage}]", widths[stage], self.width_choices[stage])
            check_choice(f"depths[{stage}]", depths[stage], self.depth_choices[stage])

    def params_of(self, config: Any) -> dict[str, Any]:
        return stage_params(config, self.distributions)

    def config_from_params(self, config_type: type, params: Mapping[str, Any]) -> Any:
        return stage_config(config_type, params, self.stages)


def register_stagewise(
    name: str,
    grid: StageGrid,
    config_type: type,
    build: Callable[..., nn.Module],
    *,
    description: str,
    lr: float,
    supernet_lr: float,
) -> SearchSpace:
    """Register a stage-wise space: a config of per-stage ``widths`` and ``depths`` (whose
    defaults are the largest network), drawn as ``w1, d1, w2, ...`` from ``grid``."""

    def config_from_params(params: Mapping[str, Any]) -> Any:
        return grid.config_from_params(config_type, params)

    def suggest(trial: optuna.Trial) -> Any:
        return config_from_params(suggest_params(trial, grid.distributions))

    return register_space(
        SearchSpace(
            name=name,
            config_type=config_type,
            suggest=suggest,
            build=build,
            description=description,
            smallest=config_type(*grid.smallest()),
            largest=config_type(),
            distributions=grid.distributions,
            to_params=grid.params_of,
            from_params=config_from_params,
            to_text=describe_stages,
            lr=lr,
            supernet_lr=supernet_lr,
        )
    )
