"""The settings of a search, each declared once: the CLI, ``run.json`` and the checks follow it.

A setting either defines what a trial *means* (space, data, seed, epochs, training recipe,
objective, the floor and its rule: changing one makes earlier trials incomparable, or their
stored constraints wrong, so a study refuses it on resume) or only steers the search (trials,
timeout, workers, budgets: free to change; budgets are re-applied to every trial).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nsearch.cost.latency import RUNTIMES
from nsearch.data import AUGMENTATIONS, DATASETS
from nsearch.search.objectives import DEFAULT_FLOOR_MODE, FLOOR_MODES, OBJECTIVES
from nsearch.search.options import (
    check_options,
    device_list,
    image_limit,
    import_path,
    option,
    percentage,
    positive_float,
    positive_int,
    rung_schedule,
)
from nsearch.search.plan import TrialPlan
from nsearch.search.samplers import PRUNERS, SAMPLERS
from nsearch.search.selection import FLOOR_RULES, Budgets, Selection
from nsearch.search.strategies import STRATEGIES
from nsearch.search_spaces import get_space, list_spaces
from nsearch.training.hardware import ACCELERATORS, PRECISIONS, Hardware

__all__ = ["IMAGE_CACHES", "SearchSettings"]

IMAGE_CACHES = ("uint8", "none")


def _names(table: Mapping[str, Any] | Sequence[str]) -> Callable[[], Sequence[str]]:
    return lambda: tuple(table)  # a setting's choices: a table's names, read when asked for


@dataclass(frozen=True)
class SearchSettings:
    """Everything a study needs besides its storage; stored in ``run.json`` beside the results.

    Units: ``min_accuracy`` in percent, ``max_params`` in millions, ``max_macs`` in GMACs,
    ``max_latency_ms`` in milliseconds per image, ``timeout`` in seconds.
    """

    space: str = option("mobilenet", "The search space to sample architectures from.",
                         choices=list_spaces, identity=True)  # fmt: skip
    data: str = option(
        "embedded",
        "The data set; 'embedded' is a Fashion-MNIST subset shipped with nsearch.",
        choices=_names(DATASETS),
        identity=True,
    )
    data_dir: str | None = option(  # not identity: the data is compared by its fingerprint
        None, "The folder that holds the data set's files (needed for cifar10 and imagefolder; "
        "optional for fashion-mnist).")  # fmt: skip
    image_size: int | None = option(
        None,
        "With --data imagefolder: the square side, in pixels, images are resized and "
        "centre-cropped to; by default the images' own size (they must all share one).",
        parse=positive_int,
        identity=True,
    )
    augment: str = option(
        "standard",
        "With --data imagefolder: 'standard' trains on random resized crops (25-100 %% of the "
        "image) with horizontal flips; 'none' on the images as they are evaluated.",
        choices=_names(AUGMENTATIONS),
        identity=True,
    )
    image_cache: str = option(
        "uint8",
        "With --data imagefolder: 'uint8' decodes the images once into a file in --out and "
        "reads it a row at a time; 'none' decodes them every epoch in worker processes.",
        choices=_names(IMAGE_CACHES),
    )
    datamodule: str | None = option(
        None,
        "Your own data: the import path of a LightningDataModule class, or of a function of no "
        "arguments that returns one (package.module:Name); its loaders yield (images, labels).",
        parse=import_path,
        identity=True,
    )
    module: str | None = option(
        None,
        "Your own training recipe: the import path of a function of the network (an "
        "nn.Module) that returns a LightningModule training it and logging val_acc "
        "(package.module:name); by default nsearch's Classifier.",
        parse=import_path,
        identity=True,
    )
    trials: int = option(
        30,
        "The study's total number of finished trials, counting those already done in an "
        "earlier run.",
        parse=positive_int,
    )
    timeout: float | None = option(660.0, "Start no new trial after this many seconds.",
                                    parse=positive_float)  # fmt: skip
    epoch_budget: int | None = option(
        None,
        "Start no new trial once the study's trials have trained this many epochs in all (a "
        "compute budget that does not depend on the machine's speed).",
        parse=positive_int,
    )
    epochs: int = option(4, "The most epochs one trial trains for.", parse=positive_int,
                          identity=True)  # fmt: skip
    seed: int = option(0, "Seeds the sampler, the validation split and each trial's weights.",
                        parse=int, identity=True)  # fmt: skip
    strategy: str = option(
        "train",
        "'train' trains every trial's network; 'supernet' trains one weight-sharing supernet "
        "(for --epochs), scores each trial's sub-network with its weights in seconds, then "
        "trains the estimated front's best few (--confirm) on their own.",
        choices=_names(STRATEGIES),
        identity=True,
    )
    confirm: int = option(
        4,
        "With --strategy supernet: how many of the estimated front's networks to confirm by "
        "training them on their own (the best feasible estimate first).",
        parse=positive_int,
    )
    objective: str = option(
        "netscore",
        "'netscore' maximises NetScore with pruning; 'netscore-latency' the same with measured "
        "CPU latency (ms) in place of GMACs (nsearch's extension); 'pareto' searches accuracy, "
        "params and MACs as three objectives, without pruning; 'pareto-latency' accuracy, "
        "params and latency.",
        choices=_names(OBJECTIVES),
        identity=True,
    )
    min_accuracy: float = option(
        90.0,
        "The accuracy floor in percent, judged at the last rung's fidelity (the final training's, "
        "by default): trials below it are infeasible, whatever their NetScore (fixed for a "
        "study: its trials' values or constraints hold it).", parse=percentage, identity=True)
    floor_confidence: str = option(
        "confident",
        "When a trial counts as over the floor: 'confident' when its validation accuracy's "
        "Wilson 95 %% interval lies at or above it, 'point' when the accuracy itself does.",
        choices=_names(FLOOR_RULES),
        identity=True,
    )
    floor_mode: str = option(
        DEFAULT_FLOOR_MODE,
        "How the floor reaches the sampler: 'penalty' (3 dB per point below the floor taken "
        "off the NetScore objectives' values; the better in the benchmark: see README) or "
        "'constraint' (Optuna's trial constraints; the stored values are the objective's own). "
        "The Pareto objectives take it as a constraint in both modes.",
        choices=_names(FLOOR_MODES),
        identity=True,
    )
    max_params: float | None = option(
        None,
        "The most parameters a candidate may have, in millions; larger ones are never trained.",
        parse=positive_float,
    )
    max_macs: float | None = option(
        None,
        "The most multiply-accumulates per image a candidate may need, in billions (GMACs); "
        "larger ones are never trained.",
        parse=positive_float,
    )
    max_latency_ms: float | None = option(
        None,
        "The longest median time one image (batch 1) may take on this machine's CPU with one "
        "thread in --latency-runtime, in milliseconds, measured before training; slower networks "
        "are never trained.",
        parse=positive_float,
    )
    latency_runtime: str = option(
        "torch",
        "The runtime each candidate's latency is measured in (batch 1, one CPU thread): 'torch' "
        "(eager PyTorch), 'onnxruntime' (exported to ONNX, a few seconds a trial) or "
        "'executorch' (lowered to XNNPACK as on a phone, 20-40 s a trial); it decides "
        "--max-latency-ms and the latency objectives.",
        choices=_names(RUNTIMES),
        identity=True,
    )
    batch_size: int = option(128, "The training batch size.", parse=positive_int, identity=True)
    lr: float | None = option(
        None,
        "The peak learning rate of each trial's schedule; by default the space's (0.1 for the "
        "MobileNet spaces, 0.2 for the ResNet ones, measured: see README).",
        parse=positive_float,
        identity=True,
    )
    train_limit: int | None = option(
        4000,
        "Train each trial on at most this many images (a stratified, seeded subset): the "
        "default keeps a trial near a minute on two cores; a final run (nsearch.finalize) "
        "trains on all of them. 'all' trains each trial on every training image.",
        parse=image_limit,
        identity=True,
    )
    rungs: str = option("15xall", "Multi-fidelity: after the trials, train a few (--promote) "
                        "again at each fidelity EPOCHSxIMAGES (15xall: the final training's 15 "
                        "epochs on every training image); the front and the pick are decided at "
                        "the highest reached. '' turns it off.", parse=rung_schedule,
                        identity=True)  # fmt: skip
    promote: int = option(3, "With --rungs: trials each rung promotes.", parse=positive_int)
    pruner: str = option(
        "median",
        "How unpromising trials stop early (single-objective studies): 'median' (below the "
        "median of earlier trials at the same epoch), 'halving' (successive halving: a third "
        "go on at each rung), or 'none'.",
        choices=_names(PRUNERS),
    )
    sampler: str = option(
        "cost-tpe",
        "The Optuna sampler: 'tpe' (multivariate TPE), 'cost-tpe' (TPE whose start-up trials "
        "are spread over the space's cost range), 'random', or 'nsga2' (NSGA-II, for the pareto "
        "objectives).",
        choices=_names(SAMPLERS),
    )
    workers: int = option(
        1,
        "How many processes on this machine share the study, each with an equal share of the "
        "CPU threads (a journal file in --out is their default storage).",
        parse=positive_int,
    )
    heartbeat: int = option(
        30,
        "Seconds between a running trial's heartbeats on a database storage; a trial silent for "
        "three of them (its worker died) is failed and retried once.",
        parse=positive_int,
    )
    accelerator: str = option(
        "auto",
        "Lightning's accelerator for every Trainer (trials, the supernet, finalize): a GPU "
        "where there is one by default. Latency is always measured on the CPU.",
        choices=_names(ACCELERATORS),
    )
    devices: str = option(
        "1",
        "The devices trials train on, one per trial: a count (workers share the first ones, "
        "round-robin) or device indices such as 0,2.",
        parse=device_list,
    )
    precision: str = option(
        "32-true",
        "Lightning's precision for every Trainer ('16-mixed' or 'bf16-mixed' on a GPU).",
        choices=_names(PRECISIONS),
        identity=True,
    )

    def __post_init__(self) -> None:
        check_options(self)

    @property
    def peak_lr(self) -> float:
        """The learning rate trials train with: ``lr``, or the space's when it was not given."""
        return self.lr if self.lr is not None else get_space(self.space).lr

    @property
    def selection(self) -> Selection:
        """How trials are judged: objective, floor, budgets and floor rule."""
        budgets = Budgets(self.max_params, self.max_macs, self.max_latency_ms)
        return Selection(self.objective, self.min_accuracy, budgets, self.floor_confidence)

    @property
    def hardware(self) -> Hardware:
        """Where and in which precision every Trainer of the search runs."""
        return Hardware(self.accelerator, self.devices, self.precision)

    def plan(self, worker: int = 0) -> TrialPlan:
        """The values each trial of worker ``worker`` uses."""
        return TrialPlan(
            space=self.space,
            selection=self.selection,
            epochs=self.epochs,
            seed=self.seed,
            lr=self.peak_lr,
            prune=self.pruner != "none",
            floor_mode=self.floor_mode,
            latency_runtime=self.latency_runtime,
            hardware=self.hardware,
            worker=worker,
        )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> SearchSettings:
        """Settings from ``run.json``; settings it lacks take their defaults, unknown ones are
        ignored (a file written by another version of nsearch)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
