"""An ImageFolder tree, read as training goes: its scan (classes, files, sizes, checks), the
transforms it is searched with, and the datasets that decode it. No Lightning here.

``data_dir/train/<class>/*`` holds the training images (the validation split is carved from
them) and ``data_dir/test/<class>/*`` (or ``val/``) the test images. Images are decoded to RGB:
grayscale, RGBA, palette and 16-bit images are converted (said once, in the log and in
``run.json``). With no image size given, a folder whose images all share one square size is
searched at that size.

Evaluation resizes the shorter side to the size and centre-crops a square (the identity for a
folder of square images at that size); training adds a light standard augmentation, as
torchvision's classification recipe does, scaled for small inputs: a random resized crop of
25-100 % of the image (the recipe's 8 % would lose the object at 32 pixels) and a horizontal
flip.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["AUGMENTATIONS", "FolderImages", "FolderScan", "UndecodableImage", "augmentation",
           "decode", "eval_transform", "scan_folder", "train_transform"]  # fmt: skip

log = logging.getLogger(__name__)

EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
AUGMENTATIONS = ("standard", "none")
CROP_SCALE = (0.25, 1.0)


class UndecodableImage(ValueError):
    """An image of the folder that cannot be read or decoded, in one sentence that names it.

    It stays one sentence when raised in a DataLoader worker: torch raises the worker's error
    again in the main process as ``type(error)(text)``, where the text is "Caught ... in
    DataLoader worker process N" and the worker's traceback, whose last line is the sentence.
    """

    def __init__(self, message: str) -> None:
        marker = f"{type(self).__name__}: "
        if "\nOriginal Traceback" in message and marker in message:
            message = message.rsplit(marker, 1)[1].strip()
        super().__init__(message)


def _undecodable(path: str, error: BaseException) -> UndecodableImage:
    reason = str(error).rstrip(".") or type(error).__name__
    return UndecodableImage(f"The image {path!r} cannot be decoded ({reason}).")


@dataclass(frozen=True)
class FolderScan:
    """What a folder holds, checked before anything trains.

    Attributes:
        root: the data directory.
        test_folder: ``test`` or ``val``.
        classes: the class folders' names, sorted (their labels in order).
        train: ``(path, label)`` of every training image.
        test: ``(path, label)`` of every test image.
        size: the square side, in pixels, the images are searched at.
        modes: PIL modes other than RGB that are converted to RGB (e.g. ``L``, ``RGBA``).
    """

    root: Path
    test_folder: str
    classes: tuple[str, ...]
    train: list[tuple[str, int]] = field(repr=False)
    test: list[tuple[str, int]] = field(repr=False)
    size: int
    modes: tuple[str, ...] = ()

    def preprocessing(self) -> str:
        """The preprocessing a deployed model needs, in words."""
        modes = ", ".join(self.modes)
        converted = f" (this folder's {modes} images included)" if self.modes else ""
        return (f"decode to RGB{converted}, resize the shorter side to {self.size} pixels, "
                f"centre-crop {self.size} x {self.size}, scale to [0, 1]")  # fmt: skip


def _files(folder: Path, classes: Sequence[str]) -> list[tuple[str, int]]:
    """Every image of ``folder/<class>/``, sorted, with its label.

    Raises:
        ValueError: for a file that is not an image, or a class folder without images.
    """
    found = []
    for label, name in enumerate(classes):
        images = []
        for path in sorted((folder / name).rglob("*")):
            if path.is_dir() or path.name.startswith("."):
                continue
            if path.suffix.lower() not in EXTENSIONS:
                raise ValueError(
                    f"{str(path)!r} is not an image (the folders may hold "
                    f"{', '.join(EXTENSIONS)} files); move it out of the data directory."
                )
            images.append((str(path), label))
        if not images:
            raise ValueError(f"The class folder {str(folder / name)!r} holds no images.")
        found += images
    return found


def _decode_errors() -> tuple[type[BaseException], ...]:
    """What Pillow raises for a file it cannot read or decode (unreadable, not an image,
    truncated, corrupt, or a decompression bomb)."""
    from PIL import Image

    return OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError


def _header(path: str) -> tuple[tuple[int, int], str]:
    """An image's size and mode, from its header.

    Raises:
        UndecodableImage: if it cannot be read or its header decoded.
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.size, image.mode
    except _decode_errors() as error:
        raise _undecodable(path, error) from None


def scan_folder(data_dir: str | Path | None, image_size: int | None = None) -> FolderScan:
    """Scan and check an ImageFolder tree: classes, files, one size to search at, modes.

    Raises:
        FileNotFoundError: if ``data_dir`` has no ``train/`` folder, or no ``test/`` or ``val/``.
        ValueError: on a file that is not an image or cannot be decoded, an empty class folder,
            different classes in train and test, fewer than two classes, a non-positive
            ``image_size``, or images of several sizes (or not square) without ``image_size``.
    """
    if image_size is not None and image_size < 1:
        raise ValueError(f"`image_size` must be a positive number of pixels, got {image_size}.")
    root = Path(data_dir) if data_dir is not None else None
    if root is None or not (root / "train").is_dir():
        shown = "but no data directory was given" if root is None else f"got {str(root)!r}"
        raise FileNotFoundError(
            "An ImageFolder data directory needs a train/ folder with one sub-folder per class "
            f"(and test/ or val/ beside it), {shown}."
        )
    test_folder = next((n for n in ("test", "val") if (root / n).is_dir()), None)
    if test_folder is None:
        raise FileNotFoundError(f"The data directory {str(root)!r} has no test/ or val/ folder.")
    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    test_classes = sorted(p.name for p in (root / test_folder).iterdir() if p.is_dir())
    if test_classes != classes:
        raise ValueError(
            f"{str(root / test_folder)!r} has classes {test_classes} but train/ has {classes}; "
            "they must match."
        )
    if len(classes) < 2:
        raise ValueError(f"{str(root / 'train')!r} has {len(classes)} class folder(s); a "
                         "classifier needs at least two.")  # fmt: skip
    train, test = _files(root / "train", classes), _files(root / test_folder, classes)
    headers = [_header(path) for path, _ in train + test]
    sizes = sorted({size for size, _ in headers})
    modes = tuple(sorted({mode for _, mode in headers} - {"RGB"}))
    if image_size is None:
        if len(sizes) > 1 or sizes[0][0] != sizes[0][1]:
            shown = " and ".join(f"{w}x{h}" for w, h in sizes[:2])
            kind = f"{len(sizes)} sizes ({shown}, ...)" if len(sizes) > 1 else f"size {shown}"
            raise ValueError(
                f"The images of {str(root)!r} are of {kind}, not one square size; pass "
                "--image-size N to search them resized and centre-cropped to N x N pixels."
            )
        image_size = sizes[0][0]
    if modes:
        log.warning("%s: images of mode %s are converted to RGB.", root, ", ".join(modes))
    return FolderScan(root, test_folder, tuple(classes), train, test, image_size, modes)


def decode(path: str) -> Any:
    """An image as an RGB PIL image; 16-bit grayscale is scaled to 8 bits (not clipped).

    Raises:
        UndecodableImage: naming the file, if it cannot be read or decoded (a truncated or
            corrupt file passes the scan, which reads headers only, and fails here).
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            if image.mode not in ("I;16", "I;16B", "I;16L", "I"):
                return image.convert("RGB")
            array = np.asarray(image, dtype=np.float64)
            top = 65535.0 if image.mode.startswith("I;16") else max(1.0, float(array.max()))
    except _decode_errors() as error:
        raise _undecodable(path, error) from None
    return Image.fromarray(np.round(array * 255.0 / top).astype(np.uint8), mode="L").convert("RGB")


def eval_transform(size: int) -> Any:
    """Evaluation: RGB, shorter side resized to ``size``, centre crop, uint8 ``C x H x W``."""
    from torchvision.transforms import v2

    return v2.Compose([v2.PILToTensor(), v2.Resize(size, antialias=True), v2.CenterCrop(size)])


def augmentation(size: int, augment: str) -> Any:
    """The training augmentation of an evaluation-transformed image: (``"standard"``) a random
    resized crop of 25-100 % of it and a horizontal flip, or None (``"none"``)."""
    from torchvision.transforms import v2

    if augment == "none":
        return None
    return v2.Compose([v2.RandomResizedCrop(size, scale=CROP_SCALE, antialias=True),
                       v2.RandomHorizontalFlip()])  # fmt: skip


def train_transform(size: int, augment: str) -> Any:
    """Training: the evaluation transform, then the augmentation; uint8 ``C x H x W``."""
    from torchvision.transforms import v2

    extra = augmentation(size, augment)
    return eval_transform(size) if extra is None else v2.Compose([eval_transform(size), extra])


class FolderImages(torch.utils.data.Dataset[tuple[torch.Tensor, int]]):
    """Images of a folder decoded as they are asked for: ``(uint8 C x H x W, label)``."""

    def __init__(self, samples: Sequence[tuple[str, int]], transform: Any) -> None:
        self.samples, self.transform = list(samples), transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        return self.transform(decode(path)), label
