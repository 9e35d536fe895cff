"""Creating (or joining) the Optuna study of a search: directions, sampler, pruner, and the check
that a study is only ever continued with the settings its trials were trained with."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna

from nsearch.search import objectives
from nsearch.search.run_info import check_same_identity
from nsearch.search.settings import SearchSettings

__all__ = [
    "SAMPLERS",
    "SETTINGS_ATTR",
    "create_study",
    "default_study_name",
    "make_pruner",
    "make_sampler",
]

# The study's own record of its settings, so that workers and machines joining it are checked.
SETTINGS_ATTR = "nsearch_settings"


def default_study_name(settings: SearchSettings) -> str:
    return f"nsearch-{settings.space}-{settings.data}-{settings.objective}"


@dataclass(frozen=True)
class Sampler:
    """A ``--sampler`` choice: how to make it from a seed (and whether the study has several
    objectives), and how many of a new study's first trials to choose across the cost range
    first (:func:`~nsearch.search.startup.stratified_start`)."""

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
    # Small generations: a search trains tens of networks, not thousands.
    "nsga2": Sampler(lambda seed, multi: optuna.samplers.NSGAIISampler(seed=seed,
                                                                       population_size=8)),
}  # fmt: skip


def make_sampler(settings: SearchSettings, worker: int) -> optuna.samplers.BaseSampler:
    """The study's sampler; each worker gets its own seed."""
    multi = len(objectives.get(settings.objective).directions) > 1
    return SAMPLERS[settings.sampler].make(settings.seed + 1000 * worker, multi)


PRUNERS: dict[str, Callable[[], optuna.pruners.BasePruner]] = {
    "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
    "halving": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1,
                                                              reduction_factor=3),
    "none": optuna.pruners.NopPruner,
}  # fmt: skip


def make_pruner(settings: SearchSettings) -> optuna.pruners.BasePruner:
    if objectives.get(settings.objective).prunes:
        return PRUNERS[settings.pruner]()
    return optuna.pruners.NopPruner()


def create_study(
    settings: SearchSettings,
    storage: str | optuna.storages.BaseStorage,
    study_name: str,
    *,
    worker: int = 0,
    build_args: dict[str, int] | None = None,
) -> optuna.Study:
    """Create the study, or join it if it exists. A new study of a sampler with a cost-aware
    start gets its first trials queued (``build_args``: the data's channels, classes and size).

    Raises:
        ValueError: if a study of that name exists with other objectives, or was searched with
            other training settings.
    """
    objective = objectives.get(settings.objective)
    directions: list[Any] = list(objective.directions)
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=study_name,
            directions=directions,
            sampler=make_sampler(settings, worker),
            pruner=make_pruner(settings),
            load_if_exists=True,
        )
    except ValueError:  # Optuna's own check of existing directions
        study = optuna.load_study(study_name=study_name, storage=storage)
    wanted = [optuna.study.StudyDirection[d.upper()] for d in directions]
    if study.directions != wanted:
        raise ValueError(
            f"The study {study_name!r} already exists with {len(study.directions)} objective(s), "
            f"but --objective {settings.objective} needs {len(directions)}; choose another "
            "--study-name."
        )
    recorded = study.user_attrs.get(SETTINGS_ATTR)
    if recorded is None:
        study.set_user_attr(SETTINGS_ATTR, settings.to_dict())
        _enqueue_cost_start(study, settings, build_args)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(list(objective.metric_names))
    else:
        check_same_identity(
            SearchSettings.from_dict(recorded),
            settings,
            f"The study {study_name!r}",
            "choose another --study-name (or a new --out) to start a new study",
        )
    return study


def _enqueue_cost_start(study: optuna.Study, settings: SearchSettings,
                        build_args: dict[str, int] | None) -> None:  # fmt: skip
    from nsearch.search.startup import stratified_start
    from nsearch.search_spaces import get_space

    k = SAMPLERS[settings.sampler].cost_start
    if not k or build_args is None or study.trials:
        return
    for params in stratified_start(get_space(settings.space), k, seed=settings.seed,
                                   build_args=build_args):  # fmt: skip
        study.enqueue_trial(params)
