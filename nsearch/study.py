"""The search: an Optuna study over a search space, each trial trained with Lightning.

``run_study`` is the library entry point; ``python -m nsearch.run`` is a thin CLI over it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import shutil
import signal
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytorch_lightning as pl
import torch
from optuna.trial import TrialState

import nsearch
from nsearch.callbacks import NetScoreCallback, OptunaPruning
from nsearch.classifier import Classifier
from nsearch.data import DATASETS, ImageDataModule
from nsearch.search_spaces import get_space
from nsearch.storage import fail_orphaned_trials, open_storage, worker_id

log = logging.getLogger(__name__)

OBJECTIVES = ("netscore", "pareto")
PARETO_DIRECTIONS: list[Any] = ["maximize", "minimize", "minimize"]  # accuracy, params, MACs
# Below the accuracy floor a trial's objective value loses this many dB per missing percentage
# point, so the sampler and the pruner prefer networks that can reach the floor.
FLOOR_PENALTY_DB_PER_POINT = 3.0
RUN_FILE = "run.json"


@dataclass(frozen=True)
class SearchSettings:
    """Everything a study needs besides its storage; stored in ``run.json`` beside the results.

    Units: ``min_accuracy`` in percent, ``max_params`` in millions, ``max_macs`` in GMACs.
    """

    space: str = "mobilenet"
    data: str = "embedded"
    data_dir: str | None = None
    trials: int = 30
    timeout: float | None = 660.0
    epochs: int = 6
    seed: int = 0
    objective: str = "netscore"
    min_accuracy: float = 86.0
    max_params: float | None = None
    max_macs: float | None = None
    batch_size: int = 128
    lr: float = 0.2
    pruning: bool = True
    sampler: str = "tpe"
    train_limit: int | None = None
    workers: int = 1
    heartbeat: int = 30

    def __post_init__(self) -> None:
        get_space(self.space)  # raises with the known names
        checks: list[tuple[bool, str]] = [
            (self.data in DATASETS, f"`data` can be {', '.join(DATASETS)}, got {self.data!r}."),
            (
                self.objective in OBJECTIVES,
                f"`objective` can be {', '.join(OBJECTIVES)}, got {self.objective!r}.",
            ),
            (self.trials >= 1, f"`trials` must be at least 1, got {self.trials}."),
            (self.epochs >= 1, f"`epochs` must be at least 1, got {self.epochs}."),
            (
                self.timeout is None or self.timeout > 0,
                f"`timeout` must be a positive number of seconds, got {self.timeout}.",
            ),
            (
                0 <= self.min_accuracy < 100,
                f"`min_accuracy` must be a percentage in [0, 100), got {self.min_accuracy}.",
            ),
            (
                self.max_params is None or self.max_params > 0,
                f"`max_params` must be a positive number of millions, got {self.max_params}.",
            ),
            (
                self.max_macs is None or self.max_macs > 0,
                f"`max_macs` must be a positive number of GMACs, got {self.max_macs}.",
            ),
            (self.workers >= 1, f"`workers` must be at least 1, got {self.workers}."),
            (
                self.heartbeat >= 1,
                f"`heartbeat` must be a positive number of seconds, got {self.heartbeat}.",
            ),
            (
                self.train_limit is None or self.train_limit >= 1,
                f"`train_limit` must be a positive number of images, got {self.train_limit}.",
            ),
            (
                self.sampler in ("tpe", "random"),
                f"`sampler` can be tpe, random, got {self.sampler!r}.",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


@dataclass
class EpochRecorder(pl.Callback):
    """Keeps each validation epoch's metrics as plain floats."""

    epochs: list[dict[str, float]] = dataclasses.field(default_factory=list)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
            self.epochs.append({"epoch": trainer.current_epoch, **metrics})


def search_score(netscore: float, accuracy_percent: float, min_accuracy: float) -> float:
    """NetScore, less 3 dB per percentage point that the accuracy falls short of the floor."""
    shortfall = max(0.0, min_accuracy - accuracy_percent)
    return netscore - FLOOR_PENALTY_DB_PER_POINT * shortfall


def check_budget(settings: SearchSettings, complexity: nsearch.Complexity) -> str | None:
    """Why a candidate is over budget, or None."""
    if settings.max_params is not None and complexity.params_millions > settings.max_params:
        return (
            f"{complexity.params_millions:.3f} M params exceed --max-params {settings.max_params} M"
        )
    if settings.max_macs is not None and complexity.gmacs > settings.max_macs:
        return f"{complexity.gmacs:.4f} GMACs exceed --max-macs {settings.max_macs} GMACs"
    return None


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Lightning's per-trial banners and advice would bury the study's own progress."""
    names = ("pytorch_lightning", "lightning.pytorch", "lightning")
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="pytorch_lightning")
            warnings.filterwarnings("ignore", module="lightning")
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


class Objective:
    """One trial: suggest, build, count, check budgets, train, record."""

    def __init__(self, settings: SearchSettings, data: ImageDataModule, out: Path) -> None:
        self.settings, self.data, self.out = settings, data, out
        self.space = get_space(settings.space)

    def build(self, config: Any) -> torch.nn.Module:
        return self.space.build(
            config,
            in_channels=self.data.in_channels,
            num_classes=self.data.num_classes,
            input_size=self.data.input_size,
        )

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float, float]:
        s = self.settings
        trial.set_user_attr("worker", worker_id())
        config = self.space.suggest(trial)
        torch.manual_seed(s.seed + trial.number)
        model = self.build(config)
        c = nsearch.count_complexity(model, self.data.input_shape)
        trial.set_user_attr("config", dataclasses.asdict(config))
        for key, value in {
            "params": c.params,
            "macs": c.macs,
            "params_millions": c.params_millions,
            "gmacs": c.gmacs,
        }.items():
            trial.set_user_attr(key, value)
        over = check_budget(s, c)
        if over is not None:
            trial.set_user_attr("status", f"over budget, not trained: {over}")
            raise optuna.TrialPruned(over)

        folder = self.out / "trials" / f"trial_{trial.number:04d}"
        recorder = EpochRecorder()
        checkpoint = pl.callbacks.ModelCheckpoint(
            dirpath=folder, filename="best", monitor="netscore", mode="max", save_top_k=1
        )
        callbacks: list[pl.Callback] = [NetScoreCallback(), checkpoint, recorder]
        if s.objective == "netscore" and s.pruning:
            callbacks.append(
                OptunaPruning(
                    trial,
                    monitor=lambda m: search_score(
                        float(m["netscore"]), float(m["netscore_accuracy_percent"]), s.min_accuracy
                    ),
                )
            )
        start = time.perf_counter()
        pruned: optuna.TrialPruned | None = None
        trainer = None
        try:
            with quiet_lightning():
                trainer = pl.Trainer(
                    max_epochs=s.epochs,
                    accelerator="auto",
                    devices=1,
                    callbacks=callbacks,
                    logger=pl.loggers.CSVLogger(self.out / "logs", name=folder.name),
                    enable_progress_bar=False,
                    enable_model_summary=False,
                    num_sanity_val_steps=0,
                    log_every_n_steps=10,
                )
                trainer.fit(Classifier(model, lr=s.lr), datamodule=self.data)
        except optuna.TrialPruned as error:
            pruned = error
        except FloatingPointError as error:  # a NaN or infinite loss: the study goes on
            trial.set_user_attr("status", f"failed: {error}")
            log.warning("Trial %d failed: %s", trial.number, error)
            raise
        except SystemExit as error:
            if trainer is None or not trainer.interrupted:
                raise
            # Lightning answers Ctrl-C with a graceful shutdown, then exit(1) with SIGINT ignored;
            # turn it back into the KeyboardInterrupt that Optuna and the caller expect.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt from error
        finally:
            trial.set_user_attr("train_seconds", round(time.perf_counter() - start, 2))
            trial.set_user_attr("epochs_trained", len(recorder.epochs))
        if not recorder.epochs:
            raise RuntimeError("Training ended before its first validation.")
        best = max(recorder.epochs, key=lambda e: e["netscore"])
        accuracy, netscore = best["netscore_accuracy_percent"], best["netscore"]
        result: object
        for key, result in {
            "accuracy_percent": accuracy,
            "netscore": netscore,
            "information_density": best["netscore_information_density"],
            "best_epoch": int(best["epoch"]),
            "feasible": accuracy >= s.min_accuracy,
            "checkpoint": os.path.relpath(checkpoint.best_model_path, self.out),
        }.items():
            trial.set_user_attr(key, result)
        if pruned is not None:
            trial.set_user_attr("status", f"pruned after epoch {len(recorder.epochs) - 1}")
            raise pruned
        trial.set_user_attr("status", "complete")
        if s.objective == "pareto":
            return accuracy, c.params_millions, c.gmacs
        return search_score(netscore, accuracy, s.min_accuracy)


def default_storage(out: Path) -> str:
    return f"sqlite:///{(out / 'study.db').resolve()}"


def default_study_name(settings: SearchSettings) -> str:
    return f"nsearch-{settings.space}-{settings.data}-{settings.objective}"


def create_study(
    settings: SearchSettings,
    storage: str | optuna.storages.BaseStorage,
    study_name: str,
    *,
    worker: int = 0,
) -> optuna.Study:
    """Create or load the study; each worker's sampler gets its own seed.

    Raises:
        ValueError: if a study of that name exists with another number of objectives.
    """
    seed = settings.seed + 1000 * worker
    multi = settings.objective == "pareto"
    sampler: optuna.samplers.BaseSampler
    if settings.sampler == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=5, multivariate=not multi)
    pruner: optuna.pruners.BasePruner = (
        optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
        if settings.pruning and not multi
        else optuna.pruners.NopPruner()
    )
    directions: list[Any] = PARETO_DIRECTIONS if multi else ["maximize"]
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=study_name,
            directions=directions,
            sampler=sampler,
            pruner=pruner,
            load_if_exists=True,
        )
    except ValueError:  # Optuna's own check of existing directions
        study = optuna.load_study(study_name=study_name, storage=storage)
    if len(study.directions) != len(directions) or (
        not multi and study.directions[0] != optuna.study.StudyDirection.MAXIMIZE
    ):
        raise ValueError(
            f"The study {study_name!r} already exists with {len(study.directions)} objective(s), "
            f"but --objective {settings.objective} needs {len(directions)}; choose another "
            "--study-name."
        )
    if multi:
        study.set_metric_names(["accuracy_percent", "params_millions", "gmacs"])
    return study


def check_budgets_admit_something(settings: SearchSettings, data: ImageDataModule) -> None:
    """Refuse budgets that even the space's smallest network exceeds."""
    space = get_space(settings.space)
    if space.smallest is None or (settings.max_params is None and settings.max_macs is None):
        return
    model = space.build(space.smallest, in_channels=data.in_channels,
                        num_classes=data.num_classes, input_size=data.input_size)  # fmt: skip
    c = nsearch.count_complexity(model, data.input_shape)
    over = check_budget(settings, c)
    if over is not None:
        raise ValueError(
            f"No network of space {settings.space!r} fits the budget: even the smallest has {over}."
        )


def finished_trials(study: optuna.Study) -> int:
    """Trials that count towards ``--trials``: complete, pruned, and failed without a retry (a
    NaN loss); a trial that lost its worker counts through its retry instead."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.system_attrs["failed_trial"] for t in trials if "failed_trial" in t.system_attrs}
    done = (TrialState.COMPLETE, TrialState.PRUNED)
    return sum(
        t.state in done or (t.state == TrialState.FAIL and t.number not in retried) for t in trials
    )


def trial_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """One flat row per trial that got as far as counting, for tables and the Pareto front."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        a = t.user_attrs
        if "params" not in a:
            continue
        rows.append(
            {
                "trial": t.number,
                "state": t.state.name.lower(),
                "config": " ".join(
                    f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in a.get("config", {}).items()
                ),
                **{k: v for k, v in a.get("config", {}).items()},
                "accuracy_percent": a.get("accuracy_percent"),
                "params_millions": a["params_millions"],
                "gmacs": a["gmacs"],
                "netscore": a.get("netscore"),
                "information_density": a.get("information_density"),
                "feasible": a.get("feasible", False),
                "epochs_trained": a.get("epochs_trained", 0),
                "best_epoch": a.get("best_epoch"),
                "train_seconds": a.get("train_seconds", 0.0),
                "params": a["params"],
                "macs": a["macs"],
                "checkpoint": a.get("checkpoint", ""),
                "worker": a.get("worker", ""),
                "status": a.get("status", t.state.name.lower()),
            }
        )
    return rows


def pareto_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The completed trials that no other beats on accuracy, params and MACs at once."""
    done = [r for r in rows if r["state"] == "complete" and r["accuracy_percent"] is not None]
    points = [(r["accuracy_percent"], r["params_millions"], r["gmacs"]) for r in done]
    front = [done[i] for i in nsearch.pareto_front(points, PARETO_DIRECTIONS)]
    return sorted(front, key=lambda r: -r["accuracy_percent"])


def best_feasible(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    feasible = [r for r in rows if r["state"] == "complete" and r["feasible"]]
    return max(feasible, key=lambda r: r["netscore"], default=None)


def write_run_file(out: Path, settings: SearchSettings, storage: str, study_name: str,
                   data: ImageDataModule) -> None:  # fmt: skip
    info = {
        "settings": dataclasses.asdict(settings),
        "storage": storage,
        "study_name": study_name,
        "input_shape": list(data.input_shape),
        "num_classes": data.num_classes,
        "classes": list(data.classes),
        "mean": data.mean.flatten().tolist(),
        "std": data.std.flatten().tolist(),
    }
    (out / RUN_FILE).write_text(json.dumps(info, indent=2))


def read_run_file(out: Path) -> dict[str, Any]:
    path = out / RUN_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{str(out)!r} holds no nsearch run ({RUN_FILE} is missing).")
    info: dict[str, Any] = json.loads(path.read_text())
    return info


def trial_config(row: Mapping[str, Any], space_name: str) -> Any:
    """A trial's architecture config, from its row of :func:`trial_rows`."""
    space = get_space(space_name)
    names = (f.name for f in dataclasses.fields(space.config_type))
    return space.config_from_params({k: row[k] for k in names if k in row})


def load_trial_model(out: Path, row: Mapping[str, Any], info: Mapping[str, Any]) -> torch.nn.Module:
    """Rebuild a trial's network from its config and load its best-epoch weights."""
    space = get_space(info["settings"]["space"])
    config = trial_config(row, space.name)
    model = space.build(
        config,
        in_channels=info["input_shape"][0],
        num_classes=info["num_classes"],
        input_size=info["input_shape"][-1],
    )
    state = torch.load(out / row["checkpoint"], map_location="cpu", weights_only=True)
    prefix = "model."
    model.load_state_dict(
        {k[len(prefix) :]: v for k, v in state["state_dict"].items() if k.startswith(prefix)}
    )
    return model.eval()


@torch.no_grad()
def measure_test_accuracy(model: torch.nn.Module, data: ImageDataModule) -> float:
    """Top-1 accuracy on the test split, in percent."""
    model.eval()
    correct = total = 0
    for x, y in data.test_dataloader():
        correct += int((model(x).argmax(1) == y).sum())
        total += len(y)
    return 100.0 * correct / total



@dataclass
class StudyResult:
    """What ``run_study`` leaves: the study, its rows, the front and the best feasible trial."""

    study: optuna.Study
    rows: list[dict[str, Any]]
    front: list[dict[str, Any]]
    best: dict[str, Any] | None
    out: Path
    interrupted: bool = False

    def table(self) -> str:
        from nsearch.report import markdown_table

        return markdown_table(self.front, self.best["trial"] if self.best else None)


class _Progress:
    """One progress bar for the whole study, showing the best feasible NetScore so far."""

    def __init__(self, total: int, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc="trials", unit="trial", disable=not enabled)

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.update(study, 1)

    def update(self, study: optuna.Study, finished: int) -> None:
        best = best_feasible(trial_rows(study))
        self.bar.set_postfix_str(
            f"best feasible NetScore {best['netscore']:.2f} (#{best['trial']})"
            if best
            else "no feasible trial yet"
        )
        self.bar.update(finished)

    def close(self) -> None:
        self.bar.close()


def resolve_storage(out: Path, storage: str | None, workers: int) -> str:
    """The storage URL: the one given, else the one this ``out`` already uses, else a SQLite file
    (one worker) or a journal file (several) inside ``out``."""
    if storage:
        return storage
    if (out / RUN_FILE).is_file():
        return str(read_run_file(out)["storage"])
    if workers > 1:
        return f"journal:{(out / 'study.journal').resolve()}"
    return default_storage(out)


def _optimize(
    settings: SearchSettings,
    out: Path,
    storage_url: str,
    study_name: str,
    worker: int,
    progress: _Progress | None,
    data: ImageDataModule | None = None,
) -> None:
    """One worker's share of the study: trials until the study holds enough or time runs out."""
    # Optuna would log each failed trial with its traceback; nsearch says it in one line instead.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if data is None:
        data = make_data(settings)
    study = create_study(settings, open_storage(storage_url, heartbeat_seconds=settings.heartbeat),
                         study_name, worker=worker)  # fmt: skip
    objective = Objective(settings, data, out)
    deadline = time.monotonic() + settings.timeout if settings.timeout else math.inf
    # One trial at a time, counting the other workers' running trials, so that several workers
    # stop at exactly `settings.trials` finished trials.
    while time.monotonic() < deadline:
        fail_orphaned_trials(study)
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if finished_trials(study) + len(running) >= settings.trials:
            break
        study.optimize(objective, n_trials=1, catch=(FloatingPointError,),
                       callbacks=[progress] if progress is not None else None)  # fmt: skip


def _worker_main(settings: SearchSettings, out: Path, storage_url: str, study_name: str,
                 worker: int, threads: int) -> None:  # fmt: skip
    torch.set_num_threads(threads)
    with contextlib.suppress(KeyboardInterrupt):  # the parent reports; its Ctrl-C reaches us too
        _optimize(settings, out, storage_url, study_name, worker, None)


def make_data(settings: SearchSettings) -> ImageDataModule:
    data = ImageDataModule(settings.data, settings.data_dir, batch_size=settings.batch_size,
                           seed=settings.seed, train_limit=settings.train_limit)  # fmt: skip
    data.setup("fit")
    return data


def run_study(
    settings: SearchSettings,
    out: str | os.PathLike[str],
    *,
    storage: str | None = None,
    study_name: str | None = None,
    progress: bool = True,
) -> StudyResult:
    """Search ``settings.space`` and write the results to ``out``.

    Runs trials until the study holds ``settings.trials`` finished (complete or pruned) trials or
    ``settings.timeout`` seconds pass, in ``settings.workers`` processes that share the study and
    the CPU threads; running it again with the same ``out`` resumes the study. Other machines join
    it by running with the same ``storage`` (PostgreSQL) and ``study_name``. On Ctrl-C the finished
    trials are kept and reported, and ``interrupted`` is set on the result.

    Writes to ``out``: ``trials.csv``, ``pareto.csv`` (with test accuracy for the front's models),
    ``report.md``, ``pareto.png``, ``optuna/*.html``, each trial's best checkpoint under
    ``trials/`` and its metrics under ``logs/``, and ``run.json`` (what ``nsearch.export`` reads).

    Raises:
        ValueError: on a storage that cannot be used, or a study of other objectives.
        FileNotFoundError: when the data is not where it was asked for.
        OSError: when ``out`` cannot be written.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"`--out` {str(out)!r} is a file, not a folder.")
    data = make_data(settings)  # data errors come before anything is written
    storage_url = resolve_storage(out, storage, settings.workers)
    study_name = study_name or default_study_name(settings)
    check_budgets_admit_something(settings, data)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".nsearch-write-test"
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise ValueError(f"`--out` {str(out)!r} cannot be written: {error.strerror}.") from None
    try:
        storage_object = open_storage(storage_url, heartbeat_seconds=settings.heartbeat)
        study = create_study(settings, storage_object, study_name)
    except BaseException:
        if created:  # leave no trace of a run that never started
            shutil.rmtree(out, ignore_errors=True)
        raise
    write_run_file(out, settings, storage_url, study_name, data)
    remaining = settings.trials - finished_trials(study)
    interrupted = False
    if remaining > 0:
        bar = _Progress(remaining, progress)
        try:
            if settings.workers == 1:
                _optimize(settings, out, storage_url, study_name, 0, bar, data)
            else:
                _run_workers(settings, out, storage_url, study_name, study, bar)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            bar.close()
    result = report(study, out, data, settings)
    result.interrupted = interrupted
    return result


def _run_workers(settings: SearchSettings, out: Path, storage_url: str, study_name: str,
                 study: optuna.Study, bar: _Progress) -> None:  # fmt: skip
    import multiprocessing

    threads = max(1, torch.get_num_threads() // settings.workers)
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(
            target=_worker_main, args=(settings, out, storage_url, study_name, i, threads)
        )
        for i in range(settings.workers)
    ]
    for process in workers:
        process.start()
    try:
        seen = finished_trials(study)
        while any(process.is_alive() for process in workers):
            time.sleep(2)
            now = finished_trials(study)
            if now > seen:
                bar.update(study, now - seen)
                seen = now
    finally:
        for process in workers:
            process.join()


def report(
    study: optuna.Study, out: Path, data: ImageDataModule, settings: SearchSettings
) -> StudyResult:
    """Measure the front's test accuracy and write every table, plot and the report."""
    from nsearch import report as r

    info = read_run_file(out)
    rows = trial_rows(study)
    front = pareto_rows(rows)
    best = best_feasible(rows)
    elsewhere = []
    for row in front:
        if row["checkpoint"] and (out / row["checkpoint"]).is_file():
            model = load_trial_model(out, row, info)
            row["test_accuracy_percent"] = measure_test_accuracy(model, data)
        else:  # trained by a worker on another machine, into that machine's --out
            row["test_accuracy_percent"] = None
            elsewhere.append(row)
    for rank, row in enumerate(front, start=1):
        row["rank"] = rank
        row["best_feasible_netscore"] = best is not None and row["trial"] == best["trial"]
    r.write_csv(out / "trials.csv", rows)
    r.write_csv(out / "pareto.csv", front)
    r.plot_pareto(out / "pareto.png", rows, front, best, settings.min_accuracy)
    html = r.write_optuna_html(out, study)
    result = StudyResult(study, rows, front, best, out)
    states = [row["state"] for row in rows]
    epochs = sum(row["epochs_trained"] for row in rows)
    lines = [
        f"# nsearch: {settings.space} on {settings.data}",
        "",
        f"Study `{study.study_name}`, objective `{settings.objective}`, "
        f"{len(rows)} trials ({states.count('complete')} complete, {states.count('pruned')} "
        f"pruned or over budget, {states.count('fail')} failed), {epochs} epochs trained.",
        f"Accuracy floor {settings.min_accuracy:g} % (validation); params budget "
        + (f"{settings.max_params:g} M" if settings.max_params else "none")
        + "; MACs budget "
        + (f"{settings.max_macs:g} GMACs." if settings.max_macs else "none."),
        "",
        "Units: accuracy in percent, params in millions, MACs in billions (GMACs) per image, "
        "NetScore = 20 log10(acc^2 / (params^0.5 * GMACs^0.5)) in dB.",
        "",
        "## Pareto front (accuracy vs params vs MACs)",
        "",
        result.table(),
        "",
    ]
    if best is not None:
        lines.append(
            f"Best feasible NetScore: trial {best['trial']}, {best['netscore']:.2f} dB at "
            f"{best['accuracy_percent']:.2f} % validation accuracy. Export it with "
            f"`python -m nsearch.export --out {out} --trial {best['trial']}`."
        )
    else:
        lines.append("No trial reached the accuracy floor yet.")
    if elsewhere:
        lines.append(
            "Test accuracy is missing for trials whose checkpoints are on other machines: "
            + ", ".join(f"#{r['trial']} ({r['worker']})" for r in elsewhere)
            + "; run `python -m nsearch.run` with the same storage there to report them."
        )
    lines += ["", "![Pareto front](pareto.png)", ""]
    if html:
        links = ", ".join(f"[{p.stem}](optuna/{p.name})" for p in html)
        lines.append(f"Interactive plots: {links}")
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return result
