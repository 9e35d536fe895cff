"""The search: an Optuna study over a search space, each trial trained with Lightning.

One concept per module, in the manner of ``optuna/study/``:

- :mod:`~nsearch.search.settings`: :class:`SearchSettings`, each setting declared once;
- :mod:`~nsearch.search.objectives`: every difference between objectives, in one table;
- :mod:`~nsearch.search.trial`: one trial (suggest, build, count, budgets, train, record), with
  :mod:`~nsearch.search.training` for the Lightning fit;
- :mod:`~nsearch.search.study`: creating or joining the Optuna study;
- :mod:`~nsearch.search.runner`: :func:`run_study`: the loop, workers, progress, Ctrl-C;
- :mod:`~nsearch.search.results`: the results schema, :class:`TrialRecord`;
- :mod:`~nsearch.search.run_info`: ``run.json`` and :func:`open_run`, the one way to open a
  run's study;
- :mod:`~nsearch.search.selection`: feasibility, the Pareto front, the best feasible trial;
- :mod:`~nsearch.search.evaluation` and :mod:`~nsearch.search.outputs`: test accuracy and the
  files a run writes (the report itself is :mod:`nsearch.report`).

Lightning is imported only by the modules that train; reading results does not need it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nsearch._lazy import lazy_names

if TYPE_CHECKING:
    from nsearch.search.candidates import Candidates
    from nsearch.search.data_setup import make_candidates
    from nsearch.search.evaluation import test_front
    from nsearch.search.results import TrialRecord, read_records
    from nsearch.search.run_info import Run, RunInfo, open_run
    from nsearch.search.runner import StudyResult, run_study
    from nsearch.search.selection import (
        Budgets,
        Selection,
        best_feasible,
        floor_met,
        front,
        is_feasible,
    )
    from nsearch.search.settings import SearchSettings
    from nsearch.search.study import create_study, default_study_name
    from nsearch.search.trial import measure_cost
    from nsearch.search.trial_training import train

__all__ = ["Budgets", "Candidates", "Run", "RunInfo", "SearchSettings", "Selection", "StudyResult",
           "TrialRecord", "best_feasible", "create_study", "default_study_name", "floor_met",
           "front", "is_feasible", "make_candidates", "measure_cost", "open_run",
           "read_records", "run_study", "test_front", "train"]  # fmt: skip

_HOMES = {
    "Budgets": "selection",
    "Candidates": "candidates",
    "Run": "run_info",
    "RunInfo": "run_info",
    "SearchSettings": "settings",
    "Selection": "selection",
    "StudyResult": "runner",
    "TrialRecord": "results",
    "best_feasible": "selection",
    "create_study": "study",
    "default_study_name": "study",
    "floor_met": "selection",
    "front": "selection",
    "is_feasible": "selection",
    "make_candidates": "data_setup",
    "measure_cost": "trial",
    "open_run": "run_info",
    "read_records": "results",
    "run_study": "runner",
    "test_front": "evaluation",
    "train": "trial_training",
}


__getattr__ = lazy_names("nsearch.search", _HOMES)
