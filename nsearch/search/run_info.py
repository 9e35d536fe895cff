"""A run's folder: ``run.json`` (what the study is and how its data was prepared) and the one way
to open a run's study.

Storages inside the folder (the default SQLite file or journal) are recorded relative to it, so a
moved or copied folder resumes and exports on its own copy of the study.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from nsearch._version import __version__
from nsearch.data import scan_folder
from nsearch.search.fingerprint import (
    DataFingerprint,
    fingerprint_datamodule,
    fingerprint_folder,
    fingerprint_source,
    object_origin,
    refuse_changed_data,
)
from nsearch.search.options import changed_identity
from nsearch.search.settings import SearchSettings
from nsearch.search.storage import open_storage

__all__ = ["RUN_FILE", "Run", "RunInfo", "check_same_identity", "open_run"]

RUN_FILE = "run.json"
# The Python call that gives a run's objects again, by verb.
_CALLS = {
    "resume": "nsearch.run_study(settings, {out!r}, {arg}=...)",
    "export": "nsearch.deployment.export_trial({out!r}, rank=1, {arg}=...)",
    "finalize": "nsearch.deployment.finalize({out!r}, rank=1, {arg}=...)",
}
_PREFIXES = ("sqlite:///", "journal:")


def _storage_path(url: str) -> tuple[str, str] | None:
    """The prefix and file path of a file-based storage URL, or None."""
    for prefix in _PREFIXES:
        if url.startswith(prefix):
            return prefix, url.removeprefix(prefix).removeprefix("//")
    return None


def relative_storage(url: str, out: Path) -> tuple[str, bool]:
    """``url`` as recorded in ``run.json``: relative to ``out`` when its file lies inside it."""
    parts = _storage_path(url)
    if parts is None:
        return url, False
    prefix, path = parts
    try:
        inside = Path(path).resolve().relative_to(out.resolve())
    except ValueError:
        return prefix + str(Path(path).resolve()), False
    return prefix + inside.as_posix(), True


def absolute_storage(url: str, relative_to_out: bool, out: Path) -> str:
    """The storage URL to open, from its ``run.json`` form."""
    parts = _storage_path(url)
    if not relative_to_out or parts is None:
        return url
    prefix, path = parts
    return prefix + str((out / path).resolve())


@dataclass(frozen=True)
class RunInfo:
    """The contents of ``run.json``.

    Attributes:
        settings: the search's settings (the latest run's, for those free to change).
        study_name: the Optuna study's name.
        storage: the storage URL, relative to the run's folder when ``storage_in_out``.
        storage_in_out: whether ``storage`` names a file inside the run's folder.
        input_shape: one input's shape, ``C x H x W``.
        classes: the class names, in label order.
        mean: per-channel mean of the training images, on the [0, 1] pixel scale.
        std: per-channel standard deviation, on the same scale.
        preprocessing: what an image needs before the model, in words (resize, crop).
        augmentation: what the training images got, in words.
        version: the nsearch version that wrote the file.
        fingerprint: what the data was when the study was created (``None`` in runs of older
            versions), compared on every resume, export and finalize.
        module_object: the class or function name of a training recipe given as a Python
            object (not an import path), which resume and finalize need passed again.
    """

    settings: SearchSettings
    study_name: str
    storage: str
    storage_in_out: bool
    input_shape: tuple[int, ...]
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    preprocessing: str = ""
    augmentation: str = ""
    version: str = __version__
    fingerprint: DataFingerprint | None = None
    module_object: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def storage_url(self, out: Path) -> str:
        return absolute_storage(self.storage, self.storage_in_out, out)

    def write(self, out: Path) -> None:
        data: dict[str, Any] = {
            "settings": self.settings.to_dict(),
            "study_name": self.study_name,
            "storage": self.storage,
            "storage_in_out": self.storage_in_out,
            "input_shape": list(self.input_shape),
            "classes": list(self.classes),
            "mean": list(self.mean),
            "std": list(self.std),
            "preprocessing": self.preprocessing,
            "augmentation": self.augmentation,
            "version": self.version,
            "fingerprint": None if self.fingerprint is None else self.fingerprint.to_dict(),
            "module_object": self.module_object,
        }
        temporary = out / (RUN_FILE + ".tmp")
        temporary.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(temporary, out / RUN_FILE)

    @classmethod
    def read(cls, out: Path) -> RunInfo:
        """Read ``out/run.json``.

        Raises:
            FileNotFoundError: if ``out`` holds no run.
        """
        path = Path(out) / RUN_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{str(out)!r} holds no nsearch run ({RUN_FILE} is missing).")
        data = json.loads(path.read_text())
        return cls(
            settings=SearchSettings.from_dict(data["settings"]),
            study_name=data["study_name"],
            storage=data["storage"],
            storage_in_out=bool(data.get("storage_in_out", False)),
            input_shape=tuple(data["input_shape"]),
            classes=tuple(data["classes"]),
            mean=tuple(data["mean"]),
            std=tuple(data["std"]),
            preprocessing=data.get("preprocessing", ""),
            augmentation=data.get("augmentation", ""),
            version=data.get("version", "unknown"),
            fingerprint=DataFingerprint.from_dict(data["fingerprint"])
            if data.get("fingerprint")
            else None,
            module_object=data.get("module_object"),
        )

    def check_objects_given(self, out: Path, verb: str, datamodule: Any, module: Any) -> None:
        """Refuse to ``verb`` (resume, export, finalize) a run whose datamodule or recipe was a
        Python object without that object passed again, rather than fall back to other data
        or nsearch's recipe.

        Raises:
            ValueError: in one sentence, with the Python call to make.
        """
        if self.fingerprint is not None and self.fingerprint.given_as_object and datamodule is None:
            raise ValueError(
                f"{str(out)!r} was searched on a LightningDataModule given as "
                f"{self.fingerprint.origin}: {verb} it from Python with that datamodule passed "
                f"again, as {_CALLS[verb].format(out=str(out), arg='datamodule')}."
            )
        if self.module_object is not None and module is None and verb != "export":
            raise ValueError(
                f"{str(out)!r} trained its candidates with a recipe given as the object "
                f"{self.module_object}: {verb} it from Python with that recipe passed again, as "
                f"{_CALLS[verb].format(out=str(out), arg='module')}."
            )

    def check_data(self, out: Path, verb: str, datamodule: Any = None, module: Any = None) -> None:
        """Refuse to ``verb`` (export, finalize) the run without its objects
        (:meth:`check_objects_given`), or on data that has changed since it was searched.

        Raises:
            ValueError: in one sentence.
            FileNotFoundError: where the data is no longer where the run found it.
        """
        self.check_objects_given(out, verb, datamodule, module)
        if self.fingerprint is not None:
            current = current_fingerprint(self.settings, datamodule)
            refuse_changed_data(self.fingerprint, current, out, verb)


@dataclass(frozen=True)
class Run:
    """A run's folder, its ``run.json`` and its study, opened."""

    out: Path
    info: RunInfo
    study: optuna.Study


def open_run(out: str | os.PathLike[str]) -> Run:
    """Open the run in ``out`` and its study, through :func:`nsearch.storage.open_storage`.

    Raises:
        FileNotFoundError: if ``out`` holds no run.
        ValueError: if its storage cannot be opened or holds no such study.
    """
    out = Path(out)
    info = RunInfo.read(out)
    storage = open_storage(info.storage_url(out), heartbeat_seconds=info.settings.heartbeat)
    try:
        study = optuna.load_study(study_name=info.study_name, storage=storage)
    except KeyError:
        raise ValueError(
            f"The storage of {str(out)!r} ({info.storage}) holds no study named "
            f"{info.study_name!r}."
        ) from None
    return Run(out, info, study)


def check_same_identity(old: SearchSettings, new: SearchSettings, where: str, fix: str) -> None:
    """Refuse to continue a study whose trials meant something else.

    Raises:
        ValueError: naming each changed setting with its old and new value.
    """
    changes = changed_identity(old, new)
    if changes:
        raise ValueError(
            f"{where} was searched with other training settings ({'; '.join(changes)}), so its "
            f"trials could not be compared with new ones; {fix}."
        )


def current_fingerprint(settings: SearchSettings, datamodule: Any = None) -> DataFingerprint:
    """The fingerprint of a run's data as it is now: ``datamodule`` where given, else the one
    its settings name (an import path, a folder or a source); a folder's normalisation is not
    measured again.

    Raises:
        ValueError, FileNotFoundError: where the data cannot be read.
    """
    from nsearch.search.user_code import load_datamodule

    s = settings
    if datamodule is not None:
        return fingerprint_datamodule(datamodule, object_origin(datamodule))
    if s.datamodule is not None:
        return fingerprint_datamodule(load_datamodule(s.datamodule), s.datamodule)
    if s.data == "imagefolder":
        scan = scan_folder(s.data_dir, s.image_size)
        return fingerprint_folder(scan, s.train_limit, s.seed)
    return fingerprint_source(s.data, s.data_dir, s.train_limit, s.seed)
