"""Multi-fidelity search: the trials of the first rung (``--epochs`` on ``--train-limit``
images) are cheap; a few are trained again, from scratch, at each later rung of ``--rungs``
(``EPOCHSxIMAGES``, the last one the final recipe's epochs on every training image), so that the
front, the pick and the floor are decided at the accuracy that ships.

What is promoted from a rung is found by bisection along the rung's front, least accurate (and
cheapest) first. NetScore is ruled by cost, so the pick is the cheapest network that clears the
floor, and the floor is judged at the next rung's accuracy, which only grows with fidelity:
the rung's least accurate member that already clears it bounds the search from above (else the
front's most accurate), and each promotion halves the stretch of the front where the crossing can
still be, from the next rung's verdicts on the members promoted so far. Once the crossing is
found, the rest of ``--promote`` go to its neighbours, alternately cheaper and dearer, so that the
pick comes with front neighbours trained alike. A resumed run replays the same bisection from the
trials already promoted and trains only what is still missing.

A promoted trial says which trial it ``promotes``; it does not count towards ``--trials``.
Selection ranks only the highest fidelity reached
(:func:`~nsearch.search.selection.at_top_fidelity`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nsearch.search.candidates import Candidates
from nsearch.search.options import parse_rungs
from nsearch.search.requeue import cancel_waiting, ctrl_c_as_interrupt
from nsearch.search.results import NOT_RUN, TrialRecord, read_records
from nsearch.search.selection import Selection, front, is_feasible
from nsearch.search.settings import SearchSettings
from nsearch.search.trial import TrialObjective

__all__ = ["next_promotion", "promote"]

log = logging.getLogger(__name__)

LEFT_WAITING = NOT_RUN + "still waiting when the search went on to promote"


def next_promotion(below: Sequence[TrialRecord], promoted: Mapping[int, TrialRecord],
                   selection: Selection, count: int) -> TrialRecord | None:  # fmt: skip
    """The next of one rung's trials (``below``) to train at the next rung, or None when
    ``count`` are trained or no front member is left.

    Args:
        below: the rung's trained trials.
        promoted: the next rung's trials so far, by the number of the trial each promotes.
        selection: the floor and budgets; feasibility is judged at each rung's own accuracy.
        count: how many to promote in all.
    """
    order = front(below, selection)[::-1]  # least accurate (cheapest) first
    if not order or len(promoted) >= count:
        return None
    rung_feasible = [i for i, r in enumerate(order) if is_feasible(r, selection)]
    low, high = 0, rung_feasible[0] if rung_feasible else len(order) - 1
    while low < high:  # the cheapest member that clears the floor at the next rung is in here
        middle = (low + high) // 2
        record = promoted.get(order[middle].trial)
        if record is None:
            return order[middle]
        if is_feasible(record, selection):
            high = middle
        else:
            low = middle + 1
    for step in range(len(order)):  # the crossing, then its neighbours
        for index in (low - step, low + step) if step else (low,):
            if 0 <= index < len(order) and order[index].trial not in promoted:
                return order[index]
    return None


def _is_promotion(trial: FrozenTrial) -> bool:
    return trial.user_attrs.get("promotes") is not None


def _queued(study: optuna.Study, number: int) -> bool:
    """Whether a promotion of trial ``number`` is waiting to run already."""
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    return any(t.user_attrs.get("promotes") == number for t in waiting)


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
        objective = TrialObjective(dataclasses.replace(rung_settings.plan(), prune=False),
                                   candidates, out)  # fmt: skip
        below_label, label = label, candidates.fidelity(epochs)
        while True:
            records = read_records(study, out)
            below = [r for r in records if r.trained and r.fidelity == below_label]
            promoted = {r.promotes: r for r in records
                        if r.promotes is not None and r.fidelity == label}  # fmt: skip
            chosen = next_promotion(below, promoted, settings.selection, settings.promote)
            if chosen is None:
                break
            # What the first rung left queued (its cost-spread start, cut short by a budget or
            # a deadline) would run in this promotion's place. Promotions stay queued: another
            # machine's, or this one's own where Ctrl-C stopped the run before it started.
            cancel_waiting(study, LEFT_WAITING, keep=_is_promotion)
            if not _queued(study, chosen.trial):
                study.enqueue_trial(dict(chosen.architecture),
                                    user_attrs={"promotes": chosen.trial})  # fmt: skip
            before = len(study.trials)
            with ctrl_c_as_interrupt():
                study.optimize(objective, n_trials=1, catch=(FloatingPointError,))
            trained += [t.number for t in study.trials[before:]]
            log.info("Promoted trial %d to %s.", chosen.trial, label)
    return trained
