"""What every trial of a study does: the values a trial uses, taken from the search settings
once (:attr:`SearchSettings.plan`), so that the trial, its training and the strategies take
these values and never the whole settings object."""

from __future__ import annotations

from dataclasses import dataclass, field

from nsearch.search.objectives import DEFAULT_FLOOR_MODE
from nsearch.search.selection import Selection
from nsearch.training.hardware import Hardware

__all__ = ["TrialPlan"]


@dataclass(frozen=True)
class TrialPlan:
    """The values one trial uses.

    Attributes:
        space: the search space's name.
        selection: objective, accuracy floor, budgets and floor rule.
        epochs: the most epochs a trial trains for (a supernet's epochs, for that strategy).
        seed: seeds each trial's weights (``seed + trial number``).
        lr: the peak learning rate of each trial's schedule.
        prune: whether trials report to the study's pruner.
        floor_mode: how the accuracy floor reaches the sampler (``penalty`` or ``constraint``:
            :class:`~nsearch.search.objectives.Scoring`).
        latency_runtime: the runtime each candidate's latency is measured in.
        hardware: the accelerator, devices and precision of each trial's Trainer.
        worker: the worker's index on this machine (0 for one worker).
    """

    space: str
    selection: Selection
    epochs: int
    seed: int
    lr: float
    prune: bool = True
    floor_mode: str = DEFAULT_FLOOR_MODE
    latency_runtime: str = "torch"
    hardware: Hardware = field(default_factory=Hardware)
    worker: int = 0
