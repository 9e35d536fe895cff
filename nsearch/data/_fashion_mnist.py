"""The sources ``embedded`` (the subset in the package) and ``fashion-mnist`` (the full data set).

Full Fashion-MNIST comes from the data directory (the official ``*-ubyte(.gz)`` files, or
torchvision's ``FashionMNIST/raw`` layout), else Debian's ``dataset-fashion-mnist`` package, else
nsearch's download cache, else a download from torchvision's mirror into that cache. The download
gives each request its own timeout and never changes the process-wide socket timeout.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import urllib.request
from pathlib import Path

import numpy as np

from nsearch.data._idx import CLASSES, FILES, find_idx, read_idx
from nsearch.data._registry import SourceOptions, register_source
from nsearch.data._splits import Splits

log = logging.getLogger(__name__)

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
DOWNLOAD_CACHE = Path.home() / ".cache" / "nsearch"
DOWNLOAD_TIMEOUT_S = 20.0  # per request: connecting, and each read
# The mirror and files of torchvision's FashionMNIST, as (file name, md5).
MIRRORS = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
RESOURCES = [
    ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
    ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
    ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
]


def _splits(arrays: dict[str, np.ndarray]) -> Splits:
    """Arrays as in the IDX files (``N x 28 x 28`` uint8) as :class:`Splits`."""
    return Splits(
        arrays["train_images"][:, None],
        arrays["train_labels"].astype(np.int64),
        arrays["test_images"][:, None],
        arrays["test_labels"].astype(np.int64),
        CLASSES,
    )


def _read_folder(directory: Path) -> Splits | None:
    for folder in (directory, directory / "FashionMNIST" / "raw"):
        paths = {name: find_idx(folder, stem) for name, stem in FILES.items()}
        if all(paths.values()):
            return _splits({name: read_idx(p) for name, p in paths.items() if p})
    return None


def _fetch(url: str, md5: str) -> bytes:
    """The file at ``url``, checked against its md5.

    Raises:
        OSError: if it cannot be fetched within the timeout, or its checksum differs.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "nsearch"})
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
            data: bytes = response.read()
    except http.client.HTTPException as error:
        raise OSError(f"{url}: {error!r}") from None
    if hashlib.md5(data, usedforsecurity=False).hexdigest() != md5:
        raise OSError(f"{url} does not match its md5 checksum")
    return data


def download(folder: Path) -> None:
    """Download the four official files into ``folder/FashionMNIST/raw`` (torchvision's layout).

    Files already there are kept; each file is written whole or not at all.

    Raises:
        OSError: naming the last reason, if a file cannot be fetched from any mirror.
    """
    raw = folder / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, md5 in RESOURCES:
        if (raw / name).is_file():
            continue
        failures: list[OSError] = []
        for mirror in MIRRORS:
            try:
                data = _fetch(mirror + name, md5)
            except OSError as error:
                failures.append(error)
                continue
            partial = raw / (name + ".part")
            partial.write_bytes(data)
            partial.replace(raw / name)
            log.info("downloaded %s from %s", name, mirror)
            break
        else:
            raise failures[-1] if failures else OSError("no download mirror is configured")


@register_source("embedded", "The Fashion-MNIST subset shipped in the package (20,000 + 5,000).")
def load_embedded(data_dir: Path | None, options: SourceOptions) -> Splits:
    """The embedded subset; ``data_dir`` and ``options`` are not used."""
    from nsearch.data import embedded  # here, so `python -m nsearch.data.embedded` runs cleanly

    return _splits(embedded.load())


@register_source(
    "fashion-mnist",
    "Full Fashion-MNIST (60,000 + 10,000) from data_dir, Debian's package, or a download.",
)
def load_fashion_mnist(data_dir: Path | None, options: SourceOptions) -> Splits:
    """Full Fashion-MNIST.

    Raises:
        FileNotFoundError: if ``data_dir`` does not hold it, or, without ``data_dir``, it is
            neither installed nor downloadable; the message says where to put which files.
    """
    expected = ", ".join(stem + ".gz" for stem in FILES.values())
    if data_dir is not None:
        splits = _read_folder(data_dir)
        if splits is None:
            raise FileNotFoundError(
                f"The data directory {str(data_dir)!r} does not hold Fashion-MNIST: expected "
                f"{expected} there or in its FashionMNIST/raw folder."
            )
        return splits
    for folder in (DEBIAN_FASHION_MNIST, DOWNLOAD_CACHE):
        splits = _read_folder(folder)
        if splits is not None:
            return splits
    try:
        download(DOWNLOAD_CACHE)
    except OSError as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else repr(error)
        raise FileNotFoundError(
            f"Full Fashion-MNIST was not found and could not be downloaded ({reason}); put "
            f"{expected} in a folder and pass it as the data directory, or install Debian's "
            f"dataset-fashion-mnist package (it puts them in {DEBIAN_FASHION_MNIST})."
        ) from None
    splits = _read_folder(DOWNLOAD_CACHE)
    if splits is None:
        raise FileNotFoundError(f"The download into {str(DOWNLOAD_CACHE)!r} is incomplete.")
    return splits
