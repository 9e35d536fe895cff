"""The source ``imagefolder``: any ImageFolder tree, resized to ``options.image_size``.

``data_dir/train/<class>/*`` holds the training images and ``data_dir/test/<class>/*`` (or
``val/``) the test images; both must have the same class folders. Images are read as RGB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nsearch.data._registry import SourceOptions, given, register_source
from nsearch.data._splits import Splits


def _read(folder: Path, size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from PIL import Image
    from torchvision.datasets import ImageFolder

    dataset = ImageFolder(str(folder))
    images = np.empty((len(dataset.samples), 3, size, size), dtype=np.uint8)
    for i, (path, _) in enumerate(dataset.samples):
        with Image.open(path) as image:
            images[i] = np.asarray(image.convert("RGB").resize((size, size))).transpose(2, 0, 1)
    return images, np.asarray(dataset.targets, dtype=np.int64), dataset.classes


@register_source("imagefolder", "Any ImageFolder tree: data_dir/train/<class>/* and test/ or val/.")
def load_imagefolder(data_dir: Path | None, options: SourceOptions) -> Splits:
    """An ImageFolder tree, every image resized to ``options.image_size`` square.

    Raises:
        FileNotFoundError: if ``data_dir`` has no ``train/`` folder, or no ``test/`` or ``val/``.
        ValueError: if the test folder's classes differ from the training folder's.
    """
    if data_dir is None or not (data_dir / "train").is_dir():
        raise FileNotFoundError(
            "An ImageFolder data directory needs a train/ folder with one sub-folder per class "
            f"(and test/ or val/ beside it), {given(data_dir)}."
        )
    test_dir = next((data_dir / n for n in ("test", "val") if (data_dir / n).is_dir()), None)
    if test_dir is None:
        raise FileNotFoundError(
            f"The data directory {str(data_dir)!r} has no test/ or val/ folder."
        )
    train_x, train_y, classes = _read(data_dir / "train", options.image_size)
    test_x, test_y, test_classes = _read(test_dir, options.image_size)
    if test_classes != classes:
        raise ValueError(
            f"{test_dir} has classes {test_classes} but train/ has {classes}; they must match."
        )
    return Splits(train_x, train_y, test_x, test_y, tuple(classes))
