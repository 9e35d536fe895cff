"""The supernet strategy: train one weight-sharing supernet, score sub-networks with its weights
in seconds, then confirm the front's best few by training them on their own.

The supernet's checkpoint lives in the run's folder (``supernet.pt``), so a resumed run does not
retrain it; ``--epochs`` sets its training epochs, and the confirmations train with the same
per-trial recipe as ``--strategy train``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import torch

from nsearch.core.metrics import Measured
from nsearch.search import objectives
from nsearch.search.candidates import Candidates
from nsearch.search.objectives import Epoch
from nsearch.search.plan import TrialPlan
from nsearch.search.requeue import ctrl_c_as_interrupt
from nsearch.search.results import TrialRecord, read_records, store
from nsearch.search.selection import Selection, front, is_feasible
from nsearch.search.trial import TrialObjective
from nsearch.search_spaces import get_space
from nsearch.supernet import Supernet
from nsearch.training.lightning import interrupts_as_keyboard_interrupt, quiet_lightning
from nsearch.training.subnet_scoring import SubnetScorer
from nsearch.training.supernet_recipe import SupernetRecipe
from nsearch.training.supernet_training import train_supernet

__all__ = ["CHECKPOINT", "SupernetObjective", "confirm", "load_supernet", "to_confirm"]

log = logging.getLogger(__name__)

CHECKPOINT = "supernet.pt"
RESCORED = "supernet_rescored.json"
# Batch-norm statistics of each sub-network are re-estimated on this many training batches (the
# same ones for every sub-network), and a trial is scored on a fixed stratified subsample of the
# validation split of this many images; the estimated front is scored again on the whole split
# before it is confirmed. Chosen by measurement (experiments/supernet_ranking.py, README): 500
# images and 2 batches rank against standalone training as 1,000 images and 8 batches, or the
# whole split, do (tau 0.33 vs 0.30 and 0.22, intervals of +-0.25), at about a third of the time.
RECALIBRATION_BATCHES = 2
SCORING_IMAGES = 500


def load_supernet(plan: TrialPlan, candidates: Candidates, out: Path, *, progress: bool) -> Any:
    """The space's supernet, trained (or loaded from ``out/supernet.pt``, where a finished
    training left it), on the CPU, for scoring sub-networks.

    Raises:
        KeyboardInterrupt: on Ctrl-C (training resumes at its last finished epoch next time).
    """
    torch.manual_seed(plan.seed)
    c, _, size = candidates.input_shape
    supernet = Supernet(get_space(plan.space), in_channels=c,
                        num_classes=candidates.num_classes, input_size=size)  # fmt: skip
    with quiet_lightning(), interrupts_as_keyboard_interrupt():
        train_supernet(supernet, candidates.data, epochs=plan.epochs,
                       recipe=SupernetRecipe(seed=plan.seed), checkpoint=out / CHECKPOINT,
                       hardware=plan.hardware, progress=progress)  # fmt: skip
    return supernet.cpu().eval()


class SupernetObjective(TrialObjective):
    """A trial scored with the supernet's shared weights: suggest, build, count, check the
    budgets (as for trained trials), then estimate the validation accuracy.

    Latency is measured only where the objective or ``--max-latency-ms`` uses it: elsewhere it
    would be a quarter of an estimate's time, and the trials that confirm the front measure it.
    """

    def __init__(self, plan: TrialPlan, candidates: Candidates, out: Path,
                 supernet: Any) -> None:  # fmt: skip
        super().__init__(plan, candidates, out)
        self.measures_latency = plan.selection.uses_latency
        self.scorer = SubnetScorer(supernet, candidates.data,
                                   recalibration_batches=RECALIBRATION_BATCHES,
                                   images=min(SCORING_IMAGES, candidates.val_images),
                                   seed=plan.seed)  # fmt: skip

    def evaluate(
        self, trial: optuna.Trial, config: Any, model: torch.nn.Module, cost: Epoch
    ) -> tuple[float, ...]:
        estimate = self.scorer(config)
        store(trial, val_correct=estimate.correct, val_images=estimate.images, estimate=True,
              estimate_loss=round(estimate.loss, 5), epochs_trained=0,
              status="complete (supernet estimate)")  # fmt: skip
        return self.finish(trial, Measured(estimate.correct, estimate.images), cost)


def to_confirm(
    records: Sequence[TrialRecord], selection: Selection, count: int
) -> list[TrialRecord]:
    """The estimates to confirm by training: the best feasible estimate first, then the rest of
    the estimated front, evenly spread over its cost, up to ``count`` in all."""
    estimated = front(records, selection, estimates=True)
    feasible = [r for r in estimated
                if is_feasible(dataclasses.replace(r, estimate=False), selection)]  # fmt: skip
    rank_by = objectives.get(selection.objective).rank_by
    chosen: list[TrialRecord] = []
    if feasible:
        chosen.append(max(feasible, key=lambda r: float(getattr(r, rank_by))))
    rest = [r for r in estimated if r not in chosen]
    slots = max(0, count - len(chosen))
    if rest and slots:
        step = max(1, len(rest) / slots)
        chosen += [rest[int(i * step)] for i in range(min(slots, len(rest)))]
    return chosen


def rescore_front(records: list[TrialRecord], plan: TrialPlan, candidates: Candidates,
                  out: Path) -> list[TrialRecord]:  # fmt: skip
    """The records with the estimated front scored again on the whole validation split (kept in
    ``out/supernet_rescored.json``): a subsample's estimate chooses the front, the whole split
    chooses what to confirm."""
    path = out / RESCORED
    kept = json.loads(path.read_text()) if path.is_file() else {}
    estimated = front(records, plan.selection, estimates=True)
    missing = [r for r in estimated if str(r.trial) not in kept]
    if missing:
        supernet = load_supernet(plan, candidates, out, progress=False)
        scorer = SubnetScorer(supernet, candidates.data,
                              recalibration_batches=RECALIBRATION_BATCHES)  # fmt: skip
        space = get_space(plan.space)
        for record in missing:
            result = scorer(space.config_from_params(record.architecture))
            kept[str(record.trial)] = dataclasses.asdict(result)
        path.write_text(json.dumps(kept, indent=2) + "\n")
    return [dataclasses.replace(r, val_correct=kept[str(r.trial)]["correct"],
                                val_images=kept[str(r.trial)]["images"])
            if str(r.trial) in kept else r for r in records]  # fmt: skip


def confirm(study: optuna.Study, plan: TrialPlan, candidates: Candidates, out: Path,
            count: int) -> list[int]:  # fmt: skip
    """Train the chosen estimates on their own, as new trials of the study that say which
    estimate they confirm; estimates confirmed before are not trained again.

    Returns:
        The numbers of the trials trained now.
    """
    records = rescore_front(read_records(study, out), plan, candidates, out)
    done = {r.confirms for r in records if r.confirms is not None and r.state != "fail"}
    chosen = [r for r in to_confirm(records, plan.selection, count) if r.trial not in done]
    for record in chosen:
        study.enqueue_trial(dict(record.architecture), user_attrs={"confirms": record.trial})
    before = len(study.trials)
    if chosen:
        with ctrl_c_as_interrupt():
            study.optimize(TrialObjective(plan, candidates, out), n_trials=len(chosen),
                           catch=(FloatingPointError,))  # fmt: skip
    trained = [t.number for t in study.trials[before:]]
    for number, record in zip(trained, chosen):
        log.info("Trial %d confirmed the estimate of trial %d.", number, record.trial)
    return trained
