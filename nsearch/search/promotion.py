"""Multi-fidelity search: the trials of the first rung (``--epochs`` on ``--train-limit``
images) are cheap; the best few are trained again, from scratch, at each later rung of
``--rungs`` (``EPOCHSxIMAGES``, the last one the final recipe's epochs on every training
image), so that the front, the pick and the floor are decided at the accuracy that ships.

What is promoted from a rung: its best feasible trial (the floor judged at that rung's accuracy,
which only grows with fidelity), else its most accurate front member, then its neighbours on the
rung's front, alternately cheaper and dearer, ``--promote`` in all (successive halving's rule, with
the Pareto front in place of a single score: NetScore is ruled by cost, so a rung's front holds
the candidates a higher fidelity can reorder). A promoted trial says which trial it
``promotes``; it does not count towards ``--trials``, and a resumed run trains only the
promotions still missing. Selection ranks only the highest fidelity reached
(:func:`~nsearch.search.selection.at_top_fidelity`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna

from nsearch.search.candidates import Candidates
from nsearch.search.options import parse_rungs
from nsearch.search.results import TrialRecord, read_records
from nsearch.search.selection import Selection, best_feasible, front
from nsearch.search.settings import SearchSettings
from nsearch.search.trial import TrialObjective

__all__ = ["promote", "to_promote"]

log = logging.getLogger(__name__)


def to_promote(records: Sequence[TrialRecord], selection: Selection,
               count: int) -> list[TrialRecord]:  # fmt: skip
    """Of one rung's trained trials, the ``count`` to train at the next rung: the best feasible
    (else the most accurate on the rung's front), then its front neighbours by cost."""
    rung_front = front(records, selection)
    if not rung_front:
        return []
    best = best_feasible(records, selection)
    start = rung_front.index(best) if best in rung_front else 0
    chosen = [rung_front[start]]
    for step in range(1, len(rung_front)):
        for index in (start + step, start - step):  # the front is sorted by accuracy (cost)
            if 0 <= index < len(rung_front) and len(chosen) < count:
                chosen.append(rung_front[index])
    if best is not None and best not in rung_front:
        chosen = [best, *chosen[: count - 1]]
    return chosen[:count]


def promote(study: optuna.Study, settings: SearchSettings, out: Path, candidates: Candidates,
            datamodule: Any = None, module: Any = None) -> list[int]:  # fmt: skip
    """Train the promotions of every rung of ``settings.rungs`` that are not trained yet.

    Returns:
        The numbers of the trials trained now.
    """
    from nsearch.search.data_setup import make_candidates

    label = candidates.fidelity(settings.epochs)
    trained: list[int] = []
    for epochs, images in parse_rungs(settings.rungs):
        rung_settings = dataclasses.replace(settings, epochs=epochs, train_limit=images)
        if images != settings.train_limit:
            candidates = make_candidates(rung_settings, out, datamodule=datamodule,
                                         module=module)  # fmt: skip
        records = read_records(study, out)
        below = [r for r in records if r.trained and r.fidelity == label]
        label = candidates.fidelity(epochs)
        done = {r.promotes for r in records
                if r.promotes is not None and r.fidelity == label}  # fmt: skip
        chosen = [r for r in to_promote(below, settings.selection, settings.promote)
                  if r.trial not in done]  # fmt: skip
        for record in chosen:
            study.enqueue_trial(dict(record.architecture), user_attrs={"promotes": record.trial})
        if not chosen:
            continue
        plan = dataclasses.replace(rung_settings.plan(), prune=False)
        before = len(study.trials)
        study.optimize(TrialObjective(plan, candidates, out), n_trials=len(chosen),
                       catch=(FloatingPointError,))  # fmt: skip
        trained += [t.number for t in study.trials[before:]]
        log.info("Promoted trials %s to %s.", [r.trial for r in chosen], label)
    return trained
