"""The embedded default data: a stratified subset of Fashion-MNIST shipped inside the package.

20,000 training images (2,000 per class) and 5,000 test images (500 per class), drawn with a fixed
seed from the official files; 11.0 MB compressed. With the default ``val_fraction`` of 0.2 the
data module holds out 4,000 of the training images (400 per class) for validation and trains on
16,000. Fashion-MNIST is (c) Zalando SE, MIT licence.

Rebuild it from the official ``*-ubyte.gz`` files (Debian's ``dataset-fashion-mnist`` installs them
in ``/usr/share/datasets/fashion-mnist``) and check the checksum::

    python -m nsearch.data.embedded --source /usr/share/datasets/fashion-mnist
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

from nsearch.data._idx import CLASSES, FILES, find_idx, read_idx

__all__ = ["CLASSES", "PATH", "SHA256", "build", "checksum", "load", "main"]

PATH = Path(__file__).with_name("fashion_mnist_subset.npz")
TRAIN_PER_CLASS, TEST_PER_CLASS, SEED = 2000, 500, 0
# sha256 of the four arrays' bytes, in the order of `_ARRAYS`.
SHA256 = "e3fed2355b07de4e6fbf50f42f0e33289311d1299b6b29ba4b1cf4b1a0c25f61"
_ARRAYS = ("train_images", "train_labels", "test_images", "test_labels")


def checksum(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over the bytes of the four arrays, in a fixed order."""
    digest = hashlib.sha256()
    for name in _ARRAYS:
        digest.update(np.ascontiguousarray(arrays[name]).tobytes())
    return digest.hexdigest()


def _per_class(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    picks = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in range(len(CLASSES))]
    return np.sort(np.concatenate(picks))


def build(source: Path) -> dict[str, np.ndarray]:
    """Draw the subset from the official files in ``source``.

    Raises:
        FileNotFoundError: if one of the four files is missing.
    """
    full = {}
    for name, stem in FILES.items():
        path = find_idx(source, stem)
        if path is None:
            raise FileNotFoundError(f"{source} has no {stem}.gz (or {stem}).")
        full[name] = read_idx(path)
    rng = np.random.default_rng(SEED)
    train = _per_class(full["train_labels"], TRAIN_PER_CLASS, rng)
    test = _per_class(full["test_labels"], TEST_PER_CLASS, rng)
    return {
        "train_images": full["train_images"][train],
        "train_labels": full["train_labels"][train],
        "test_images": full["test_images"][test],
        "test_labels": full["test_labels"][test],
    }


def load() -> dict[str, np.ndarray]:
    """The embedded arrays, checked against :data:`SHA256`.

    Raises:
        RuntimeError: if the file does not match its checksum.
    """
    with np.load(PATH) as f:
        arrays = {name: f[name] for name in _ARRAYS}
    if checksum(arrays) != SHA256:
        raise RuntimeError(f"{PATH} does not match its checksum; reinstall nsearch.")
    return arrays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rebuild the embedded Fashion-MNIST subset.")
    parser.add_argument(
        "--source",
        type=Path,
        default=Path("/usr/share/datasets/fashion-mnist"),
        help="The folder that holds the official Fashion-MNIST *-ubyte.gz files.",
    )
    parser.add_argument(
        "--out", type=Path, default=PATH, help="Where to write the .npz file (default: in place)."
    )
    args = parser.parse_args(argv)
    arrays = build(args.source)
    digest = checksum(arrays)
    np.savez_compressed(args.out, **arrays)  # type: ignore[arg-type]
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB), sha256 {digest}")
    if digest != SHA256:
        print(f"checksum differs from the recorded {SHA256}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
