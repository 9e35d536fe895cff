from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import pickle
import socket
import threading
import urllib.request
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from PIL import Image
from torch import nn

from nsearch.data import (
    DATASETS,
    ImageDataModule,
    SourceOptions,
    Splits,
    TensorLoader,
    _fashion_mnist,
    _registry,
    get_source,
    list_sources,
    register_source,
)
from nsearch.data import embedded as embedded_data
from nsearch.data._datamodule import channel_stats
from nsearch.data._splits import class_quotas, split_train, stratified_sample
from nsearch.training.classifier import Classifier

DEBIAN = _fashion_mnist.DEBIAN_FASHION_MNIST
needs_debian = pytest.mark.skipif(
    not DEBIAN.is_dir(), reason="Debian's dataset-fashion-mnist is not installed"
)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def no_fashion_mnist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Neither Debian's package nor the download cache holds Fashion-MNIST; returns the cache."""
    monkeypatch.setattr(_fashion_mnist, "DEBIAN_FASHION_MNIST", tmp_path / "absent")
    monkeypatch.setattr(_fashion_mnist, "DOWNLOAD_CACHE", tmp_path / "cache")
    return tmp_path / "cache"


def labels_of(loader: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    return torch.cat([y for _, y in loader])


def images_of(loader: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> set[bytes]:
    return {image.numpy().tobytes() for x, _ in loader for image in x}


def counts(loader: Iterable[tuple[torch.Tensor, torch.Tensor]], classes: int) -> list[int]:
    return torch.bincount(labels_of(loader), minlength=classes).tolist()


# ---- the embedded data ----


def test_embedded_data_loads_with_the_network_off(no_network: None) -> None:
    dm = ImageDataModule("embedded", seed=0)
    dm.setup("fit")
    assert dm.input_shape == (1, 28, 28) and dm.num_classes == 10
    train_x, _ = next(iter(dm.train_dataloader()))
    assert train_x.shape == (128, 1, 28, 28) and train_x.dtype == torch.float32
    assert (dm.train_images, dm.val_images, dm.test_images) == (16000, 4000, 5000)
    assert counts(dm.train_dataloader(), 10) == [1600] * 10  # stratified
    assert counts(dm.val_dataloader(), 10) == [400] * 10
    assert counts(dm.test_dataloader(), 10) == [500] * 10
    train = torch.cat([x for x, _ in dm.train_dataloader()])
    assert abs(float(train.mean())) < 1e-3 and abs(float(train.std()) - 1) < 1e-3  # normalised


def test_embedded_file_is_small_and_checked() -> None:
    assert embedded_data.PATH.stat().st_size <= 15e6
    arrays = embedded_data.load()
    assert embedded_data.checksum(arrays) == embedded_data.SHA256
    assert len(arrays["train_labels"]) == 20000 and len(arrays["test_labels"]) == 5000
    assert np.bincount(arrays["train_labels"]).tolist() == [2000] * 10
    assert np.bincount(arrays["test_labels"]).tolist() == [500] * 10


@needs_debian
def test_rebuild_script_reproduces_the_checksum(tmp_path: Path) -> None:
    out = tmp_path / "subset.npz"
    assert embedded_data.main(["--source", str(DEBIAN), "--out", str(out)]) == 0
    assert out.stat().st_size <= 15e6
    with np.load(out) as f:
        assert embedded_data.checksum({k: f[k] for k in f.files}) == embedded_data.SHA256


def test_split_is_seeded_and_disjoint() -> None:
    a, b, c = (ImageDataModule("embedded", seed=s) for s in (0, 0, 1))
    val_a = torch.cat([x for x, _ in a.val_dataloader()])
    assert torch.equal(val_a, torch.cat([x for x, _ in b.val_dataloader()]))
    assert not torch.equal(val_a, torch.cat([x for x, _ in c.val_dataloader()]))
    labels = embedded_data.load()["train_labels"].astype(np.int64)
    train, val = split_train(labels, 0.2, None, seed=0)
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == 20000


# ---- defect 9 and the stratified, seeded subsets ----


def write_tree(root: Path, per_class: dict[str, int], test_per_class: int = 2) -> None:
    """Small PNGs of one flat colour each, so every image is distinct."""
    for c, (cls, n) in enumerate(per_class.items()):
        for split, count in (("train", n), ("test", test_per_class)):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(count):
                colour = (40 + 60 * c, 5 * i, 200 if split == "test" else 0)
                Image.new("RGB", (12, 10), colour).save(folder / f"{i:03d}.png")


def test_imagefolder_subsets_are_stratified_and_seeded(tmp_path: Path) -> None:
    # Defect 9: train_limit took the first N files in class order, leaving classes out.
    write_tree(tmp_path, {"a": 10, "b": 10, "c": 20})

    def make(seed: int) -> ImageDataModule:
        return ImageDataModule("imagefolder", tmp_path, image_size=8, val_fraction=0.2,
                               train_limit=8, seed=seed, flip=False)  # fmt: skip

    dm = make(0)
    assert counts(dm.train_dataloader(), 3) == [2, 2, 4]  # train_limit 8 < 10 images of "a"
    assert counts(dm.val_dataloader(), 3) == [2, 2, 4]
    train, val = images_of(dm.train_dataloader()), images_of(dm.val_dataloader())
    assert len(train) == 8 and len(val) == 8 and not train & val
    again, other = make(0), make(1)
    assert images_of(again.train_dataloader()) == train
    assert images_of(again.val_dataloader()) == val
    assert images_of(other.train_dataloader()) != train
    assert images_of(other.val_dataloader()) != val


def test_validation_split_holds_every_class_in_proportion(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a": 5, "b": 10, "c": 25})
    dm = ImageDataModule("imagefolder", tmp_path, image_size=8, val_fraction=0.2, seed=3)
    assert counts(dm.val_dataloader(), 3) == [1, 2, 5]
    assert counts(dm.train_dataloader(), 3) == [4, 8, 20]


def test_validation_split_does_not_depend_on_train_limit() -> None:
    labels = np.repeat(np.arange(4), [30, 20, 40, 10])
    train, val = split_train(labels, 0.25, None, seed=7)
    limited, same_val = split_train(labels, 0.25, 15, seed=7)
    assert np.array_equal(val, same_val) and set(limited) < set(train)
    assert np.bincount(labels[val]).tolist() == [8, 5, 10, 2]  # 7.5, 5, 10, 2.5
    assert np.bincount(labels[limited]).tolist() == [4, 3, 6, 2]  # 4.4, 3, 6, 1.6 of the rest


@pytest.mark.parametrize("size", [0, 1, 7, 33, 100])
def test_class_quotas_are_proportional_and_sum_to_the_size(size: int) -> None:
    class_counts = np.array([50, 30, 15, 5])
    quotas = class_quotas(class_counts, size)
    assert quotas.sum() == size
    assert np.all(np.abs(quotas - class_counts * size / 100) < 1)


def test_stratified_sample_rejects_a_size_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"`size` must be in \[0, 3\], got 4"):
        stratified_sample(np.zeros(3, dtype=np.int64), 4, np.random.default_rng(0))


# ---- units of normalisation ----


def test_mean_and_std_are_per_channel_floats_in_unit_pixel_scale() -> None:
    dm = ImageDataModule("embedded", flip=False)
    assert isinstance(dm.mean, tuple) and isinstance(dm.std, tuple)
    assert len(dm.mean) == len(dm.std) == 1 and all(isinstance(v, float) for v in dm.mean)
    assert 0.2 < dm.mean[0] < 0.4 and 0.25 < dm.std[0] < 0.45  # Fashion-MNIST in [0, 1]
    x, _ = next(iter(dm.train_dataloader()))
    pixels = x * dm.std[0] + dm.mean[0]  # back to [0, 1]: multiples of 1/255
    assert float(pixels.min()) > -1e-4 and float(pixels.max()) < 1 + 1e-4
    torch.testing.assert_close(pixels * 255, (pixels * 255).round(), atol=2e-3, rtol=0)


def test_channel_stats_are_exact_and_a_flat_channel_gets_std_one() -> None:
    images = np.zeros((2, 2, 1, 2), dtype=np.uint8)
    images[:, 0] = [[0, 255]]
    images[1, 0] = 51  # channel 0: 0, 255, 51, 51
    mean, std = channel_stats(images)
    expected = np.array([0, 255, 51, 51]) / 255
    assert mean == pytest.approx((expected.mean(), 0.0))
    assert std == pytest.approx((expected.std(), 1.0))


def test_mean_and_std_come_from_the_training_images_only(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a": 4, "b": 4})
    dm = ImageDataModule("imagefolder", tmp_path, image_size=4, val_fraction=0.25, flip=False)
    train = torch.cat([x for x, _ in dm.train_dataloader()])
    pixels = train * torch.tensor(dm.std).view(1, 3, 1, 1) + torch.tensor(dm.mean).view(1, 3, 1, 1)
    torch.testing.assert_close(pixels.mean((0, 2, 3)), torch.tensor(dm.mean, dtype=torch.float32))
    assert dm.mean[2] == 0.0 and dm.std[2] == 1.0  # blue is 0 in every training image


# ---- no validation split ----


def test_val_fraction_zero_holds_nothing_out() -> None:
    dm = ImageDataModule("embedded", val_fraction=0)
    assert (dm.train_images, dm.val_images) == (20000, 0)
    assert dm.val_dataloader() == []
    assert counts(dm.train_dataloader(), 10) == [2000] * 10
    all_train = embedded_data.load()["train_images"]
    assert dm.mean == pytest.approx((all_train.mean() / 255,))
    assert dm.std == pytest.approx((all_train.std() / 255,))


ZERO_LENGTH = (
    "Total length of `list` across ranks is zero. Please make sure this was your intention."
)


@pytest.mark.parametrize(
    ("trainer_kwargs", "allowed"), [({}, {ZERO_LENGTH}), ({"limit_val_batches": 0}, set())]
)
def test_val_fraction_zero_fits_without_validation(
    trainer_kwargs: dict, allowed: set[str], tmp_path: Path
) -> None:
    dm = ImageDataModule("embedded", val_fraction=0, batch_size=64)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    before = [p.detach().clone() for p in model.parameters()]
    validated: list[int] = []

    class Recording(Classifier):
        def validation_step(self, batch: Any, batch_idx: int) -> None:
            validated.append(batch_idx)

    classifier = Recording(model, channels_last=False)
    trainer = pl.Trainer(max_epochs=1, limit_train_batches=2, accelerator="cpu", logger=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=tmp_path, **trainer_kwargs)  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(classifier, datamodule=dm)
    # Deprecation and future notices between Lightning and torch versions are not ours.
    messages = {str(w.message) for w in caught
                if not issubclass(w.category, (DeprecationWarning, FutureWarning))}  # fmt: skip
    assert messages <= allowed
    assert trainer.global_step == 2 and "train_loss" in trainer.callback_metrics
    assert validated == [] and not any(k.startswith("val") for k in trainer.callback_metrics)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


# ---- full Fashion-MNIST ----


def write_idx(folder: Path, images: np.ndarray, labels: np.ndarray, prefix: str) -> None:
    with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x03" + b"".join(int(d).to_bytes(4, "big") for d in images.shape))
        f.write(images.tobytes())
    with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x01" + len(labels).to_bytes(4, "big") + labels.tobytes())


def write_fake_fashion(folder: Path) -> None:
    """50 training and 20 test images of random pixels, labels 0-9 in turn."""
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 50), ("t10k", 20)):
        images = rng.integers(0, 255, (n, 28, 28), dtype=np.uint8)
        write_idx(folder, images, np.arange(n, dtype=np.uint8) % 10, prefix)


def test_fashion_mnist_from_torchvision_layout(tmp_path: Path) -> None:
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    write_fake_fashion(raw)
    dm = ImageDataModule("fashion-mnist", tmp_path, val_fraction=0.2)
    assert (dm.train_images, dm.val_images, dm.test_images) == (40, 10, 20)
    assert counts(dm.val_dataloader(), 10) == [1] * 10


@needs_debian
def test_full_fashion_mnist_from_the_debian_package() -> None:
    dm = ImageDataModule("fashion-mnist")
    assert (dm.train_images, dm.val_images, dm.test_images) == (48000, 12000, 10000)


def test_missing_fashion_files_name_the_folder_and_files(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"does not hold Fashion-MNIST: expected train-images-idx3-ubyte.gz"
    ):
        ImageDataModule("fashion-mnist", tmp_path).setup()


def test_no_fashion_mnist_anywhere_and_no_network(
    no_network: None, no_fashion_mnist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[float | None] = []
    monkeypatch.setattr(socket, "setdefaulttimeout", calls.append)
    with pytest.raises(FileNotFoundError, match="could not be downloaded .* dataset-fashion-mnist"):
        ImageDataModule("fashion-mnist").setup()
    assert calls == []  # the process-wide socket timeout is never touched


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A local HTTP server standing in for the download mirror; yields the folder it serves."""
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(served))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setattr(_fashion_mnist, "MIRRORS", [f"http://127.0.0.1:{server.server_port}/"])
    yield served
    server.shutdown()
    server.server_close()


def test_download_with_a_timeout_per_request(
    mirror: Path, no_fashion_mnist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_fake_fashion(mirror)
    files = sorted(p.name for p in mirror.iterdir())
    monkeypatch.setattr(_fashion_mnist, "RESOURCES",
                        [(n, hashlib.md5((mirror / n).read_bytes()).hexdigest()) for n in files])  # fmt: skip
    timeouts: list[object] = []
    urlopen = urllib.request.urlopen

    def spy(*args: Any, **kwargs: Any) -> Any:
        timeouts.append(kwargs.get("timeout"))
        return urlopen(*args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", spy)
    monkeypatch.setattr(socket, "setdefaulttimeout", timeouts.append)
    dm = ImageDataModule("fashion-mnist", val_fraction=0.2)
    assert (dm.train_images, dm.val_images, dm.test_images) == (40, 10, 20)
    assert timeouts == [_fashion_mnist.DOWNLOAD_TIMEOUT_S] * 4
    assert sorted(p.name for p in (no_fashion_mnist / "FashionMNIST" / "raw").iterdir()) == files


def test_download_refuses_a_file_with_the_wrong_checksum(
    mirror: Path, no_fashion_mnist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_fake_fashion(mirror)
    monkeypatch.setattr(_fashion_mnist, "RESOURCES", [("t10k-labels-idx1-ubyte.gz", "0" * 32)])
    with pytest.raises(FileNotFoundError, match="does not match its md5 checksum"):
        ImageDataModule("fashion-mnist").setup()
    assert not any((no_fashion_mnist / "FashionMNIST" / "raw").iterdir())


# ---- CIFAR-10 and ImageFolder ----


def test_cifar10_needs_its_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        ImageDataModule("cifar10", tmp_path).setup()


def test_cifar10_from_a_local_folder(tmp_path: Path) -> None:
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
    assert (dm.train_images, dm.val_images, dm.test_images) == (15, 5, 4)
    assert counts(dm.val_dataloader(), 4) == [2, 1, 1, 1]


def test_imagefolder_tree(tmp_path: Path) -> None:
    write_tree(tmp_path, {"cat": 6, "dog": 6})
    dm = ImageDataModule("imagefolder", tmp_path, image_size=16, val_fraction=0.25)
    assert dm.input_shape == (3, 16, 16) and dm.classes == ("cat", "dog")
    assert (dm.train_images, dm.val_images, dm.test_images) == (9, 3, 4)


def test_imagefolder_without_train_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="needs a train/ folder"):
        ImageDataModule("imagefolder", tmp_path).setup()


def test_imagefolder_with_other_test_classes(tmp_path: Path) -> None:
    write_tree(tmp_path, {"cat": 2, "dog": 2})
    (tmp_path / "test" / "dog").rename(tmp_path / "test" / "cow")
    with pytest.raises(ValueError, match=r"has classes \['cat', 'cow'\] but train/ has"):
        ImageDataModule("imagefolder", tmp_path).setup()


# ---- the registry ----


def test_datasets_are_the_registered_sources_sorted() -> None:
    assert tuple(DATASETS) == ("cifar10", "embedded", "fashion-mnist", "imagefolder")
    assert list_sources() == list(DATASETS) and "embedded" in DATASETS
    assert all(get_source(name).description for name in DATASETS)


def test_a_registered_source_feeds_the_data_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_registry, "_SOURCES", dict(_registry._SOURCES))
    seen: list[SourceOptions] = []

    @register_source("tiny", "Eight 4x4 images of two classes.")
    def load_tiny(data_dir: Path | None, options: SourceOptions) -> Splits:
        seen.append(options)
        images = np.arange(8 * 16, dtype=np.uint8).reshape(8, 1, 4, 4)
        labels = np.arange(8, dtype=np.int64) % 2
        return Splits(images, labels, images[:2], labels[:2], ("even", "odd"))

    assert "tiny" in DATASETS and list(DATASETS)[-1] == "tiny"
    dm = ImageDataModule("tiny", val_fraction=0.25, image_size=5)
    assert (dm.train_images, dm.val_images, dm.classes) == (6, 2, ("even", "odd"))
    assert seen == [SourceOptions(image_size=5)]
    with pytest.raises(ValueError, match="A data source named 'tiny' is already registered"):
        register_source("tiny", "again")(load_tiny)


def test_splits_refuse_arrays_of_the_wrong_type() -> None:
    images = np.zeros((2, 1, 4, 4), dtype=np.uint8)
    labels = np.zeros(2, dtype=np.int64)
    with pytest.raises(ValueError, match="`train_images` must be a uint8 N x C x H x W array"):
        Splits(images[:, 0], labels, images, labels, ("a",))
    with pytest.raises(ValueError, match=r"`test_labels` must be int64 of shape \(2,\), got int64"):
        Splits(images, labels, images, labels[:1], ("a",))


# ---- the loader and bad arguments ----


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


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"dataset": "mnist"},
            r"Unknown data source 'mnist'; the known sources are: cifar10, embedded, "
            r"fashion-mnist, imagefolder\.",
        ),
        ({"val_fraction": 0.9}, r"`val_fraction` must be in \[0, 0.5\], got 0.9\."),
        ({"val_fraction": -0.1}, r"`val_fraction` must be in \[0, 0.5\], got -0.1\."),
        ({"batch_size": 0}, r"`batch_size` must be a positive integer, got 0\."),
        ({"train_limit": 0}, r"`train_limit` must be a positive number of images or None, got 0"),
        ({"image_size": 0}, r"`image_size` must be a positive number of pixels, got 0\."),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ImageDataModule(**kwargs)


def test_too_few_training_images_for_a_validation_split() -> None:
    with pytest.raises(ValueError, match="has 1 images, too few to hold out 1 for validation"):
        split_train(np.zeros(1, dtype=np.int64), 0.5, None, seed=0)
