"""Running a search: checks, the run folder, the study, progress, Ctrl-C, and the results it
leaves (Optuna's loop and its worker processes: :mod:`nsearch.search.workers`)."""

from __future__ import annotations

import dataclasses
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from nsearch.cost.extras import check_runtime
from nsearch.search import outputs
from nsearch.search.candidates import Candidates, ModuleFactory
from nsearch.search.data_setup import make_candidates
from nsearch.search.options import settled_image_sizes
from nsearch.search.progress import Progress
from nsearch.search.promotion import promote
from nsearch.search.results import TrialRecord, finished_count
from nsearch.search.run_info import RUN_FILE, RunInfo, check_same_identity, relative_storage
from nsearch.search.settings import SearchSettings
from nsearch.search.stop import Deadline
from nsearch.search.storage import open_storage
from nsearch.search.strategies import STRATEGIES
from nsearch.search.study import create_study, default_study_name
from nsearch.search.trial import measure_cost
from nsearch.search.trial_training import check_recipe
from nsearch.search.workers import optimize, run_workers
from nsearch.search_spaces import get_space

__all__ = ["StudyResult", "run_study"]


@dataclass
class StudyResult:
    """What :func:`run_study` leaves: the study, every trial's record, the front (with test
    accuracy) and the best feasible trial."""

    study: optuna.Study
    records: list[TrialRecord]
    front: list[TrialRecord]
    best: TrialRecord | None
    out: Path
    settings: SearchSettings
    interrupted: bool = False

    def table(self) -> str:
        from nsearch.search.report import markdown_table

        estimates = {r.trial: r for r in self.records if r.estimate}
        return markdown_table(self.front, self.best, get_space(self.settings.space),
                              self.settings.min_accuracy, estimates)  # fmt: skip


def check_budgets_admit_something(settings: SearchSettings, candidates: Candidates) -> None:
    """Refuse budgets that even the space's smallest network exceeds."""
    space = get_space(settings.space)
    budgets = settings.selection.budgets
    if space.smallest is None or budgets == type(budgets)():
        return
    model = candidates.build(space, space.smallest)
    cost = measure_cost(model, candidates.input_shape, settings.plan().latency_runtime)
    over = budgets.excess(cost.params_millions, cost.gmacs, cost.latency_ms)
    if over is not None:
        raise ValueError(
            f"No network of space {settings.space!r} fits the budget: even the smallest has {over}."
        )


def default_storage(out: Path, workers: int) -> str:
    """A SQLite file in ``out`` for one worker; a journal file (which many processes can share)
    for several."""
    if workers > 1:
        return f"journal:{(out / 'study.journal').resolve().as_posix()}"
    return f"sqlite:///{(out / 'study.db').resolve().as_posix()}"


def _prepare_out(out: Path) -> bool:
    """Make sure ``out`` is a folder that can be written; True if it was created now."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"`--out` {str(out)!r} is a file, not a folder.")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".nsearch-write-test"
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise ValueError(f"`--out` {str(out)!r} cannot be written: {error.strerror}.") from None
    return created


def run_study(
    settings: SearchSettings,
    out: str | os.PathLike[str],
    *,
    storage: str | None = None,
    study_name: str | None = None,
    progress: bool = True,
    datamodule: Any = None,
    module: ModuleFactory | None = None,
) -> StudyResult:
    """Search ``settings.space`` and write the results to ``out``.

    Runs trials until the study holds ``settings.trials`` finished (complete, pruned or failed)
    trials, its trials have trained ``settings.epoch_budget`` epochs, or ``settings.timeout``
    seconds pass, in ``settings.workers`` processes that share the
    study and the CPU threads. Running it again with the same ``out`` resumes the study (its
    storage and study name come from ``out/run.json``); training settings may not change then.
    Other machines join it by running with the same ``storage`` (PostgreSQL) and ``study_name``.
    On Ctrl-C the finished trials are kept and reported, and ``interrupted`` is set.

    Your own data and recipe: ``datamodule`` is any LightningDataModule whose train and
    validation loaders (and test loader, for the front's test accuracy) yield ``(images,
    labels)``, and ``module`` a function of the network that returns a LightningModule training
    it and logging ``val_acc``; by import path they are the settings ``datamodule`` and
    ``module`` (which ``--workers`` processes and other machines need).

    Writes to ``out``: ``trials.csv``, ``pareto.csv`` (with test accuracy for the front's models),
    ``report.md``, ``pareto.png``, ``optuna/*.html``, each trial's best checkpoint under
    ``trials/`` and its metrics under ``logs/``, and ``run.json``.

    Raises:
        ValueError: on a storage that cannot be used, a study of other objectives or other
            training settings, or an ``out`` that cannot be written.
        FileNotFoundError: when the data is not where it was asked for.
    """
    out = Path(out)
    if settings.data_dir is not None:  # run.json names the folder absolutely
        settings = dataclasses.replace(settings, data_dir=str(Path(settings.data_dir).resolve()))
    previous = RunInfo.read(out) if (out / RUN_FILE).is_file() else None
    if previous is not None:
        old, settings = settled_image_sizes(previous.settings, settings, previous.input_shape)
        check_same_identity(old, settings, f"`--out` {str(out)!r}",
                            "run with a new --out to start a new study")  # fmt: skip
        if study_name is not None and study_name != previous.study_name:
            raise ValueError(
                f"`--out` {str(out)!r} holds the study {previous.study_name!r}, not "
                f"{study_name!r}; run with a new --out for another study."
            )
        previous.check_objects_given(out, "resume", datamodule, module)
    STRATEGIES[settings.strategy].check(settings.space)
    check_runtime(settings.latency_runtime)
    if settings.workers > 1 and (datamodule is not None or module is not None):
        raise ValueError(
            "Worker processes build the data and the recipe themselves: with --workers "
            f"{settings.workers}, give them as import paths (datamodule=, module= in the "
            "settings, --datamodule and --module on the command line), not as objects."
        )
    existed = out.exists()
    try:  # data errors come before anything else is written
        known = None if previous is None else previous.fingerprint
        candidates = make_candidates(settings, out, datamodule=datamodule, module=module,
                                     recorded=known)  # fmt: skip
        check_budgets_admit_something(settings, candidates)
        if candidates.user_module:
            check_recipe(candidates, get_space(settings.space), settings.hardware)
    except BaseException:
        if not existed:  # a decoding cache, and nothing else
            shutil.rmtree(out, ignore_errors=True)
        raise
    created = _prepare_out(out) or not existed
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if previous is not None and storage is None:
        storage_url, study_name = previous.storage_url(out), previous.study_name
    else:
        storage_url = storage or default_storage(out, settings.workers)
    study_name = study_name or default_study_name(settings, datamodule)
    try:
        storage_object = open_storage(storage_url, heartbeat_seconds=settings.heartbeat)
        c, _, size = candidates.input_shape
        build_args = {"in_channels": c, "num_classes": candidates.num_classes,
                      "input_size": size}  # fmt: skip
        study = create_study(settings, storage_object, study_name, build_args=build_args,
                             fingerprint=candidates.fingerprint)  # fmt: skip
    except BaseException:
        if created:  # leave no trace of a run that never started
            shutil.rmtree(out, ignore_errors=True)
        raise
    recorded, in_out = relative_storage(storage_url, out)
    info = RunInfo(settings, study_name, recorded, in_out, candidates.input_shape,
                   candidates.classes, candidates.mean, candidates.std,
                   preprocessing=candidates.preprocessing,
                   augmentation=candidates.augmentation, fingerprint=candidates.fingerprint,
                   module_object=None if module is None else _name(module))  # fmt: skip
    info.write(out)
    deadline = Deadline.after(settings.timeout).deadline
    strategy = STRATEGIES[settings.strategy]
    remaining = settings.trials - finished_count(study)
    interrupted = False
    try:
        # Whatever the strategy prepares once (a supernet) is ready before workers start.
        plan = settings.plan()
        objective = strategy.objective(plan, candidates, out, progress)
        if remaining > 0:
            bar = Progress(remaining, progress, settings)
            try:
                if settings.workers == 1:
                    optimize(settings, out, storage_url, study_name, 0, deadline, objective, bar)
                else:
                    run_workers(settings, out, storage_url, study_name, study, bar, deadline)
            finally:
                bar.close()
        if strategy.finish is not None:
            strategy.finish(study, plan, candidates, out, settings.confirm)
        promote(study, settings, out, candidates, datamodule, module)
    except KeyboardInterrupt:
        interrupted = True
    written = outputs.write_results(out, info, study, test_batches(candidates.data))
    return StudyResult(study, written.records, written.front, written.best, out, settings,
                       interrupted)  # fmt: skip


def _name(value: Any) -> str:
    return str(getattr(value, "__qualname__", type(value).__name__))


def test_batches(data: Any) -> Any:
    """The test loader's batches, or none where the (user's) datamodule has no test loader."""
    try:
        loader = data.test_dataloader()
    except Exception:  # Lightning's default raises where no test loader is defined
        return []
    return loader if loader is not None else []
