from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nsearch.data import ImageDataModule, TensorLoader, modules
from nsearch.data import embedded as embedded_data

DEBIAN = modules.DEBIAN_FASHION_MNIST
needs_debian = pytest.mark.skipif(
    not DEBIAN.is_dir(), reason="Debian's dataset-fashion-mnist is not installed"
)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_embedded_data_loads_with_the_network_off(no_network: None) -> None:
    dm = ImageDataModule("embedded", seed=0)
    dm.setup("fit")
    assert dm.input_shape == (1, 28, 28) and dm.num_classes == 10
    train_x, train_y = next(iter(dm.train_dataloader()))
    assert train_x.shape == (128, 1, 28, 28) and train_x.dtype == torch.float32
    sizes = {k: len(v) for k, v in dm._load().items() if k.endswith("_y")}
    assert sizes == {"train_y": 9000, "val_y": 1000, "test_y": 2000}
    counts = torch.bincount(dm._load()["test_y"], minlength=10)
    assert counts.tolist() == [200] * 10  # stratified
    assert abs(float(dm._load()["train_x"].mean())) < 1e-3  # normalised


def test_embedded_file_is_small_and_checked() -> None:
    assert embedded_data.PATH.stat().st_size <= 6e6
    arrays = embedded_data.load()
    assert embedded_data.checksum(arrays) == embedded_data.SHA256


@needs_debian
def test_rebuild_script_reproduces_the_checksum(tmp_path: Path) -> None:
    out = tmp_path / "subset.npz"
    assert embedded_data.main(["--source", str(DEBIAN), "--out", str(out)]) == 0
    with np.load(out) as f:
        assert embedded_data.checksum({k: f[k] for k in f.files}) == embedded_data.SHA256


def test_split_is_seeded_and_disjoint() -> None:
    a, b, c = (ImageDataModule("embedded", seed=s)._load() for s in (0, 0, 1))
    assert torch.equal(a["val_x"], b["val_x"]) and not torch.equal(a["val_x"], c["val_x"])
    train = {image.numpy().tobytes() for image in a["train_x"]}
    assert not any(image.numpy().tobytes() in train for image in a["val_x"])


def test_tensor_loader_shuffles_each_epoch_and_flips() -> None:
    x = torch.arange(10.0).view(10, 1, 1, 1).expand(10, 1, 1, 2).clone()
    x[..., 1] += 100
    loader = TensorLoader(x, torch.arange(10), 4, shuffle=True, flip=True, seed=0)
    assert len(loader) == 3
    first = torch.cat([y for _, y in loader])
    second = torch.cat([y for _, y in loader])
    assert sorted(first.tolist()) == list(range(10)) and not torch.equal(first, second)
    flipped = [bool(xb[i, 0, 0, 0] > 50) for xb, _ in loader for i in range(len(xb))]
    assert any(flipped) and not all(flipped)


def write_idx(folder: Path, images: np.ndarray, labels: np.ndarray, prefix: str) -> None:
    import gzip

    with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x03" + b"".join(int(d).to_bytes(4, "big") for d in images.shape))
        f.write(images.tobytes())
    with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x01" + len(labels).to_bytes(4, "big") + labels.tobytes())


def test_fashion_mnist_from_torchvision_layout(tmp_path: Path) -> None:
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    write_idx(
        raw,
        rng.integers(0, 255, (50, 28, 28), dtype=np.uint8),
        np.arange(50, dtype=np.uint8) % 10,
        "train",
    )
    write_idx(
        raw,
        rng.integers(0, 255, (20, 28, 28), dtype=np.uint8),
        np.arange(20, dtype=np.uint8) % 10,
        "t10k",
    )
    dm = ImageDataModule("fashion-mnist", tmp_path, val_fraction=0.2)
    sizes = {k: len(v) for k, v in dm._load().items() if k.endswith("_y")}
    assert sizes == {"train_y": 40, "val_y": 10, "test_y": 20}


@needs_debian
def test_full_fashion_mnist_from_the_debian_package() -> None:
    dm = ImageDataModule("fashion-mnist")
    assert len(dm._load()["train_y"]) + len(dm._load()["val_y"]) == 60000
    assert len(dm._load()["test_y"]) == 10000


def test_missing_fashion_files_name_the_folder_and_files(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"does not hold Fashion-MNIST: expected train-images-idx3-ubyte.gz"
    ):
        ImageDataModule("fashion-mnist", tmp_path).setup()


def test_no_fashion_mnist_anywhere_and_no_network(
    no_network: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(modules, "DEBIAN_FASHION_MNIST", tmp_path / "absent")
    monkeypatch.setattr(modules, "DOWNLOAD_CACHE", tmp_path / "cache")
    with pytest.raises(FileNotFoundError, match="could not be downloaded .* dataset-fashion-mnist"):
        ImageDataModule("fashion-mnist").setup()


def test_cifar10_needs_its_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        ImageDataModule("cifar10", tmp_path).setup()


def test_cifar10_from_a_local_folder(tmp_path: Path) -> None:
    import pickle

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 255, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 3]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)
    dm = ImageDataModule("cifar10", tmp_path, val_fraction=0.25)
    assert dm.input_shape == (3, 32, 32) and dm.num_classes == 10
    assert len(dm._load()["train_y"]) == 15 and len(dm._load()["test_y"]) == 4


def test_imagefolder_tree(tmp_path: Path) -> None:
    for split, n in (("train", 6), ("test", 2)):
        for cls in ("cat", "dog"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (40, 30), (i * 20, 0, 0)).save(tmp_path / split / cls / f"{i}.png")
    dm = ImageDataModule("imagefolder", tmp_path, image_size=16, val_fraction=0.25)
    assert dm.input_shape == (3, 16, 16) and dm.classes == ("cat", "dog")
    assert len(dm._load()["test_y"]) == 4


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"dataset": "mnist"},
            ValueError,
            r"`dataset` can be embedded, fashion-mnist, cifar10, imagefolder, got 'mnist'",
        ),
        ({"val_fraction": 0.9}, ValueError, r"`val_fraction` must be in \(0, 0.5\], got 0.9"),
        ({"batch_size": 0}, ValueError, r"`batch_size` must be a positive integer, got 0"),
    ],
)
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        ImageDataModule(**kwargs)


def test_imagefolder_without_train_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="needs a train/ folder"):
        ImageDataModule("imagefolder", tmp_path).setup()
