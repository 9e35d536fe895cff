"""One trial of a search: suggest an architecture, build it, count it, check the budgets, train it
and record what it measured (under the field names of :class:`~nsearch.search.results.TrialRecord`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import optuna
import torch

from nsearch.complexity import count_complexity
from nsearch.data import ImageDataModule
from nsearch.latency import measure_latency
from nsearch.search import objectives
from nsearch.search.objectives import Epoch
from nsearch.search.results import INTERRUPTED, store
from nsearch.search.selection import budget_excess
from nsearch.search.settings import SearchSettings
from nsearch.search.training import train
from nsearch.search_spaces import get_space
from nsearch.storage import worker_id

__all__ = ["LATENCY_THREADS", "TrialObjective", "trial_folder"]

# Latency is measured with one thread (batch 1, CPU): the most repeatable setting, and the one
# of most small edge devices.
LATENCY_THREADS = 1

log = logging.getLogger(__name__)


def trial_folder(out: Path, number: int) -> Path:
    """Where a trial's checkpoint (and test result) live."""
    return out / "trials" / f"trial_{number:04d}"


class TrialObjective:
    """The function Optuna calls for each trial: suggest, build, count params and MACs, measure
    latency, check the budgets, train, record.

    Returns the objective's values of the best epoch. Raises :class:`optuna.TrialPruned` for a
    network over budget (never trained) or one the pruner stopped before its last epoch, and
    :class:`FloatingPointError` for a trial whose loss turned NaN (the study goes on).
    """

    def __init__(self, settings: SearchSettings, data: ImageDataModule, out: Path) -> None:
        self.settings, self.data, self.out = settings, data, out
        self.space = get_space(settings.space)
        self.objective = objectives.get(settings.objective)

    def build(self, config: Any) -> torch.nn.Module:
        return self.space.build(
            config,
            in_channels=self.data.in_channels,
            num_classes=self.data.num_classes,
            input_size=self.data.input_size,
        )

    def __call__(self, trial: optuna.Trial) -> tuple[float, ...]:
        try:
            store(trial, worker=worker_id())
            config = self.space.suggest(trial)
            torch.manual_seed(self.settings.seed + trial.number)
            model = self.build(config)
            cost = self.measure_cost(trial, model)
            return self.evaluate(trial, config, model, cost)
        except KeyboardInterrupt:
            # Recorded if the storage can still take it (Ctrl-C may have cut a write short); an
            # unrecorded interrupted trial does not count towards --trials either.
            with contextlib.suppress(Exception):
                store(trial, status=INTERRUPTED)
            raise

    def measure_cost(self, trial: optuna.Trial, model: torch.nn.Module) -> Epoch:
        """Count params and MACs, measure latency, record them, and check the budgets.

        Raises:
            optuna.TrialPruned: for a network over budget (it is never trained).
        """
        cost = count_complexity(model, self.data.input_shape)
        latency = measure_latency(model, self.data.input_shape, threads=LATENCY_THREADS)
        store(trial, params=cost.params, macs=cost.macs, latency_ms=latency.median_ms,
              latency_p90_ms=latency.p90_ms)  # fmt: skip
        over = budget_excess(self.settings, cost.params_millions, cost.gmacs, latency.median_ms)
        if over is not None:
            store(trial, status=f"over budget, not trained: {over}")
            raise optuna.TrialPruned(over)
        return Epoch(0.0, cost.params_millions, cost.gmacs, latency.median_ms)

    def evaluate(
        self, trial: optuna.Trial, config: Any, model: torch.nn.Module, cost: Epoch
    ) -> tuple[float, ...]:
        """Train ``model`` and record its best epoch; the objective's values of that epoch."""
        s = self.settings
        folder = trial_folder(self.out, trial.number)
        log_dir = self.out / "logs" / folder.name
        outcome = train(model, trial=trial, settings=s, objective=self.objective, data=self.data,
                        cost=cost, folder=folder, log_dir=log_dir)  # fmt: skip
        store(trial, epochs_trained=len(outcome.epochs), train_seconds=round(outcome.seconds, 2))
        if outcome.failure is not None:
            store(trial, status=f"failed: {outcome.failure}")
            log.warning("Trial %d failed: %s", trial.number, outcome.failure)
            raise FloatingPointError(outcome.failure)
        best = outcome.best
        if best is None or outcome.checkpoint is None:
            raise RuntimeError("Training ended before its first validation.")
        store(
            trial,
            val_correct=best.val_correct,
            val_images=best.val_images,
            best_epoch=best.epoch,
            checkpoint=os.path.relpath(outcome.checkpoint, self.out),
        )
        if outcome.pruned:
            store(trial, status=f"pruned after epoch {len(outcome.epochs) - 1}")
            raise optuna.TrialPruned(f"Trial {trial.number} pruned.")
        store(trial, status="complete")
        accuracy = 100.0 * best.val_correct / best.val_images
        return self.objective.values(dataclasses.replace(cost, accuracy_percent=accuracy),
                                     s.min_accuracy)  # fmt: skip
