"""One trial of a search: suggest an architecture, build it, count it, check the budgets, train it
and record what it measured (under the field names of :class:`~nsearch.search.results.TrialRecord`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

import optuna
import torch

from nsearch.core.metrics import Measured
from nsearch.cost.complexity import count_complexity
from nsearch.cost.latency import measure_latency
from nsearch.search import objectives
from nsearch.search.candidates import Candidates
from nsearch.search.objectives import Epoch, Scoring
from nsearch.search.plan import TrialPlan
from nsearch.search.results import INTERRUPTED, STOPPED, store
from nsearch.search.storage import worker_id
from nsearch.search.trial_training import train
from nsearch.search_spaces import get_space

__all__ = ["LATENCY_THREADS", "Candidates", "TrialObjective", "trial_folder"]

# Latency is measured with one thread (batch 1, CPU): the most repeatable setting, and the one
# of most small edge devices.
LATENCY_THREADS = 1

log = logging.getLogger(__name__)


def trial_folder(out: Path, number: int) -> Path:
    """Where a trial's checkpoint (and test result) live."""
    return out / "trials" / f"trial_{number:04d}"


def measure_cost(model: torch.nn.Module, input_shape: tuple[int, ...], runtime: str,
                 *, latency: bool = True) -> Epoch:  # fmt: skip
    """A network's params, MACs and median latency (batch 1, one CPU thread, in ``runtime``;
    none when ``latency`` is off), in NetScore's units; the model is measured on a CPU copy
    wherever it lives."""
    cost = count_complexity(model, input_shape)
    if not latency:
        return Epoch(0.0, cost.params_millions, cost.gmacs)
    timing = measure_latency(model, input_shape, runtime=runtime, threads=LATENCY_THREADS)
    return Epoch(0.0, cost.params_millions, cost.gmacs, timing.median_ms, timing.p90_ms)


class TrialObjective:
    """The function Optuna calls for each trial: suggest, build, count params and MACs, measure
    latency, check the budgets, train, record.

    Returns the objective's values of the best epoch. Raises :class:`optuna.TrialPruned` for a
    network over budget (never trained) or one the pruner stopped before its last epoch, and
    :class:`FloatingPointError` for a trial whose loss turned NaN (the study goes on).
    """

    # Whether each trial's latency is measured (a strategy whose trials are estimates may measure
    # it only where the objective or a budget uses it).
    measures_latency = True

    def __init__(self, plan: TrialPlan, candidates: Candidates, out: Path) -> None:
        self.plan, self.candidates, self.out = plan, candidates, out
        self.space = get_space(plan.space)
        self.scoring = Scoring(objectives.get(plan.selection.objective),
                               plan.selection.min_accuracy, plan.floor_mode,
                               plan.selection.floor_confidence)  # fmt: skip

    def __call__(self, trial: optuna.Trial) -> tuple[float, ...]:
        try:
            store(trial, worker=worker_id(), status="")  # a retry's status is its own
            config = self.space.suggest(trial)
            torch.manual_seed(self.plan.seed + trial.number)
            model = self.candidates.build(self.space, config)
            cost = self.measure_cost(trial, model)
            return self.evaluate(trial, config, model, cost)
        except KeyboardInterrupt:
            # Recorded if the storage can still take it (Ctrl-C may have cut a write short); an
            # unrecorded interrupted trial does not count towards --trials either.
            with contextlib.suppress(Exception):
                store(trial, status=INTERRUPTED)
            raise
        except (optuna.TrialPruned, FloatingPointError):
            raise  # the trial's own ending: pruned, or failed with its reason
        except Exception as error:  # it stops the run: the trial runs again on resume
            with contextlib.suppress(Exception):
                store(trial, status=f"{STOPPED}{type(error).__name__}: {error}")
            raise

    def measure_cost(self, trial: optuna.Trial, model: torch.nn.Module) -> Epoch:
        """Count params and MACs, measure latency, record them, and check the budgets.

        Raises:
            optuna.TrialPruned: for a network over budget (it is never trained).
        """
        cost = measure_cost(model, self.candidates.input_shape, self.plan.latency_runtime,
                            latency=self.measures_latency)  # fmt: skip
        store(trial, params=round(cost.params_millions * 1e6), macs=round(cost.gmacs * 1e9))
        if cost.latency_ms is not None:
            store(trial, latency_ms=cost.latency_ms, latency_p90_ms=cost.latency_p90_ms,
                  latency_runtime=self.plan.latency_runtime)  # fmt: skip
        over = self.plan.selection.budgets.excess(cost.params_millions, cost.gmacs,
                                                  cost.latency_ms)  # fmt: skip
        if over is not None:
            store(trial, status=f"over budget, not trained: {over}")
            raise optuna.TrialPruned(over)
        return cost

    def finish(self, trial: optuna.Trial, measured: Measured, cost: Epoch) -> tuple[float, ...]:
        """The objective's values of a measured accuracy, and the floor's constraint."""
        epoch = Epoch(measured.percent, cost.params_millions, cost.gmacs, cost.latency_ms)
        constraint = self.scoring.constraint(measured)
        if constraint is not None:
            trial.set_constraint("accuracy_floor", constraint)
        return self.scoring.values(epoch)

    def evaluate(
        self, trial: optuna.Trial, config: Any, model: torch.nn.Module, cost: Epoch
    ) -> tuple[float, ...]:
        """Train ``model`` and record its best epoch; the objective's values of that epoch."""
        folder = trial_folder(self.out, trial.number)
        prunes = self.plan.prune and self.scoring.objective.prunes
        outcome = train(model, candidates=self.candidates, epochs=self.plan.epochs,
                        score=self.scoring.epoch_score, cost=cost, folder=folder,
                        log_dir=self.out / "logs" / folder.name,
                        trial=trial if prunes else None, hardware=self.plan.hardware,
                        worker=self.plan.worker)  # fmt: skip
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
            fidelity=self.candidates.fidelity(len(outcome.epochs)),
        )
        if outcome.pruned:
            store(trial, status=f"pruned after epoch {len(outcome.epochs) - 1}")
            raise optuna.TrialPruned(f"Trial {trial.number} pruned.")
        store(trial, status="complete")
        return self.finish(trial, Measured(best.val_correct, best.val_images), cost)
