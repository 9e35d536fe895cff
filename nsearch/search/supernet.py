"""The supernet strategy: train one weight-sharing supernet, score sub-networks with its weights
in seconds, then confirm the front's best few by training them on their own.

The supernet's checkpoint lives in the run's folder (``supernet.pt``), so a resumed run does not
retrain it; ``--epochs`` sets its training epochs, and the confirmations train with the same
per-trial recipe as ``--strategy train``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import torch

from nsearch.data import ImageDataModule
from nsearch.search import objectives
from nsearch.search.results import TrialRecord, read_records, store
from nsearch.search.selection import front, is_feasible
from nsearch.search.settings import SearchSettings
from nsearch.search.training import interrupts_as_keyboard_interrupt, quiet_lightning
from nsearch.search.trial import TrialObjective
from nsearch.search_spaces import get_space

__all__ = ["CHECKPOINT", "SupernetObjective", "confirm", "load_supernet", "to_confirm"]

log = logging.getLogger(__name__)

CHECKPOINT = "supernet.pt"
# Batch-norm statistics of each sub-network are re-estimated on this many training batches.
RECALIBRATION_BATCHES = 8


def load_supernet(
    settings: SearchSettings, data: ImageDataModule, out: Path, *, progress: bool
) -> Any:
    """The space's supernet, trained (or loaded from ``out/supernet.pt``, where a finished
    training left it), on the CPU, for scoring sub-networks.

    Raises:
        KeyboardInterrupt: on Ctrl-C (training resumes at its last finished epoch next time).
    """
    from nsearch.supernet import train_supernet

    space = get_space(settings.space)
    assert space.supernet is not None, "the supernet strategy checks its space first"
    torch.manual_seed(settings.seed)
    supernet = space.supernet(in_channels=data.in_channels, num_classes=data.num_classes,
                              input_size=data.input_size)  # fmt: skip
    with quiet_lightning(), interrupts_as_keyboard_interrupt():
        train_supernet(supernet, data, epochs=settings.epochs, seed=settings.seed,
                       checkpoint=out / CHECKPOINT, progress=progress)  # fmt: skip
    return supernet.cpu().eval()


class SupernetObjective(TrialObjective):
    """A trial scored with the supernet's shared weights: suggest, build, count, measure latency,
    check the budgets (as for trained trials), then estimate the validation accuracy."""

    def __init__(self, settings: SearchSettings, data: ImageDataModule, out: Path,
                 supernet: Any) -> None:  # fmt: skip
        super().__init__(settings, data, out)
        self.supernet = supernet

    def evaluate(
        self, trial: optuna.Trial, config: Any, model: torch.nn.Module, cost: objectives.Epoch
    ) -> tuple[float, ...]:
        from nsearch.supernet import evaluate_subnet

        correct, total = evaluate_subnet(self.supernet, config, self.data, split="val",
                                         recalibration_batches=RECALIBRATION_BATCHES)  # fmt: skip
        store(trial, val_correct=correct, val_images=total, estimate=True, epochs_trained=0,
              status="complete (supernet estimate)")  # fmt: skip
        epoch = objectives.Epoch(100.0 * correct / total, cost.params_millions, cost.gmacs,
                                 cost.latency_ms)  # fmt: skip
        return self.objective.values(epoch, self.settings.min_accuracy)


def to_confirm(records: Sequence[TrialRecord], settings: SearchSettings) -> list[TrialRecord]:
    """The estimates to confirm by training: the best feasible estimate first, then the rest of
    the estimated front, evenly spread over its cost, up to ``settings.confirm`` in all."""
    estimated = front(records, settings, estimates=True)
    feasible = [r for r in estimated if _feasible_estimate(r, settings)]
    rank_by = objectives.get(settings.objective).rank_by
    chosen: list[TrialRecord] = []
    if feasible:
        chosen.append(max(feasible, key=lambda r: float(getattr(r, rank_by))))
    rest = [r for r in estimated if r not in chosen]
    slots = max(0, settings.confirm - len(chosen))
    if rest and slots:
        step = max(1, len(rest) / slots)
        chosen += [rest[int(i * step)] for i in range(min(slots, len(rest)))]
    return chosen


def _feasible_estimate(record: TrialRecord, settings: SearchSettings) -> bool:
    import dataclasses

    return is_feasible(dataclasses.replace(record, estimate=False), settings)


def confirm(study: optuna.Study, settings: SearchSettings, data: ImageDataModule,
            out: Path) -> list[int]:  # fmt: skip
    """Train the chosen estimates on their own, as new trials of the study that say which
    estimate they confirm; estimates confirmed before are not trained again.

    Returns:
        The numbers of the trials trained now.
    """
    records = read_records(study, out)
    done = {r.confirms for r in records if r.confirms is not None and r.state != "fail"}
    chosen = [r for r in to_confirm(records, settings) if r.trial not in done]
    trained = []
    objective = TrialObjective(settings, data, out)
    for record in chosen:
        study.enqueue_trial(dict(record.architecture), user_attrs={"confirms": record.trial})
        study.optimize(objective, n_trials=1, catch=(FloatingPointError,))
        trained.append(study.trials[-1].number)
        log.info("Trial %d confirmed the estimate of trial %d.", trained[-1], record.trial)
    return trained
