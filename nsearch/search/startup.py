"""A cost-aware start: the first trials of a study spread over the space's cost range.

A network's size is known before it trains, for free. Instead of the sampler's random start-up
trials (which, in a stage-wise space, mostly land near the middle of the cost range), a new study
starts with networks chosen across the range of parameter counts, the space's smallest first:
NetScore above a floor rewards the cheapest network that reaches it, and the Pareto front wants
both ends. The sampler then goes on from what these trials measured.
"""

from __future__ import annotations

import math
import random
from typing import Any

import torch

from nsearch.cost.complexity import count_params
from nsearch.search_spaces import SearchSpace, distribution_values

__all__ = ["DRAWS", "stratified_start"]

# Random configs whose parameter counts are ranked to pick the start from.
DRAWS = 200


def _draw(space: SearchSpace, rng: random.Random) -> Any:
    assert space.distributions is not None
    params = {}
    for name, distribution in space.distributions.items():
        values = distribution_values(distribution)
        assert values is not None
        params[name] = rng.choice(values)
    return space.config_from_params(params)


def stratified_start(space: SearchSpace, k: int, *, seed: int,
                     build_args: dict[str, int]) -> list[dict[str, Any]]:  # fmt: skip
    """``k`` configs (as Optuna parameters) spread evenly over log(params): the space's smallest
    network, then the nearest of ``DRAWS`` seeded random draws to evenly spaced quantiles of
    their log-params. Empty for a space without countable distributions.
    """
    if k < 1 or space.distributions is None or space.size() is None:
        return []
    rng = random.Random(seed)
    state = torch.random.get_rng_state()
    try:
        drawn = [_draw(space, rng) for _ in range(DRAWS)]
        sizes = [math.log(count_params(space.build(c, **build_args))) for c in drawn]
    finally:
        torch.random.set_rng_state(state)
    order = sorted(range(len(drawn)), key=sizes.__getitem__)
    chosen = [space.smallest] if space.smallest is not None else []
    rest = k - len(chosen)
    for i in range(rest):
        quantile = (i + 1) / (rest + 1)
        candidate = drawn[order[round(quantile * (len(order) - 1))]]
        if candidate not in chosen:
            chosen.append(candidate)
    return [space.params_of(config) for config in chosen[:k]]
