"""A searched trial as the files a device takes: its search checkpoint, packaged as a
:class:`~nsearch.deployment.bundle.Bundle` (``python -m nsearch.export``).

Reads the search's records and the data's test split; it does not import Lightning.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nsearch.cost.complexity import count_complexity
from nsearch.data import SourceOptions, get_source, scan_folder, stratified_sample
from nsearch.data._folder import FolderImages, eval_transform
from nsearch.deployment.bundle import FORMATS, Bundle, LabelledImages, write_bundle
from nsearch.deployment.description import InputSpec, ModelDescription
from nsearch.deployment.model_card import model_card
from nsearch.deployment.quantization import DEFAULT_CALIBRATION_IMAGES, SCHEMES
from nsearch.search.evaluation import load_trial_model
from nsearch.search.results import TrialRecord, read_records
from nsearch.search.run_info import RunInfo, open_run
from nsearch.search.selection import pick
from nsearch.search_spaces import get_space

__all__ = ["SEARCH_WEIGHTS", "calibration_count", "describe_trial", "export_trial",
           "note_calibration", "run_images"]  # fmt: skip

SEARCH_WEIGHTS = (
    "the search's checkpoint of this trial's best epoch, trained for the search on the training "
    "split only: not a final training run (python -m nsearch.finalize trains the architecture "
    "from scratch on training and validation data)"
)


def run_images(info: RunInfo, calibration: int | None = 0, *,
               datamodule: Any = None) -> tuple[LabelledImages, torch.Tensor | None]:  # fmt: skip
    """The run's test split as the model takes it (uint8 pixels for nsearch's sources and
    folders, taken as [0, 1]; the user's datamodule's test batches as they are), and training
    images the same way to calibrate int8 models (a stratified subset, seeded by the run's
    seed): ``calibration`` of them, or by default (``None``) as :func:`calibration_count` says;
    none (``None`` returned) for 0.

    Raises:
        ValueError: if ``calibration`` is negative or more than the training images, or a
            user's datamodule is needed and cannot be had.
    """
    s = info.settings
    if datamodule is not None or s.datamodule is not None:
        return _user_images(s.datamodule, datamodule, calibration)
    if s.data == "imagefolder":
        scan = scan_folder(s.data_dir, s.image_size)
        test, train_labels = _decoded(scan.test, scan.size), [y for _, y in scan.train]
        pick = _calibration(np.array(train_labels), calibration, s.seed)
        chosen = None if pick is None else [scan.train[int(i)] for i in pick]
        return test, None if chosen is None else _decoded(chosen, scan.size).images
    splits = get_source(s.data).load(Path(s.data_dir) if s.data_dir else None, SourceOptions())
    test = LabelledImages(torch.from_numpy(splits.test_images),
                          torch.from_numpy(splits.test_labels))  # fmt: skip
    pick = _calibration(splits.train_labels, calibration, s.seed)
    return test, None if pick is None else torch.from_numpy(splits.train_images[pick])


def calibration_count(asked: int | None, available: int) -> int:
    """How many of ``available`` training images calibrate: ``asked``, or by default (``None``)
    :data:`~nsearch.deployment.quantization.DEFAULT_CALIBRATION_IMAGES`, or all of them where
    there are fewer.

    Raises:
        ValueError: if ``asked`` is negative or more than ``available``.

    Example::

        >>> calibration_count(None, 36), calibration_count(None, 1000), calibration_count(20, 36)
        (36, 256, 20)
    """
    if asked is None:
        return min(DEFAULT_CALIBRATION_IMAGES, available)
    if not 0 <= asked <= available:
        raise ValueError(
            f"`--calibration-images` must be between 1 and {available:,} (the training images), "
            f"got {asked}."
        )
    return asked


def _calibration(labels: np.ndarray, count: int | None, seed: int) -> np.ndarray | None:
    count = calibration_count(count, len(labels))
    return None if count == 0 else stratified_sample(labels, count, np.random.default_rng(seed))


def note_calibration(bundle: Bundle, asked: int | None, taken: torch.Tensor | None) -> Bundle:
    """``bundle``, with a note in its description, ``config.json`` and model card where its
    int8 models were calibrated on fewer images than the default (``asked`` is None) because
    the training images are fewer."""
    if asked is not None or taken is None or len(taken) >= DEFAULT_CALIBRATION_IMAGES:
        return bundle
    if not bundle.description.int8:  # no int8 model was written (its runtime is missing)
        return bundle
    note = (f"int8 calibrated on {len(taken):,} training images (all there are; "
            f"{DEFAULT_CALIBRATION_IMAGES} asked by default).")  # fmt: skip
    description = dataclasses.replace(bundle.description,
                                      notes=(*bundle.description.notes, note))  # fmt: skip
    bundle.config.write_text(json.dumps(description.config(), indent=2) + "\n")
    bundle.card.write_text(model_card(description))
    return dataclasses.replace(bundle, description=description)


def _decoded(samples: list[tuple[str, int]], size: int) -> LabelledImages:
    dataset = FolderImages(samples, eval_transform(size))
    items = [dataset[i] for i in range(len(dataset))]
    return LabelledImages(torch.stack([image for image, _ in items]),
                          torch.tensor([label for _, label in items]))  # fmt: skip


def _user_images(
    path: str | None, datamodule: Any, calibration: int | None
) -> tuple[LabelledImages, torch.Tensor | None]:
    from nsearch.search.user_code import check_batch, load_datamodule

    if datamodule is None:
        if path is None:
            raise ValueError("This run used a datamodule given as an object: pass it again "
                             "(datamodule=...) to export or finalize.")  # fmt: skip
        datamodule = load_datamodule(path)
    datamodule.prepare_data()
    datamodule.setup("test")
    batches = [check_batch(b, "test") for b in datamodule.test_dataloader()]
    test = LabelledImages(torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches]))
    if calibration == 0:
        return test, None
    datamodule.setup("fit")
    wanted = DEFAULT_CALIBRATION_IMAGES if calibration is None else calibration
    taken: list[torch.Tensor] = []
    for batch in datamodule.train_dataloader():
        taken.append(check_batch(batch, "training")[0])
        if sum(len(t) for t in taken) >= wanted:
            break
    images = torch.cat(taken)[:wanted]
    calibration_count(calibration, len(images))  # an explicit count the loader cannot give
    return test, images


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
        input=InputSpec(tuple(info.input_shape), tuple(info.mean), tuple(info.std),
                        info.preprocessing or InputSpec.preprocessing),
        classes=tuple(info.classes),
        params=cost.params,
        macs=cost.macs,
        test=record.test,
        validation=record.validation,
        validation_fidelity=record.fidelity,
    )


def export_trial(
    out: str | Path,
    *,
    trial: int | None = None,
    rank: int | None = None,
    dest: str | Path | None = None,
    quantize: str | None = None,
    calibration_images: int | None = None,
    formats: Sequence[str] = FORMATS,
    datamodule: Any = None,
) -> Bundle:
    """Export one trial's best-epoch model from the search results in ``out``.

    Args:
        out: the ``--out`` folder of a search.
        trial: the trial number; or
        rank: the rank on the Pareto front (1 = most accurate), as in ``pareto.csv``.
        dest: the folder to write; by default ``out/export/trial_NNNN``.
        quantize: ``"int8"`` adds int8 models (:mod:`nsearch.deployment.quantization`).
        calibration_images: training images that calibrate the int8 models; by default
            (``None``) 256, or all of them where there are fewer (``config.json`` notes it).
        formats: the model files to write (:data:`~nsearch.deployment.bundle.FORMATS`).
        datamodule: the run's datamodule, where it was given as an object.

    Raises:
        ValueError: unless exactly one of ``trial`` and ``rank`` is given, if it names no
            trained model on this machine, on an unknown ``quantize`` or a calibration count
            out of range.
        FileNotFoundError: if ``out`` holds no search.
    """
    check_quantize(quantize, calibration_images)
    run = open_run(out)
    run.info.check_data(run.out, "export", datamodule)
    record = pick(read_records(run.study, run.out), run.info.settings.selection, trial=trial,
                  rank=rank)  # fmt: skip
    model = load_trial_model(run.out, record, run.info)
    dest = Path(dest) if dest is not None else run.out / "export" / f"trial_{record.trial:04d}"
    description = describe_trial(record, run.info, model, SEARCH_WEIGHTS)
    test, calibration = run_images(run.info, calibration_images if quantize else 0,
                                   datamodule=datamodule)  # fmt: skip
    bundle = write_bundle(model, dest, description, test, quantize=quantize,
                          calibration=calibration, formats=formats)  # fmt: skip
    return note_calibration(bundle, calibration_images, calibration)


def check_quantize(quantize: str | None, calibration_images: int | None) -> None:
    """Refuse an unknown scheme or a calibration count below 1 (``None``: the default), in one
    sentence.

    Raises:
        ValueError: naming the value and what is allowed.
    """
    if quantize is not None and quantize not in SCHEMES:
        raise ValueError(f"`--quantize` can be {', '.join(SCHEMES)}, got {quantize!r}.")
    if quantize is not None and calibration_images is not None and calibration_images < 1:
        raise ValueError(
            f"`--calibration-images` must be at least 1, got {calibration_images}."
        )
