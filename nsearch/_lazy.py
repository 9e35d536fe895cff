"""Public names of a package imported on first use, so that importing one light module of the
package does not import its heavy ones (Lightning, the training code)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``package.<homes[name]>`` when ``name`` is asked for.

    Example::

        >>> getter = lazy_names("nsearch.core", {"netscore": "metrics"})
        >>> round(getter("netscore")(71.878, 3.504872, 0.301), 2)
        74.03
    """

    def getattr_(name: str) -> Any:
        if name in homes:
            return getattr(importlib.import_module(f"{package}.{homes[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return getattr_
