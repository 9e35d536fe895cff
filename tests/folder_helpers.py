"""Tiny ImageFolder trees for the tests, written as PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_folder(root: Path, *, per_class: int = 12, test_per_class: int = 4, size: int = 40,
                 classes: int = 3, sizes: list[tuple[int, int]] | None = None,
                 mode: str = "RGB") -> Path:  # fmt: skip
    """``root/train/class<k>/*.png`` and ``root/test/...``: class k is brightest in channel k.
    ``sizes`` cycles through (width, height) pairs instead of one ``size``."""
    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("test", test_per_class)):
        for c in range(classes):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                w, h = sizes[i % len(sizes)] if sizes else (size, size)
                pixels = (rng.random((h, w, 3)) * 60).astype(np.uint8)
                pixels[:, :, c % 3] += 150
                image = Image.fromarray(pixels)
                if mode == "I;16":
                    image = Image.fromarray(pixels[:, :, c % 3].astype(np.uint16) * 256)
                elif mode != "RGB":
                    image = image.convert(mode)
                image.save(folder / f"{i}.png")
    return root
