"""A picked architecture trained properly and packaged for a device (``python -m
nsearch.finalize``): rebuilt from its search trial, trained from scratch on the training and
validation images (choosing is done), tested, and written as a checked
:class:`~nsearch.deployment.bundle.Bundle`."""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from nsearch.core.metrics import Measured
from nsearch.deployment.bundle import FORMATS, Bundle, write_bundle
from nsearch.deployment.description import InputSpec, TrainingFacts
from nsearch.deployment.search_export import (
    check_quantize,
    describe_trial,
    note_calibration,
    run_images,
)
from nsearch.search.evaluation import measure_accuracy
from nsearch.search.results import read_records
from nsearch.search.run_info import open_run
from nsearch.search.selection import pick
from nsearch.search_spaces import get_space
from nsearch.training.batchnorm import recalibrate_batchnorm
from nsearch.training.hardware import Hardware

if TYPE_CHECKING:
    from nsearch.search.settings import SearchSettings

__all__ = ["DEFAULT_EPOCHS", "RECIPE", "finalize", "fit_and_test", "train_module"]

# About 3-6 minutes on two CPU cores for the default search's models on the embedded data.
DEFAULT_EPOCHS = 15
RECIPE = (
    "SGD with Nesterov momentum 0.9, weight decay 5e-5, one warm-up-then-cosine cycle, random "
    "horizontal flips, BatchNorm statistics re-estimated on 10 training batches at the end"
)


def train_module(module: Any, data: Any, *, epochs: int, dest: Path | None, hardware: Hardware,
                 progress: bool) -> float:  # fmt: skip
    """Fit a LightningModule on ``data``'s training loader for ``epochs`` epochs without
    validation (the final recipe's loop), logging to ``dest/logs`` where a folder is given;
    the seconds it took."""
    from nsearch.search.user_code import lightning_classes
    from nsearch.training.lightning import quiet_lightning

    lightning = lightning_classes(module)
    start = time.perf_counter()
    with quiet_lightning():
        trainer = lightning.Trainer(
            max_epochs=epochs,
            **hardware.trainer_kwargs(),
            limit_val_batches=0,  # choosing is done: no validation
            logger=(lightning.loggers.CSVLogger(dest, name="logs", version="")
                    if dest is not None else False),
            enable_checkpointing=False,
            enable_progress_bar=progress,
            enable_model_summary=False,
        )
        trainer.fit(module, datamodule=data)
    return time.perf_counter() - start


def fit_and_test(module: Any, model: torch.nn.Module, data: Any, *, epochs: int,
                 dest: Path | None, hardware: Hardware,
                 progress: bool) -> tuple[float, Measured]:  # fmt: skip
    """The final recipe's steps after the data: fit ``module`` (which trains ``model``) by
    :func:`train_module`, re-estimate ``model``'s BatchNorm statistics on 10 training batches,
    and test it on ``data``'s test split; the seconds training took and the test accuracy.
    ``model`` is left on the CPU in eval mode."""
    seconds = train_module(module, data, epochs=epochs, dest=dest, hardware=hardware,
                           progress=progress)  # fmt: skip
    model.cpu().eval()
    recalibrate_batchnorm(model, data.train_dataloader(), 10)
    return seconds, measure_accuracy(model, data.test_dataloader())


def _final_data(settings: SearchSettings, out: Path, train_limit: int | None,
                datamodule: Any) -> tuple[Any, InputSpec, str]:  # fmt: skip
    """The data a final run trains on, what its model takes, and where the images come from:
    nsearch's sources and folders without a validation split (every training image trains),
    or the user's datamodule as it is (its own training split)."""
    from nsearch.data import FolderDataModule, ImageDataModule
    from nsearch.search.candidates import USER_PREPROCESSING
    from nsearch.search.user_code import load_datamodule

    if datamodule is not None or settings.datamodule is not None:
        data = datamodule if datamodule is not None else load_datamodule(str(settings.datamodule))
        data.prepare_data()
        data.setup("fit")
        shape = tuple(next(iter(data.train_dataloader()))[0].shape[1:])
        c = shape[0]
        return data, InputSpec(shape, (0.0,) * c, (1.0,) * c, USER_PREPROCESSING), "training"
    if settings.data == "imagefolder":
        folder = FolderDataModule(settings.data_dir or "", image_size=settings.image_size,
                                  augment=settings.augment, batch_size=settings.batch_size,
                                  seed=settings.seed, val_fraction=0.0, train_limit=train_limit,
                                  cache=out / "cache" if settings.image_cache == "uint8" else None)
        folder.setup("fit")
        spec = InputSpec(folder.input_shape, folder.mean, folder.std, folder.scan.preprocessing())
        return folder, spec, "training + validation"
    data = ImageDataModule(settings.data, settings.data_dir, batch_size=settings.batch_size,
                           seed=settings.seed, val_fraction=0.0,
                           train_limit=train_limit)  # fmt: skip
    data.setup("fit")
    # its own normalisation: the statistics of every training image it trains on
    return data, InputSpec(data.input_shape, data.mean, data.std), "training + validation"


def _train_images(data: Any) -> int:
    """How many images a final run trained on."""
    if hasattr(data, "train_images"):
        return int(data.train_images)
    loader = data.train_dataloader()
    dataset = getattr(loader, "dataset", None)
    return len(dataset) if dataset is not None else sum(len(y) for _, y in loader)


def finalize(
    out: str | Path,
    *,
    trial: int | None = None,
    rank: int | None = None,
    epochs: int = DEFAULT_EPOCHS,
    dest: str | Path | None = None,
    train_limit: int | None = None,
    progress: bool = True,
    quantize: str | None = None,
    calibration_images: int | None = None,
    formats: Sequence[str] = FORMATS,
    datamodule: Any = None,
    module: Callable[[torch.nn.Module], Any] | None = None,
) -> Bundle:
    """Train one trial's architecture from scratch and package it: on training + validation
    data with nsearch's recipe, or, for a run on your own datamodule and module, with your
    module on your datamodule's training loader.

    Args:
        out: the ``--out`` folder of a search.
        trial: the trial number; or
        rank: the rank on the Pareto front (1 = most accurate), as in ``pareto.csv``.
        epochs: training epochs.
        dest: the folder to write; by default ``out/final/trial_NNNN``.
        train_limit: train on at most this many images (a stratified subset), for quick checks.
        progress: show Lightning's progress bar.
        quantize: ``"int8"`` adds int8 models (:mod:`nsearch.deployment.quantization`).
        calibration_images: training images that calibrate the int8 models; by default
            (``None``) 256, or all of them where there are fewer (``config.json`` notes it).
        formats: the model files to write (:data:`~nsearch.deployment.bundle.FORMATS`).
        datamodule: the run's datamodule, where it was given as an object.
        module: the run's training recipe, where it was given as an object.

    Raises:
        ValueError: unless exactly one of ``trial`` and ``rank`` is given, if it names no
            trial, if ``epochs`` < 1, on an unknown ``quantize`` or a calibration count out of
            range.
        FileNotFoundError: if ``out`` holds no search or the data is missing.
    """
    from nsearch.search.user_code import load_module_factory
    from nsearch.training.classifier import Classifier

    if epochs < 1:
        raise ValueError(f"`epochs` must be at least 1, got {epochs}.")
    check_quantize(quantize, calibration_images)
    run = open_run(out)
    run.info.check_data(run.out, "finalize", datamodule, module)
    settings = run.info.settings
    # before training: a calibration count the data cannot give is refused at once
    images, calibration = run_images(run.info, calibration_images if quantize else 0,
                                     datamodule=datamodule)  # fmt: skip
    record = pick(read_records(run.study, run.out), settings.selection, trial=trial, rank=rank)
    dest = Path(dest) if dest is not None else run.out / "final" / f"trial_{record.trial:04d}"
    data, spec, trained_on = _final_data(settings, run.out, train_limit, datamodule)
    space = get_space(settings.space)
    torch.manual_seed(settings.seed)
    c, _, size = spec.shape_chw
    model = space.build(space.config_from_params(record.architecture), in_channels=c,
                        num_classes=len(run.info.classes), input_size=size)  # fmt: skip
    module_path = settings.module if module is None else "given as an object"
    if module is None:
        module = (load_module_factory(settings.module) if settings.module
                  else functools.partial(Classifier, lr=settings.peak_lr))  # fmt: skip
    dest.mkdir(parents=True, exist_ok=True)
    seconds, test = fit_and_test(module(model), model, data, epochs=epochs, dest=dest,
                                 hardware=settings.hardware, progress=progress)  # fmt: skip
    recipe = RECIPE if module_path is None else f"your module {module_path}"
    training = TrainingFacts(settings.datamodule or settings.data, _train_images(data), epochs,
                             settings.batch_size, settings.peak_lr, settings.seed,
                             round(seconds, 1), recipe)  # fmt: skip
    description = describe_trial(record, run.info, model,
                                 "trained from scratch by python -m nsearch.finalize on "
                                 f"{trained_on} images")  # fmt: skip
    description = dataclasses.replace(description, input=spec, test=test, training=training)
    bundle = write_bundle(model, dest, description, images, quantize=quantize,
                          calibration=calibration, formats=formats)  # fmt: skip
    return note_calibration(bundle, calibration_images, calibration)
