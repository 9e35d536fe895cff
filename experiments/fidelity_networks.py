"""The fidelity study's networks: the ``mobilenet`` space's smallest and largest network, members
of the hand-scaled ``mobilenet-uniform`` family, and draws spread over the space's log-MACs, in an
order whose every prefix is spread over cost (a study cut short is a smaller study of the same
kind)."""

from __future__ import annotations

import argparse
import random
from typing import Any

import torch
from supernet_ranking import spread_over_log_macs

from nsearch.cost import count_complexity
from nsearch.search_spaces import get_space
from nsearch.supernet import Supernet

SPACE = "mobilenet"
# Hand-scaled members (width, depth) of mobilenet-uniform, spread over its cost range.
UNIFORM = ((0.25, 1.0), (0.35, 1.0), (0.5, 0.5), (0.5, 1.0), (0.75, 1.0), (1.0, 0.5))


def spread_order(count: int) -> list[int]:
    """Indices 0..count-1 in an order whose every prefix is spread over the range (the two ends
    first, then the middle, then the quarters...).

    Example::

        >>> spread_order(5)
        [0, 4, 2, 1, 3]
    """
    order = [0, count - 1] if count > 1 else [0]
    step = 2
    while len(order) < count:
        for i in range(1, step, 2):
            j = round(i * (count - 1) / step)
            if j not in order:
                order.append(j)
        step *= 2
        if step > 2 * count:
            order += [j for j in range(count) if j not in order]
    return order


def architectures(args: argparse.Namespace, data: Any) -> list[dict[str, Any]]:
    """The networks of the study, in study order: uniform members and the space's ends first,
    then draws spread over log-MACs."""
    space, uniform = get_space(SPACE), get_space(f"{SPACE}-uniform")
    shape = data.input_shape

    def entry(space_name: str, config: Any) -> dict[str, Any]:
        s = get_space(space_name)
        cost = count_complexity(build(s, config, data), shape)
        return {"space": space_name, "architecture": s.params_of(config),
                "description": s.describe(config), "params": cost.params, "macs": cost.macs}

    members = [entry(uniform.name, uniform.config_from_params({"width": w, "depth": d}))
               for w, d in UNIFORM[: args.uniform]]  # fmt: skip
    rng = random.Random(args.seed)
    c, _, size = shape
    supernet = Supernet(space, in_channels=c, num_classes=data.num_classes, input_size=size)
    draws = [space.smallest, space.largest, *(supernet.sample(rng) for _ in range(args.draws))]
    draws = list(dict.fromkeys(draws))
    with torch.random.fork_rng(devices=[]):
        macs = [count_complexity(build(space, c, data), shape).macs for c in draws]
    rest = max(2, args.architectures - len(members))
    chosen = [draws[i] for i in spread_over_log_macs(macs, rest)]
    stagewise = [entry(SPACE, c) for c in chosen]
    ordered = [stagewise[i] for i in spread_order(len(stagewise))]
    return ordered[:2] + members + ordered[2:]


def build(space: Any, config: Any, data: Any) -> torch.nn.Module:
    c, _, size = data.input_shape
    return space.build(config, in_channels=c, num_classes=data.num_classes, input_size=size)
