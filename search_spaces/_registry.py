"""The registry of search spaces, in the manner of torchvision's model registry."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

if TYPE_CHECKING:
    import optuna
    from torch import nn

__all__ = ["SearchSpace", "distribution_values", "get_space", "list_spaces", "register_space"]


def distribution_values(distribution: BaseDistribution) -> tuple[Any, ...] | None:
    """Every value an Optuna distribution can take, or ``None`` when they are not countable.

    >>> distribution_values(IntDistribution(1, 7, step=3))
    (1, 4, 7)
    >>> distribution_values(FloatDistribution(0.0, 1.0)) is None
    True
    """
    if isinstance(distribution, CategoricalDistribution):
        return tuple(distribution.choices)
    if isinstance(distribution, IntDistribution) and not distribution.log:
        return tuple(range(distribution.low, distribution.high + 1, distribution.step))
    if isinstance(distribution, IntDistribution):
        return tuple(range(distribution.low, distribution.high + 1))
    if isinstance(distribution, FloatDistribution) and distribution.step is not None:
        n = round((distribution.high - distribution.low) / distribution.step)
        return tuple(distribution.low + i * distribution.step for i in range(n + 1))
    return None


def _tuples(value: Any) -> Any:
    """Lists (as JSON gives them back) as tuples, so frozen configs stay hashable."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


@dataclass(frozen=True)
class SearchSpace:
    """A family of architectures that Optuna can sample.

    Only the first four fields are required; a space that leaves the others out (like README's
    MLP example) stores its config as ``dataclasses.asdict``, has no countable size, no largest
    network and no supernet.

    Attributes:
        name: the registry name, used by ``--space``.
        config_type: a frozen dataclass of JSON-serialisable fields.
        suggest: ``suggest(trial) -> config``; every Optuna call of the space lives here. Where
            ``distributions`` is given, it draws exactly those parameters, so ``trial.params`` is
            ``params_of(config)``.
        build: ``build(config, *, in_channels, num_classes, input_size) -> nn.Module``, pure and
            deterministic in the architecture (weights follow torch's random state).
        description: one line for ``--help``.
        smallest: the config of the space's cheapest network, if it has one; budgets that it
            exceeds are refused before a search starts.
        largest: the config of the space's most expensive network, if it has one.
        distributions: Optuna parameter name -> distribution, in the order ``suggest`` draws them.
        to_params: ``config -> {name: value}`` with the names of ``distributions``; defaults to
            ``dataclasses.asdict``.
        from_params: the inverse of ``to_params``; defaults to ``config_type(**params)``.
        to_text: ``config -> str``, one short line for tables; defaults to ``"name value ..."``.
        supernet_lr: the peak learning rate of the space's weight-sharing supernet
            (:class:`nsearch.supernet.Supernet`), chosen by measurement; ``None`` for a space
            without one.
        lr: the peak learning rate a search's trials train with unless ``--lr`` says otherwise
            (chosen per family by measurement: see README).
    """

    name: str
    config_type: type
    suggest: Callable[[optuna.Trial], Any]
    build: Callable[..., nn.Module]
    description: str = ""
    smallest: Any = None
    largest: Any = None
    distributions: Mapping[str, BaseDistribution] | None = None
    to_params: Callable[[Any], dict[str, Any]] | None = None
    from_params: Callable[[Mapping[str, Any]], Any] | None = None
    to_text: Callable[[Any], str] | None = None
    lr: float = 0.1
    supernet_lr: float | None = None

    @property
    def has_supernet(self) -> bool:
        """Whether a weight-sharing supernet of this space can be built and trained: it has a
        largest and a smallest network, countable distributions and a supernet learning rate."""
        countable = self.distributions is not None and all(
            distribution_values(d) is not None for d in self.distributions.values()
        )
        return (
            self.supernet_lr is not None
            and self.largest is not None
            and self.smallest is not None
            and countable
        )

    def size(self) -> int | None:
        """The number of architectures: the product of the distributions' value counts.

        ``None`` when the space declares no distributions or one of them is continuous. In the
        built-in spaces different parameters always give different channel or block counts (the
        stage-wise ones drop the multipliers that would round alike), so for them this is the
        number of distinct architectures.
        """
        if self.distributions is None:
            return None
        counts = [distribution_values(d) for d in self.distributions.values()]
        if any(c is None for c in counts):
            return None
        return math.prod(len(c) for c in counts if c is not None)

    def params_of(self, config: Any) -> dict[str, Any]:
        """The flat parameters of ``config``: what Optuna's ``trial.params`` holds for it."""
        if not isinstance(config, self.config_type):
            raise TypeError(
                f"Space {self.name!r} takes {self.config_type.__name__} configs, "
                f"got {type(config).__name__}."
            )
        if self.to_params is not None:
            return dict(self.to_params(config))
        fields: dict[str, Any] = dataclasses.asdict(config)  # type: ignore[call-overload]
        return fields

    def config_from_params(self, params: Mapping[str, Any]) -> Any:
        """The config of a trial from its stored parameters (the inverse of :meth:`params_of`)."""
        if self.distributions is not None:
            names = set(self.distributions)
        else:
            names = {f.name for f in dataclasses.fields(self.config_type)}
        unknown = sorted(set(params) - names)
        if unknown:
            raise ValueError(
                f"Space {self.name!r} has no parameters {unknown}; its parameters are "
                f"{sorted(names)}."
            )
        if self.from_params is not None:
            missing = sorted(names - set(params))
            if missing:
                raise ValueError(
                    f"Space {self.name!r} needs the parameters {missing}, got only "
                    f"{sorted(params)}."
                )
            return self.from_params(params)
        return self.config_type(**{k: _tuples(v) for k, v in params.items()})

    def describe(self, config: Any) -> str:
        """One short line that tells this config apart from the space's others, for tables."""
        if self.to_text is not None:
            return self.to_text(config)
        return " ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in self.params_of(config).items())  # fmt: skip


_SPACES: dict[str, SearchSpace] = {}


def register_space(space: SearchSpace) -> SearchSpace:
    """Add ``space`` to the registry under ``space.name``.

    Raises:
        ValueError: if the name is taken, or ``config_type`` is not a frozen dataclass.
    """
    if space.name in _SPACES:
        raise ValueError(f"A search space named {space.name!r} is already registered.")
    params = getattr(space.config_type, "__dataclass_params__", None)
    if params is None or not params.frozen:
        raise ValueError(
            f"`config_type` of space {space.name!r} must be a frozen dataclass, "
            f"got {space.config_type!r}."
        )
    _SPACES[space.name] = space
    return space


def get_space(name: str) -> SearchSpace:
    """The registered space called ``name``.

    Raises:
        ValueError: if there is none; the message lists the known names.
    """
    try:
        return _SPACES[name]
    except KeyError:
        raise ValueError(
            f"Unknown search space {name!r}; the known spaces are: {', '.join(list_spaces())}."
        ) from None


def list_spaces() -> list[str]:
    """The names of the registered spaces, sorted."""
    return sorted(_SPACES)
