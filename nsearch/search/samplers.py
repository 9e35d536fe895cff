"""The ``--sampler`` and ``--pruner`` choices, each in one table.

A sampler is made from a seed (each worker gets its own) and whether the study has several
objectives; ``cost_start`` says how many of a new study's first trials are chosen across the
space's cost range (:func:`~nsearch.search.startup.stratified_start`) instead of at random.
Samplers read each finished trial's constraint (the accuracy floor, where the study's floor is a
constraint: ``trial.set_constraint``) and prefer feasible trials.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import optuna

__all__ = ["PRUNERS", "SAMPLERS", "Sampler", "make_pruner", "make_sampler"]


@dataclass(frozen=True)
class Sampler:
    """A ``--sampler`` choice: how to make it, and how many start-up trials spread over cost."""

    make: Callable[[int, bool], optuna.samplers.BaseSampler]
    cost_start: int = 0


def _tpe(seed: int, multi: bool) -> optuna.samplers.BaseSampler:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=5, multivariate=not multi)


SAMPLERS: dict[str, Sampler] = {
    "tpe": Sampler(_tpe),
    # TPE whose five start-up trials are spread over the cost range rather than random.
    "cost-tpe": Sampler(_tpe, cost_start=5),
    "random": Sampler(lambda seed, multi: optuna.samplers.RandomSampler(seed=seed)),
    # Small generations: a search trains tens of networks, not thousands (at 20 trials, a
    # population of 4 breeds five generations; one of 8 barely leaves its random first).
    "nsga2": Sampler(lambda seed, multi: optuna.samplers.NSGAIISampler(seed=seed,
                                                                       population_size=4)),
}  # fmt: skip


def make_sampler(name: str, seed: int, *, multi: bool) -> optuna.samplers.BaseSampler:
    """The sampler ``name``, seeded (a worker passes ``seed + 1000 * worker``)."""
    return SAMPLERS[name].make(seed, multi)


PRUNERS: dict[str, Callable[[], optuna.pruners.BasePruner]] = {
    "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
    "halving": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1,
                                                              reduction_factor=3),
    "none": optuna.pruners.NopPruner,
}  # fmt: skip


def make_pruner(name: str, *, prunes: bool) -> optuna.pruners.BasePruner:
    """The pruner ``name``, or none where the objective cannot prune (several objectives)."""
    return PRUNERS[name]() if prunes else optuna.pruners.NopPruner()
