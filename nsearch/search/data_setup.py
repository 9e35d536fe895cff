"""The candidates' data and recipe as a search's settings describe them: nsearch's in-memory
sources, a streamed image folder at its own size, or the user's own datamodule and module."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import torch

from nsearch.data import scan_folder
from nsearch.search.candidates import USER_PREPROCESSING, Candidates, ModuleFactory
from nsearch.search.fingerprint import (
    DataFingerprint,
    fingerprint_datamodule,
    fingerprint_folder,
    fingerprint_source,
    object_origin,
    refuse_changed_data,
)
from nsearch.search.settings import SearchSettings

__all__ = ["make_candidates"]


def make_candidates(settings: SearchSettings, out: Path, *, datamodule: Any = None,
                    module: ModuleFactory | None = None,
                    recorded: DataFingerprint | None = None) -> Candidates:  # fmt: skip
    """The data (set up) and training recipe of every candidate of the search: the user's
    datamodule and module where given (as objects, or by ``--datamodule`` and ``--module``),
    else nsearch's source ``settings.data`` and its :class:`~nsearch.training.Classifier`.

    A resumed run's ``recorded`` fingerprint is compared with the data's before anything is
    written to ``out`` (an image folder's decoding cache included).

    Raises:
        ValueError: on data or a recipe that cannot be used, or data other than ``recorded``,
            in one sentence.
        FileNotFoundError: when the data is not where it was asked for.
    """
    from nsearch.search import user_code
    from nsearch.training.classifier import Classifier

    user_module = module is not None or settings.module is not None
    if module is None:
        module = (user_code.load_module_factory(settings.module) if settings.module
                  else functools.partial(Classifier, lr=settings.peak_lr))  # fmt: skip
    if datamodule is not None or settings.datamodule is not None:
        if datamodule is None:
            assert settings.datamodule is not None
            origin = settings.datamodule
            datamodule = user_code.load_datamodule(settings.datamodule)
        else:
            origin = object_origin(datamodule)
        facts = fingerprint_datamodule(datamodule, origin)
        refuse_changed_data(recorded, facts, out, "resume")
        c = facts.input_shape[0]
        return Candidates(datamodule, facts.input_shape, facts.classes, facts.val_images, module,
                          (0.0,) * c, (1.0,) * c, USER_PREPROCESSING,
                          "as your datamodule's training loader does", user_module,
                          facts)  # fmt: skip
    if settings.image_size is not None and settings.data != "imagefolder":
        raise ValueError(
            f"`--image-size` resizes the images of --data imagefolder; --data {settings.data} "
            "has images of one size."
        )
    if settings.data == "imagefolder":
        from nsearch.data import FolderDataModule

        scan = scan_folder(settings.data_dir, settings.image_size)
        fingerprint = fingerprint_folder(scan, settings.train_limit, settings.seed)
        refuse_changed_data(recorded, fingerprint, out, "resume")
        cache = out / "cache" if settings.image_cache == "uint8" else None
        gpu = torch.cuda.is_available() and settings.accelerator in ("auto", "gpu", "cuda")
        folder = FolderDataModule(settings.data_dir or "", image_size=settings.image_size,
                                  augment=settings.augment, batch_size=settings.batch_size,
                                  seed=settings.seed, train_limit=settings.train_limit,
                                  cache=cache, pin_memory=gpu)  # fmt: skip
        folder.setup("fit")
        augmentation = ("random resized crops of 25-100 % of each image and horizontal flips"
                        if settings.augment == "standard" else "none")  # fmt: skip
        fingerprint = dataclasses.replace(fingerprint, mean=folder.mean, std=folder.std)
        return Candidates(folder, folder.input_shape, folder.classes, folder.val_images, module,
                          folder.mean, folder.std, folder.scan.preprocessing(), augmentation,
                          user_module, fingerprint)  # fmt: skip
    from nsearch.data import ImageDataModule

    data = ImageDataModule(settings.data, settings.data_dir, batch_size=settings.batch_size,
                           seed=settings.seed, train_limit=settings.train_limit)  # fmt: skip
    data.setup("fit")
    fingerprint = fingerprint_source(settings.data, settings.data_dir, settings.train_limit,
                                     settings.seed)  # fmt: skip
    refuse_changed_data(recorded, fingerprint, out, "resume")
    return Candidates(data, data.input_shape, data.classes, data.val_images, module, data.mean,
                      data.std, user_module=user_module, fingerprint=fingerprint)  # fmt: skip
