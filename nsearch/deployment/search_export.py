"""A searched trial as the files a device takes: its search checkpoint, packaged as a
:class:`~nsearch.deployment.bundle.Bundle` (``python -m nsearch.export``).

Reads the search's records and the data's test split; it does not import Lightning.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from nsearch.cost.complexity import count_complexity
from nsearch.data import SourceOptions, get_source, stratified_sample
from nsearch.deployment.bundle import Bundle, LabelledImages, write_bundle
from nsearch.deployment.description import InputSpec, ModelDescription
from nsearch.deployment.quantization import DEFAULT_CALIBRATION_IMAGES, SCHEMES
from nsearch.search.evaluation import load_trial_model
from nsearch.search.results import TrialRecord, read_records
from nsearch.search.run_info import RunInfo, open_run
from nsearch.search.selection import pick
from nsearch.search_spaces import get_space

__all__ = ["SEARCH_WEIGHTS", "describe_trial", "export_trial", "run_images"]

SEARCH_WEIGHTS = (
    "the search's checkpoint of this trial's best epoch, trained for the search on the training "
    "split only: not a final training run (python -m nsearch.finalize trains the architecture "
    "from scratch on training and validation data)"
)


def run_images(info: RunInfo, calibration: int = 0) -> tuple[LabelledImages, torch.Tensor | None]:
    """The run's test split as float images in [0, 1] with their labels, and ``calibration``
    training images in [0, 1] (a stratified subset, seeded by the run's seed) to calibrate int8
    models (``None`` for 0).

    Raises:
        ValueError: if ``calibration`` is negative or more than the training images.
    """
    s = info.settings
    splits = get_source(s.data).load(Path(s.data_dir) if s.data_dir else None, SourceOptions())
    test = LabelledImages(torch.from_numpy(splits.test_images).float() / 255.0,
                      torch.from_numpy(splits.test_labels))  # fmt: skip
    available = len(splits.train_labels)
    if not 0 <= calibration <= available:
        raise ValueError(
            f"`--calibration-images` must be between 1 and {available:,} (the training images), "
            f"got {calibration}."
        )
    if calibration == 0:
        return test, None
    chosen = stratified_sample(splits.train_labels, calibration, np.random.default_rng(s.seed))
    return test, torch.from_numpy(splits.train_images[chosen]).float() / 255.0


def describe_trial(
    record: TrialRecord, info: RunInfo, model: torch.nn.Module, weights: str
) -> ModelDescription:
    """What a trial's network is, before its files are written and checked."""
    space = get_space(info.settings.space)
    cost = count_complexity(model, info.input_shape)
    return ModelDescription(
        space=info.settings.space,
        architecture=dict(record.architecture),
        architecture_text=space.describe(space.config_from_params(record.architecture)),
        trial=record.trial,
        weights=weights,
        input=InputSpec(tuple(info.input_shape), tuple(info.mean), tuple(info.std)),
        classes=tuple(info.classes),
        params=cost.params,
        macs=cost.macs,
        test=record.test,
        validation=record.validation,
    )


def export_trial(
    out: str | Path,
    *,
    trial: int | None = None,
    rank: int | None = None,
    dest: str | Path | None = None,
    quantize: str | None = None,
    calibration_images: int = DEFAULT_CALIBRATION_IMAGES,
) -> Bundle:
    """Export one trial's best-epoch model from the search results in ``out``.

    Args:
        out: the ``--out`` folder of a search.
        trial: the trial number; or
        rank: the rank on the Pareto front (1 = most accurate), as in ``pareto.csv``.
        dest: the folder to write; by default ``out/export/trial_NNNN``.
        quantize: ``"int8"`` adds int8 models (:mod:`nsearch.deployment.quantization`).
        calibration_images: training images that calibrate the int8 models.

    Raises:
        ValueError: unless exactly one of ``trial`` and ``rank`` is given, if it names no
            trained model on this machine, on an unknown ``quantize`` or a calibration count
            out of range.
        FileNotFoundError: if ``out`` holds no search.
    """
    check_quantize(quantize, calibration_images)
    run = open_run(out)
    record = pick(read_records(run.study, run.out), run.info.settings.selection, trial=trial,
                  rank=rank)  # fmt: skip
    model = load_trial_model(run.out, record, run.info)
    dest = Path(dest) if dest is not None else run.out / "export" / f"trial_{record.trial:04d}"
    description = describe_trial(record, run.info, model, SEARCH_WEIGHTS)
    test, calibration = run_images(run.info, calibration_images if quantize else 0)
    return write_bundle(model, dest, description, test, quantize=quantize,
                        calibration=calibration)  # fmt: skip


def check_quantize(quantize: str | None, calibration_images: int) -> None:
    """Refuse an unknown scheme or a calibration count below 1, in one sentence.

    Raises:
        ValueError: naming the value and what is allowed.
    """
    if quantize is not None and quantize not in SCHEMES:
        raise ValueError(f"`--quantize` can be {', '.join(SCHEMES)}, got {quantize!r}.")
    if quantize is not None and calibration_images < 1:
        raise ValueError(
            f"`--calibration-images` must be at least 1, got {calibration_images}."
        )
