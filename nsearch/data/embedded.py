"""The embedded default data: a stratified subset of Fashion-MNIST shipped inside the package.

10,000 training images (1,000 per class) and 2,000 test images (200 per class), drawn with a fixed
seed from the official files. Fashion-MNIST is (c) Zalando SE, MIT licence.

Rebuild it from the official ``*-ubyte.gz`` files (Debian's ``dataset-fashion-mnist`` installs them
in ``/usr/share/datasets/fashion-mnist``) and check the checksum::

    python -m nsearch.data.embedded --source /usr/share/datasets/fashion-mnist
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
from pathlib import Path

import numpy as np

PATH = Path(__file__).with_name("fashion_mnist_subset.npz")
TRAIN_PER_CLASS, TEST_PER_CLASS, SEED = 1000, 200, 0
# sha256 of the four arrays' bytes, in the order of `_ARRAYS`.
SHA256 = "3174214b14a34562dfdd1f19568ba799484761050e540159a3d014c473b24629"
_ARRAYS = ("train_images", "train_labels", "test_images", "test_labels")
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (``.gz`` or not) as a uint8 array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape).copy()


def find_idx(directory: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


def checksum(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in _ARRAYS:
        digest.update(np.ascontiguousarray(arrays[name]).tobytes())
    return digest.hexdigest()


def stratified(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    picks = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in range(10)]
    return np.sort(np.concatenate(picks))


def build(source: Path) -> dict[str, np.ndarray]:
    """Draw the subset from the official files in ``source``."""
    full = {}
    for name, stem in FILES.items():
        path = find_idx(source, stem)
        if path is None:
            raise FileNotFoundError(f"{source} has no {stem}.gz (or {stem}).")
        full[name] = read_idx(path)
    rng = np.random.default_rng(SEED)
    train = stratified(full["train_labels"], TRAIN_PER_CLASS, rng)
    test = stratified(full["test_labels"], TEST_PER_CLASS, rng)
    return {
        "train_images": full["train_images"][train],
        "train_labels": full["train_labels"][train],
        "test_images": full["test_images"][test],
        "test_labels": full["test_labels"][test],
    }


def load() -> dict[str, np.ndarray]:
    """The embedded arrays, checked against :data:`SHA256`."""
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
