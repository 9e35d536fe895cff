"""The source ``imagefolder`` in memory: a small ImageFolder tree decoded whole, at
``options.image_size``, for :class:`~nsearch.data.ImageDataModule`.

It shares its scan, checks and evaluation transform with the streamed
:class:`~nsearch.data.FolderDataModule`, which a search uses for folders (``--data
imagefolder``): that one reads images as training goes and searches them at their own size.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from nsearch.data._folder import FolderImages, eval_transform, scan_folder
from nsearch.data._registry import SourceOptions, register_source
from nsearch.data._splits import Splits


def _decode(samples: Sequence[tuple[str, int]], size: int) -> tuple[np.ndarray, np.ndarray]:
    dataset = FolderImages(samples, eval_transform(size))
    items = [dataset[i] for i in range(len(dataset))]
    images = torch.stack([image for image, _ in items]).numpy()
    return images, np.array([label for _, label in items], dtype=np.int64)


@register_source("imagefolder", "Any ImageFolder tree: data_dir/train/<class>/* and test/ or val/.")
def load_imagefolder(data_dir: Path | None, options: SourceOptions) -> Splits:
    """An ImageFolder tree, every image resized and centre-cropped to ``options.image_size``.

    Raises:
        FileNotFoundError: if ``data_dir`` has no ``train/`` folder, or no ``test/`` or ``val/``.
        ValueError: as :func:`~nsearch.data._folder.scan_folder` (classes that differ between
            train and test, an empty class folder, a file that is not an image).
    """
    scan = scan_folder(data_dir, options.image_size)
    train_x, train_y = _decode(scan.train, scan.size)
    test_x, test_y = _decode(scan.test, scan.size)
    return Splits(train_x, train_y, test_x, test_y, scan.classes)
