"""How a setting appears on the command line: the :class:`Option` record each setting of
:class:`~nsearch.search.settings.SearchSettings` carries, the argparse value types that parse
and check it (each raises ``ValueError`` with the reason, which the CLI turns into one sentence),
and what follows from the options of a whole record: its checks, and which settings that define a
trial's meaning changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nsearch.training.hardware import Hardware

__all__ = ["Option", "changed_identity", "check_options", "device_list", "image_limit",
           "import_path", "option", "parse_rungs", "percentage", "positive_float",
           "positive_int", "rung_schedule", "settled_image_sizes"]  # fmt: skip


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise ValueError(f"must be at least 1, got {text}")
    return value


def import_path(text: str) -> str:
    """An argparse type: ``package.module:name``, an object to import."""
    module, _, name = text.partition(":")
    if not module or not name or not all(p.isidentifier() for p in module.split(".")):
        raise ValueError(f"must be an import path such as package.module:Name, got {text!r}")
    return text


def device_list(text: str) -> str:
    """An argparse type: a positive count of devices, or device indices such as ``0,2``."""
    Hardware(devices=text)  # raises ValueError with the reason
    return text


def image_limit(text: str) -> int | None:
    """An argparse type: a whole number >= 1, or 'all' for no limit."""
    return None if text == "all" else positive_int(text)


def positive_float(text: str) -> float:
    """An argparse type: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise ValueError(f"must be greater than 0, got {text}")
    return value


def percentage(text: str) -> float:
    """An argparse type: a percentage in [0, 100)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None
    if not 0 <= value < 100:
        raise ValueError(f"must be a percentage in [0, 100), got {text}")
    return value


@dataclass(frozen=True)
class Option:
    """How a setting appears on the command line, and whether it defines what a trial means."""

    help: str
    parse: Callable[[str], Any] | None = None
    choices: Callable[[], Sequence[str]] | None = None
    identity: bool = False


def option(default: Any, help: str, **kwargs: Any) -> Any:
    """A dataclass field with its default and its :class:`Option`."""
    return field(default=default, metadata={"option": Option(help, **kwargs)})


def check_options(record: Any) -> None:
    """Refuse, in one sentence, a value of a dataclass ``record`` that its :class:`Option` does
    not allow: one outside its choices, or one its parser rejects (``None`` is always allowed).

    Raises:
        ValueError: naming the setting, the value and what is allowed.
    """
    for f in dataclasses.fields(record):
        declared: Option = f.metadata["option"]
        value = getattr(record, f.name)
        if value is None:
            continue
        if declared.choices is not None and value not in declared.choices():
            allowed = ", ".join(declared.choices())
            raise ValueError(f"`{f.name}` can be {allowed}, got {value!r}.")
        if declared.parse is not None:
            try:
                declared.parse(str(value))
            except ValueError as error:
                raise ValueError(f"`{f.name}` {error}.") from None


def changed_identity(old: Any, new: Any) -> list[str]:
    """The settings of two records of one dataclass that define what a trial means
    (``identity``) and differ, each as ``--name old -> new``."""
    changes = []
    for f in dataclasses.fields(old):
        if f.metadata["option"].identity and getattr(old, f.name) != getattr(new, f.name):
            flag = "--" + f.name.replace("_", "-")
            changes.append(f"{flag} {getattr(old, f.name)} -> {getattr(new, f.name)}")
    return changes


def settled_image_sizes(old: Any, new: Any, input_shape: Sequence[int]) -> tuple[Any, Any]:
    """Two search settings of an image folder, ``old`` (a run's, which searched images of
    ``input_shape``) and ``new``, with ``image_size`` compared by the size it stands for: left to
    the folder (``None``), ``old``'s is ``input_shape``'s side and ``new``'s the folder's own
    (read from its headers). Where both stand for the same size, both come back with ``old``'s
    (the run goes on as it was recorded); where they do not, each with its size in pixels (which
    :func:`changed_identity` then names). Other settings come back as they are.

    Raises:
        ValueError, FileNotFoundError: as :func:`~nsearch.data.scan_folder`, where the folder
            must be scanned.
    """
    folders = old.data == new.data == "imagefolder" and old.datamodule is new.datamodule is None
    if old.image_size == new.image_size or not folders:
        return old, new
    size = old.image_size if old.image_size is not None else int(input_shape[-1])
    if new.image_size is None:
        from nsearch.data import scan_folder

        new_size = scan_folder(new.data_dir).size
    else:
        new_size = new.image_size
    if new_size == size:
        return old, dataclasses.replace(new, image_size=old.image_size)
    return dataclasses.replace(old, image_size=size), dataclasses.replace(new, image_size=new_size)


def parse_rungs(text: str) -> list[tuple[int, int | None]]:
    """``"8x16000,15xall"`` -> ``[(8, 16000), (15, None)]`` (None: every training image).

    Example::

        >>> parse_rungs("15xall")
        [(15, None)]
    """
    rungs: list[tuple[int, int | None]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        epochs, _, images = part.lower().partition("x")
        if not epochs.isdigit() or not (images == "all" or images.isdigit()):
            raise ValueError("must be rungs EPOCHSxIMAGES separated by commas, such as 15xall "
                             f"or 8x16000,15xall; got {part!r}")
        rung = (int(epochs), None if images == "all" else int(images))
        if rung[0] < 1 or rung[1] == 0:
            raise ValueError(f"must have positive epochs and images in each rung, got {part!r}")
        rungs.append(rung)
    return rungs


def rung_schedule(text: str) -> str:
    """An argparse type: rungs written ``EPOCHSxIMAGES`` separated by commas, or ``""`` for
    none; each costs more than the one before it."""
    rungs = parse_rungs(text)
    costs = [e * (i or 10**9) for e, i in rungs]
    if costs != sorted(set(costs)):
        raise ValueError(
            f"must give rungs each costing more epochs x images than the one before, got {text!r}")
    return ",".join(f"{e}x{'all' if i is None else i}" for e, i in rungs)
