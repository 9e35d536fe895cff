"""The data's fingerprint: what a study's trials were trained and validated on, written to
``run.json`` when the study is created and compared on every resume, export and finalize.

A study's trials can only be compared with, ranked against and exported beside data that is
still the same: the same classes in the same order, images of the same shape, the same number
of images in each split, the same normalisation and, where it can be read cheaply, the same
files. Each kind of data is fingerprinted by one function, at search time and afterwards alike:

- nsearch's sources (``embedded``, ``fashion-mnist``, ``cifar10``): the loaded arrays' digest,
  the search's split sizes and the training images' per-channel mean and std;
- an image folder: a digest of its file list (each file's path relative to the folder, and its
  size in bytes), the split sizes and, where the search measured it, its normalisation;
- the user's ``LightningDataModule``: its class names, dataset lengths, one image's shape and the
  dtypes of its first training batch.

Reading it needs no Lightning (a user's datamodule brings its own).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nsearch.data import FolderScan, SourceOptions, get_source
from nsearch.data._splits import VAL_FRACTION, split_train
from nsearch.data._stats import channel_stats

__all__ = ["DATAMODULE", "DataFingerprint", "refuse_changed_data",
           "data_differences", "fingerprint_datamodule", "fingerprint_folder",
           "fingerprint_source", "object_origin"]  # fmt: skip

DATAMODULE = "datamodule"
_DIGITS = 6  # normalisation compared to six decimals of the [0, 1] pixel scale


@dataclass(frozen=True)
class DataFingerprint:
    """What a study's data was.

    Attributes:
        source: ``embedded``, ``fashion-mnist``, ``cifar10``, ``imagefolder`` or ``datamodule``.
        origin: where it came from, in words: the data directory, the datamodule's import path,
            or ``an object of class NAME`` for a datamodule given as a Python object.
        classes: the class names, in label order.
        input_shape: one image's shape, ``C x H x W``.
        train_images: images the search trains on (``None``: not known cheaply).
        val_images: images it validates (selects) on.
        test_images: images in the test split (``None``: none, or not known cheaply).
        mean: per-channel mean it normalises with, [0, 1] units (``None``: not recomputed).
        std: per-channel std it normalises with.
        digest: SHA-256 of the file list (folders) or of the arrays (nsearch's sources).
        dtypes: the first training batch's image and label dtypes (datamodules).
    """

    source: str
    origin: str
    classes: tuple[str, ...]
    input_shape: tuple[int, ...]
    train_images: int | None
    val_images: int
    test_images: int | None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    digest: str | None = None
    dtypes: str | None = None

    @property
    def given_as_object(self) -> bool:
        """A datamodule given as a Python object: export and finalize need it passed again."""
        return self.source == DATAMODULE and self.origin.startswith("an object")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataFingerprint:
        values: dict[str, Any] = dict(data)
        for name in ("classes", "input_shape", "mean", "std"):
            if values.get(name) is not None:
                values[name] = tuple(values[name])
        return cls(**values)


def _count_change(old: int | None, new: int | None, what: str) -> list[str]:
    if old is None or new is None or old == new:
        return []
    return [f"{old:,} {what} images -> {new:,}"]


def _class_change(old: Sequence[str], new: Sequence[str]) -> list[str]:
    if tuple(old) == tuple(new):
        return []
    added = [c for c in new if c not in old]
    removed = [c for c in old if c not in new]
    change = f"{len(old)} classes -> {len(new)}"
    if added and not removed and list(old) == [c for c in new if c in old]:
        return [f"{change}: {', '.join(map(repr, added))} {_was(added)} added"]
    if removed and not added and list(new) == [c for c in old if c in new]:
        return [f"{change}: {', '.join(map(repr, removed))} {_was(removed)} removed"]
    return [f"classes {list(old)} -> {list(new)}"]


def _was(names: Sequence[str]) -> str:
    return "was" if len(names) == 1 else "were"


def _rounded(values: Sequence[float]) -> list[float]:
    return [round(float(v), _DIGITS) for v in values]


def _shown(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.4f}" for v in values) + ")"


def data_differences(old: DataFingerprint, new: DataFingerprint) -> list[str]:
    """What differs between two fingerprints, each in a few words; empty when nothing does.

    Values one side did not measure (``None``) are not compared.

    Example::

        >>> a = DataFingerprint("imagefolder", "photos", ("a", "b"), (3, 16, 16), 40, 10, 8)
        >>> data_differences(a, DataFingerprint("imagefolder", "photos", ("a", "b", "c"),
        ...                                     (3, 16, 16), 60, 15, 12))
        ["2 classes -> 3: 'c' was added", '40 training images -> 60', '10 validation images -> 15', '8 test images -> 12']
    """  # noqa: E501
    changes: list[str] = []
    if old.source != new.source:
        changes.append(f"data {old.source} -> {new.source}")
    changes += _class_change(old.classes, new.classes)
    if tuple(old.input_shape) != tuple(new.input_shape):
        shape = " x ".join
        changes.append(f"images {shape(map(str, old.input_shape))} -> "
                       f"{shape(map(str, new.input_shape))}")  # fmt: skip
    changes += _count_change(old.train_images, new.train_images, "training")
    changes += _count_change(old.val_images, new.val_images, "validation")
    changes += _count_change(old.test_images, new.test_images, "test")
    for name in ("mean", "std"):
        a, b = getattr(old, name), getattr(new, name)
        if a is not None and b is not None and _rounded(a) != _rounded(b):
            changes.append(f"normalisation {name} {_shown(a)} -> {_shown(b)}")
    if old.dtypes is not None and new.dtypes is not None and old.dtypes != new.dtypes:
        changes.append(f"batches of {old.dtypes} -> {new.dtypes}")
    if not changes and None not in (old.digest, new.digest) and old.digest != new.digest:
        what = "file names or sizes" if old.source == "imagefolder" else "pixels or labels"
        changes.append(f"the same number of images, but other {what}")
    return changes


def _split_sizes(labels: np.ndarray, train_limit: int | None, seed: int) -> tuple[int, int]:
    """Training and validation images as a search's data module splits them."""
    train, val = split_train(labels, VAL_FRACTION, train_limit, seed)
    return len(train), len(val)


def fingerprint_source(name: str, data_dir: str | None, train_limit: int | None,
                       seed: int) -> DataFingerprint:  # fmt: skip
    """The fingerprint of one of nsearch's sources as a search splits and normalises it.

    Raises:
        FileNotFoundError: when the data is not where it was asked for.
    """
    splits = get_source(name).load(Path(data_dir) if data_dir else None, SourceOptions())
    labels = splits.train_labels
    train, val = split_train(labels, VAL_FRACTION, train_limit, seed)
    mean, std = channel_stats(splits.train_images[train])
    digest = hashlib.sha256()
    for array in (splits.train_images, labels, splits.test_images, splits.test_labels):
        digest.update(np.ascontiguousarray(array).data)
    return DataFingerprint(name, data_dir or "packaged", tuple(splits.classes),
                           tuple(splits.train_images.shape[1:]), len(train), len(val),
                           len(splits.test_labels), mean, std, digest.hexdigest())  # fmt: skip


def fingerprint_folder(scan: FolderScan, train_limit: int | None, seed: int,
                       mean: Sequence[float] | None = None,
                       std: Sequence[float] | None = None) -> DataFingerprint:  # fmt: skip
    """The fingerprint of an image folder as a search streams it; its normalisation where the
    caller measured it (decoding thousands of images is not cheap)."""
    digest = hashlib.sha256()
    for path, label in scan.train + scan.test:
        relative = Path(path).relative_to(scan.root).as_posix()
        digest.update(f"{relative}\t{label}\t{Path(path).stat().st_size}\n".encode())
    labels = np.array([label for _, label in scan.train])
    train, val = _split_sizes(labels, train_limit, seed)
    return DataFingerprint(
        "imagefolder", str(scan.root), tuple(scan.classes), (3, scan.size, scan.size), train,
        val, len(scan.test), None if mean is None else tuple(mean),
        None if std is None else tuple(std), digest.hexdigest(),
    )  # fmt: skip


def _length(loader: Any) -> int | None:
    dataset = getattr(loader, "dataset", None)
    try:
        return len(dataset) if dataset is not None else None
    except TypeError:  # an iterable dataset
        return None


def fingerprint_datamodule(datamodule: Any, origin: str) -> DataFingerprint:
    """The fingerprint of a user's datamodule: what can be read cheaply (it is set up for
    fitting, and its validation loader read once).

    Raises:
        ValueError: on batches that are not ``(images, labels)``, no validation images, or
            fewer than two classes (:func:`~nsearch.search.user_code.datamodule_facts`).
    """
    from nsearch.search.user_code import check_batch, datamodule_facts

    shape, classes, val_images = datamodule_facts(datamodule)
    images, labels = check_batch(next(iter(datamodule.train_dataloader())), "training")
    try:
        test = _length(datamodule.test_dataloader())
    except Exception:  # no test loader (Lightning's default raises), or not set up for it
        test = None
    dtypes = f"{str(images.dtype).removeprefix('torch.')} images, " \
             f"{str(labels.dtype).removeprefix('torch.')} labels"  # fmt: skip
    return DataFingerprint(DATAMODULE, origin, classes, shape,
                           _length(datamodule.train_dataloader()), val_images, test,
                           dtypes=dtypes)  # fmt: skip


def object_origin(datamodule: Any) -> str:
    """The origin of a datamodule given as a Python object."""
    return f"an object of class {type(datamodule).__name__}"


def refuse_changed_data(recorded: DataFingerprint | None, current: DataFingerprint | None,
                        out: Path, verb: str) -> None:  # fmt: skip
    """Refuse to ``verb`` (resume, export, finalize) a run whose data has changed since its
    study was created.

    Raises:
        ValueError: in one sentence that says what changed and suggests a new ``--out``.
    """
    if recorded is None or current is None:
        return
    changes = data_differences(recorded, current)
    if not changes:
        return
    if verb == "resume":
        raise ValueError(
            f"`--out` {str(out)!r} was searched on other data ({'; '.join(changes)}), so its "
            "trials could not be compared with new ones; search this data with a new --out."
        )
    raise ValueError(
        f"The data is not what {str(out)!r} was searched on ({'; '.join(changes)}): {verb} with "
        "the search's data, or search this data with a new --out."
    )
