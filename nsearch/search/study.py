"""Creating (or joining) the Optuna study of a search: directions, sampler, pruner, and the check
that a study is only ever continued with the settings its trials were trained with."""

from __future__ import annotations

import warnings
from typing import Any

import optuna

from nsearch.search import objectives
from nsearch.search.fingerprint import DataFingerprint, data_differences
from nsearch.search.run_info import check_same_identity
from nsearch.search.samplers import SAMPLERS, make_pruner, make_sampler
from nsearch.search.settings import SearchSettings
from nsearch.search.startup import stratified_start
from nsearch.search_spaces import get_space

__all__ = ["DATA_ATTR", "SETTINGS_ATTR", "create_study", "data_name", "default_study_name"]

# The study's own record of its settings and data, so that workers and machines joining it (each
# with its own --out and its own copy of the data) are checked.
SETTINGS_ATTR = "nsearch_settings"
DATA_ATTR = "nsearch_data_fingerprint"


def data_name(settings: SearchSettings, datamodule_object: Any = None) -> str:
    """What the search's data is called in its study name and report: the name in the
    ``--datamodule`` import path, the class of a datamodule given as an object, else ``--data``.

    Example::

        >>> data_name(SearchSettings(datamodule="user_recipe:blob_data"))
        'blob_data'
        >>> data_name(SearchSettings())
        'embedded'
    """
    if datamodule_object is not None:  # given as an object, it is the data
        return type(datamodule_object).__name__
    if settings.datamodule is not None:
        return settings.datamodule.rpartition(":")[2]
    return settings.data


def default_study_name(settings: SearchSettings, datamodule_object: Any = None) -> str:
    """The study name of a new run (a resumed run keeps the one in its ``run.json``)."""
    data = data_name(settings, datamodule_object)
    return f"nsearch-{settings.space}-{data}-{settings.objective}"


def create_study(
    settings: SearchSettings,
    storage: str | optuna.storages.BaseStorage,
    study_name: str,
    *,
    worker: int = 0,
    build_args: dict[str, int] | None = None,
    fingerprint: DataFingerprint | None = None,
) -> optuna.Study:
    """Create the study, or join it if it exists. A new study of a sampler with a cost-aware
    start gets its first trials queued (``build_args``: the data's channels, classes and size).
    The data's ``fingerprint`` is recorded in a new study and compared with a joined one's.

    Raises:
        ValueError: if a study of that name exists with other objectives, or was searched with
            other training settings or on other data.
    """
    objective = objectives.get(settings.objective)
    directions: list[Any] = list(objective.directions)
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=study_name,
            directions=directions,
            sampler=make_sampler(settings.sampler, settings.seed + 1000 * worker,
                                 multi=len(directions) > 1),
            pruner=make_pruner(settings.pruner, prunes=objective.prunes),
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
    _check_same_data(study, study_name, fingerprint)
    return study


def _check_same_data(study: optuna.Study, study_name: str,
                     fingerprint: DataFingerprint | None) -> None:  # fmt: skip
    """Record the data's fingerprint in a study that has none; refuse data other than the one
    recorded (the same images in another folder, as on another machine, are the same data)."""
    if fingerprint is None:  # a worker process: its parent has checked
        return
    recorded = study.user_attrs.get(DATA_ATTR)
    if recorded is None:
        study.set_user_attr(DATA_ATTR, fingerprint.to_dict())
        return
    changes = data_differences(DataFingerprint.from_dict(recorded), fingerprint)
    if changes:
        raise ValueError(
            f"The study {study_name!r} was searched on other data ({'; '.join(changes)}), so its "
            "trials could not be compared with new ones; choose another --study-name (or a new "
            "--out) for this data."
        )


def _enqueue_cost_start(study: optuna.Study, settings: SearchSettings,
                        build_args: dict[str, int] | None) -> None:  # fmt: skip
    k = SAMPLERS[settings.sampler].cost_start
    if not k or build_args is None or study.trials:
        return
    for params in stratified_start(get_space(settings.space), k, seed=settings.seed,
                                   build_args=build_args):  # fmt: skip
        study.enqueue_trial(params)
