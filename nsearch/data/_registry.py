"""The registry of data sources, in the manner of torchvision's model registry.

Each source is one loader, ``load(data_dir, options) -> Splits``, registered under a name with a
one-line description. :data:`DATASETS` is the sorted list of the registered names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nsearch.data._splits import Splits

__all__ = [
    "DATASETS",
    "DataSource",
    "Loader",
    "SourceOptions",
    "get_source",
    "given",
    "list_sources",
    "register_source",
]


@dataclass(frozen=True)
class SourceOptions:
    """What a loader may need besides the data directory.

    Attributes:
        image_size: the side, in pixels, that sources of varying image sizes (``imagefolder``)
            resize to; sources of a fixed size ignore it.
    """

    image_size: int = 32


Loader = Callable[[Path | None, SourceOptions], Splits]


@dataclass(frozen=True)
class DataSource:
    """One source of image data.

    Attributes:
        name: the registry name, used by ``ImageDataModule(dataset=...)`` and ``--data``.
        description: one line for ``--help``.
        load: ``load(data_dir, options) -> Splits``; ``data_dir`` is None where the user gave none.
            Raises FileNotFoundError, naming what it looked for, where the data is not found.
    """

    name: str
    description: str
    load: Loader


_SOURCES: dict[str, DataSource] = {}


def register_source(name: str, description: str) -> Callable[[Loader], Loader]:
    """A decorator that registers a loader as the source ``name``, and returns it unchanged.

    Example::

        @register_source("my-data", "My images from data_dir.")
        def load_my_data(data_dir: Path | None, options: SourceOptions) -> Splits: ...

    Raises:
        ValueError: if the name is taken.
    """

    def register(load: Loader) -> Loader:
        if name in _SOURCES:
            raise ValueError(f"A data source named {name!r} is already registered.")
        _SOURCES[name] = DataSource(name, description, load)
        return load

    return register


def get_source(name: str) -> DataSource:
    """The registered source called ``name``.

    Raises:
        ValueError: if there is none; the message lists the known names.
    """
    try:
        return _SOURCES[name]
    except KeyError:
        raise ValueError(
            f"Unknown data source {name!r}; the known sources are: {', '.join(list_sources())}."
        ) from None


def given(data_dir: Path | None) -> str:
    """The end of a loader's error message: the data directory it was given, if any."""
    return "but no data directory was given" if data_dir is None else f"got {str(data_dir)!r}"


def list_sources() -> list[str]:
    """The names of the registered sources, sorted."""
    return sorted(_SOURCES)


class _SourceNames(Sequence[str]):
    """The sorted names of the registered sources; a live view, so later registrations show."""

    def __getitem__(self, index: Any) -> Any:
        return tuple(list_sources())[index]

    def __len__(self) -> int:
        return len(_SOURCES)

    def __iter__(self) -> Iterator[str]:
        return iter(list_sources())

    def __contains__(self, name: object) -> bool:
        return name in _SOURCES

    def __repr__(self) -> str:
        return repr(tuple(list_sources()))


DATASETS: Sequence[str] = _SourceNames()
