"""The weight-sharing supernet: a space's largest network, run as any of its sub-networks."""

from __future__ import annotations

import random
from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from nsearch.search_spaces import SearchSpace, distribution_values
from nsearch.supernet._dynamic import (
    DynamicBatchNorm2d,
    DynamicConv2d,
    DynamicLinear,
    DynamicSequential,
    to_dynamic,
)

__all__ = ["Supernet"]

_DYNAMIC = (DynamicConv2d, DynamicBatchNorm2d, DynamicLinear, DynamicSequential)
Layout = dict[str, tuple[int, ...]]


def _active_sizes(module: nn.Module) -> tuple[int, ...] | None:
    """What a dynamic layer standing for ``module`` must be set to, or ``None``."""
    if isinstance(module, nn.Conv2d):
        return module.out_channels, module.in_channels
    if isinstance(module, nn.BatchNorm2d):
        return (module.num_features,)
    if isinstance(module, nn.Linear):
        return module.out_features, module.in_features
    if type(module) is nn.Sequential:
        return (len(module),)
    return None


class Supernet(nn.Module):
    """The largest network of ``space`` with shared weights: each config runs as the first
    channels of each layer and the first blocks of each stage.

    The space's ``build`` must give, for every config, a network whose tensors are prefixes of the
    largest network's under the same names (the stage-wise spaces are built so); this is checked
    the first time each config is set. The supernet's ``state_dict`` has the largest network's
    keys with the prefix ``net.``.

    Args:
        space: a search space with a supernet (:attr:`SearchSpace.has_supernet`: ``largest``,
            ``smallest``, countable ``distributions`` and the ``supernet_lr`` it trains with).
        in_channels, num_classes, input_size: as for the space's ``build``.

    Raises:
        ValueError: if ``space`` has no supernet.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        in_channels: int = 3,
        num_classes: int = 1000,
        input_size: int = 224,
    ) -> None:
        super().__init__()
        if not space.has_supernet:
            raise ValueError(
                f"The space {space.name!r} has no weight-sharing supernet (it needs `largest`, "
                "`smallest`, countable `distributions` and a `supernet_lr`)."
            )
        self.space = space
        self.build_args = {
            "in_channels": in_channels,
            "num_classes": num_classes,
            "input_size": input_size,
        }
        self.net = to_dynamic(space.build(space.largest, **self.build_args))
        self._dynamic = [(n, m) for n, m in self.net.named_modules() if isinstance(m, _DYNAMIC)]
        self._shapes = {k: tuple(v.shape) for k, v in self.net.state_dict().items()}
        self._layouts: OrderedDict[Any, Layout] = OrderedDict()
        self.active_config: Any = space.largest

    @property
    def largest(self) -> Any:
        return self.space.largest

    @property
    def smallest(self) -> Any:
        return self.space.smallest

    def sample(self, rng: random.Random) -> Any:
        """A config drawn uniformly: each parameter of the space independently, from ``rng``."""
        params = {}
        assert self.space.distributions is not None
        for name, distribution in self.space.distributions.items():
            values = distribution_values(distribution)
            if values is None:
                raise ValueError(
                    f"Parameter {name!r} is continuous; a supernet needs countable ones."
                )
            params[name] = rng.choice(values)
        return self.space.config_from_params(params)

    def _template(self, config: Any) -> nn.Module:
        """The space's network for ``config``, on the CPU, leaving torch's random state as it was.

        (A real build takes about half the time of one on the meta device, whose per-operation
        dispatch costs more than the memory.)
        """
        with torch.random.fork_rng(devices=[]):
            return self.space.build(config, **self.build_args)

    def layout(self, config: Any) -> Layout:
        """Each dynamic layer's active sizes for ``config`` (cached for the last 4096 configs).

        Raises:
            ValueError: if ``config``'s network is not a sub-network of the supernet.
        """
        if config in self._layouts:
            self._layouts.move_to_end(config)
            return self._layouts[config]
        template = self._template(config)
        self._check_prefix(config, template)
        modules = dict(template.named_modules())
        layout: Layout = {}
        for name, _ in self._dynamic:
            sizes = _active_sizes(modules[name]) if name in modules else None
            if sizes is not None:
                layout[name] = sizes
        self._layouts[config] = layout
        if len(self._layouts) > 4096:
            self._layouts.popitem(last=False)
        return layout

    def _check_prefix(self, config: Any, template: nn.Module) -> None:
        shapes = {k: tuple(v.shape) for k, v in template.state_dict().items()}
        lengths = {n: len(m) for n, m in template.named_modules() if type(m) is nn.Sequential}
        for key, shape in shapes.items():
            full = self._shapes.get(key)
            if full is None:
                raise ValueError(
                    f"{config} is not a sub-network of the {self.space.name!r} supernet: it has "
                    f"{key!r}, which the supernet lacks."
                )
            if len(full) != len(shape) or any(a > b for a, b in zip(shape, full)):
                raise ValueError(
                    f"{config} is not a sub-network of the {self.space.name!r} supernet: its "
                    f"{key!r} has shape {shape}, beyond the supernet's {full}."
                )
        for key in self._shapes.keys() - shapes.keys():  # left out only as whole trailing blocks
            parts = key.split(".")
            if not any(
                ".".join(parts[:i]) in lengths and int(parts[i]) >= lengths[".".join(parts[:i])]
                for i in range(len(parts) - 1)
                if parts[i].isdigit()
            ):
                raise ValueError(
                    f"{config} is not a sub-network of the {self.space.name!r} supernet: it has "
                    f"no {key!r}, which the supernet would still run."
                )

    def set_active(self, config: Any) -> None:
        """Make :meth:`forward` run the sub-network of ``config``."""
        layout = self.layout(config)
        for name, module in self._dynamic:
            if name in layout:
                module.set_active(*layout[name])
        self.active_config = config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @torch.no_grad()
    def extract(self, config: Any) -> nn.Module:
        """The standalone network of ``config``: exactly ``space.build(config, ...)``, holding
        the supernet's sliced weights and batch-norm statistics, on the supernet's device and in
        its train/eval mode. Later changes to either leave the other as it is.
        """
        model = self._template(config)
        if config not in self._layouts:
            self._check_prefix(config, model)
        state = self.net.state_dict()
        model.load_state_dict(
            {
                k: state[k][tuple(slice(0, n) for n in v.shape)]
                for k, v in model.state_dict().items()
            }
        )
        return model.to(next(self.parameters()).device).train(self.training)
