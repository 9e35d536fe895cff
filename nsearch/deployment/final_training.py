"""A picked architecture trained properly and packaged for a device (``python -m
nsearch.finalize``): rebuilt from its search trial, trained from scratch on the training and
validation images (choosing is done), tested, and written as a checked
:class:`~nsearch.deployment.bundle.Bundle`."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import torch

from nsearch.deployment.bundle import Bundle, write_bundle
from nsearch.deployment.description import InputSpec, TrainingFacts
from nsearch.deployment.quantization import DEFAULT_CALIBRATION_IMAGES
from nsearch.deployment.search_export import check_quantize, describe_trial, run_images
from nsearch.search.evaluation import measure_accuracy
from nsearch.search.results import read_records
from nsearch.search.run_info import open_run
from nsearch.search.selection import pick
from nsearch.search_spaces import get_space
from nsearch.training.batchnorm import recalibrate_batchnorm
from nsearch.training.hardware import Hardware

__all__ = ["DEFAULT_EPOCHS", "RECIPE", "finalize"]

# About 3-6 minutes on two CPU cores for the default search's models on the embedded data.
DEFAULT_EPOCHS = 15
RECIPE = (
    "SGD with Nesterov momentum 0.9, weight decay 5e-5, one warm-up-then-cosine cycle, random "
    "horizontal flips, BatchNorm statistics re-estimated on 10 training batches at the end"
)


def _train(model: torch.nn.Module, data: Any, *, epochs: int, lr: float, dest: Path,
           hardware: Hardware, progress: bool) -> float:  # fmt: skip
    import pytorch_lightning as pl

    from nsearch.training.classifier import Classifier
    from nsearch.training.lightning import quiet_lightning

    start = time.perf_counter()
    with quiet_lightning():
        trainer = pl.Trainer(
            max_epochs=epochs,
            **hardware.trainer_kwargs(),
            limit_val_batches=0,  # no validation split: every training image trains
            logger=pl.loggers.CSVLogger(dest, name="logs", version=""),
            enable_checkpointing=False,
            enable_progress_bar=progress,
            enable_model_summary=False,
        )
        trainer.fit(Classifier(model, lr=lr), datamodule=data)
    return time.perf_counter() - start


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
    calibration_images: int = DEFAULT_CALIBRATION_IMAGES,
) -> Bundle:
    """Train one trial's architecture from scratch on training + validation data and package it.

    Args:
        out: the ``--out`` folder of a search.
        trial: the trial number; or
        rank: the rank on the Pareto front (1 = most accurate), as in ``pareto.csv``.
        epochs: training epochs.
        dest: the folder to write; by default ``out/final/trial_NNNN``.
        train_limit: train on at most this many images (a stratified subset), for quick checks.
        progress: show Lightning's progress bar.
        quantize: ``"int8"`` adds int8 models (:mod:`nsearch.deployment.quantization`).
        calibration_images: training images that calibrate the int8 models.

    Raises:
        ValueError: unless exactly one of ``trial`` and ``rank`` is given, if it names no
            trial, if ``epochs`` < 1, on an unknown ``quantize`` or a calibration count out of
            range.
        FileNotFoundError: if ``out`` holds no search or the data is missing.
    """
    from nsearch.data import ImageDataModule

    if epochs < 1:
        raise ValueError(f"`epochs` must be at least 1, got {epochs}.")
    check_quantize(quantize, calibration_images)
    run = open_run(out)
    # before training: a calibration count the data cannot give is refused at once
    images, calibration = run_images(run.info, calibration_images if quantize else 0)
    settings = run.info.settings
    record = pick(read_records(run.study, run.out), settings.selection, trial=trial, rank=rank)
    dest = Path(dest) if dest is not None else run.out / "final" / f"trial_{record.trial:04d}"
    data = ImageDataModule(settings.data, settings.data_dir, batch_size=settings.batch_size,
                           seed=settings.seed, val_fraction=0.0,
                           train_limit=train_limit)  # fmt: skip
    data.setup("fit")
    space = get_space(settings.space)
    torch.manual_seed(settings.seed)
    model = space.build(space.config_from_params(record.architecture),
                        in_channels=data.in_channels, num_classes=data.num_classes,
                        input_size=data.input_size)  # fmt: skip
    dest.mkdir(parents=True, exist_ok=True)
    seconds = _train(model, data, epochs=epochs, lr=settings.peak_lr, dest=dest,
                     hardware=Hardware(), progress=progress)  # fmt: skip
    model = model.cpu().eval()
    recalibrate_batchnorm(model, data.train_dataloader(), 10)
    test = measure_accuracy(model, data.test_dataloader())
    training = TrainingFacts(settings.data, data.train_images, epochs, settings.batch_size,
                             settings.peak_lr, settings.seed, round(seconds, 1),
                             RECIPE)  # fmt: skip
    description = describe_trial(record, run.info, model,
                                 "trained from scratch by python -m nsearch.finalize on training "
                                 "+ validation images")  # fmt: skip
    # its own normalisation: the statistics of every training image it trained on
    spec = InputSpec(tuple(data.input_shape), tuple(data.mean), tuple(data.std))
    description = dataclasses.replace(description, input=spec, test=test, training=training)
    return write_bundle(model, dest, description, images, quantize=quantize,
                        calibration=calibration)  # fmt: skip
