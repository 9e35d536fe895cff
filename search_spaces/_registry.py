"""The registry of search spaces, in the manner of torchvision's model registry."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    from torch import nn

__all__ = ["SearchSpace", "get_space", "list_spaces", "register_space"]


@dataclass(frozen=True)
class SearchSpace:
    """A family of architectures that Optuna can sample.

    Attributes:
        name: the registry name, used by ``--space``.
        config_type: a frozen dataclass of JSON-serialisable fields; its field names are the
            Optuna parameter names, so ``config_type(**trial.params)`` rebuilds a trial's config.
        suggest: ``suggest(trial) -> config``; every Optuna call of the space lives here.
        build: ``build(config, *, in_channels, num_classes, input_size) -> nn.Module``, pure and
            deterministic in the architecture (weights follow torch's random state).
        description: one line for ``--help``.
        smallest: the config of the space's cheapest network, if it has one; budgets that it
            exceeds are refused before a search starts.
    """

    name: str
    config_type: type
    suggest: Callable[[optuna.Trial], Any]
    build: Callable[..., nn.Module]
    description: str = ""
    smallest: Any = None

    def config_from_params(self, params: Mapping[str, Any]) -> Any:
        """The config of a trial from its stored parameters (or a config's ``asdict``)."""
        names = {f.name for f in dataclasses.fields(self.config_type)}
        unknown = sorted(set(params) - names)
        if unknown:
            raise ValueError(
                f"Space {self.name!r} has no parameters {unknown}; its parameters are "
                f"{sorted(names)}."
            )
        return self.config_type(**params)


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
