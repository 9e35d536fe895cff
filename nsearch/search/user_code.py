"""A user's own data and training recipe in the search: loaded by import path (in the manner of
LightningCLI, so that worker processes and other machines build the same objects) and checked
before anything is written, each problem in one sentence.

- ``--datamodule package.module:Name``: a ``LightningDataModule`` class (made with no
  arguments), or a function of no arguments that returns one. Its train and validation loaders
  (and test loader, for the front's test accuracy) yield ``(images, labels)``: float images
  ``N x C x H x W`` as the network takes them, and integer class labels.
- ``--module package.module:name``: a function of one argument, the network, that returns a
  ``LightningModule`` training it and logging ``val_acc`` (a fraction) from its validation step.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["check_batch", "check_lightning_module", "datamodule_facts", "load_datamodule",
           "load_module_factory", "lightning_classes"]  # fmt: skip


def load_object(path: str, option: str) -> Any:
    """The object an import path ``package.module:name`` names.

    Raises:
        ValueError: if the path is malformed, does not import, or names nothing.
    """
    module_name, _, name = path.partition(":")
    if not module_name or not name:
        raise ValueError(f"`{option}` must be an import path such as package.module:Name, "
                         f"got {path!r}.")  # fmt: skip
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # ImportError, or the module's own failure
        raise ValueError(
            f"`{option}` {path!r} does not import: {type(error).__name__}: {error}."
        ) from None
    target: Any = module
    for part in name.split("."):
        if not hasattr(target, part):
            raise ValueError(f"`{option}` {path!r}: {module_name} has no {name!r}.")
        target = getattr(target, part)
    return target


def _lightning_bases(name: str) -> tuple[type, ...]:
    """Lightning's class ``name`` (``LightningModule``, ``LightningDataModule``) from each
    installed distribution: a user may build on either."""
    import importlib.util

    import pytorch_lightning

    bases: tuple[type, ...] = (getattr(pytorch_lightning, name),)
    if importlib.util.find_spec("lightning") is not None:
        import lightning.pytorch

        bases += (getattr(lightning.pytorch, name),)
    return bases


def check_lightning_module(module: Any) -> None:
    """Refuse a training recipe that made something other than a LightningModule.

    Raises:
        ValueError: naming what it made.
    """
    if not isinstance(module, _lightning_bases("LightningModule")):
        raise ValueError(
            "The training recipe (`--module`) must return a LightningModule that trains the "
            f"network it is given, got {type(module).__name__}; wrap the network in a "
            "LightningModule with training_step, validation_step (logging `val_acc`) and "
            "configure_optimizers."
        )


def load_datamodule(path: str) -> Any:
    """The user's datamodule: the class at ``path`` made with no arguments, or what the function
    at ``path`` returns.

    Raises:
        ValueError: if the path does not import, or gives no LightningDataModule.
    """
    target = load_object(path, "--datamodule")
    bases = _lightning_bases("LightningDataModule")
    if isinstance(target, type) and issubclass(target, bases):
        return target()
    made = target() if callable(target) and not isinstance(target, type) else target
    if not isinstance(made, bases):
        raise ValueError(
            f"`--datamodule` {path!r} must name a LightningDataModule class or a function of no "
            f"arguments that returns one, got {type(made).__name__}."
        )
    return made


def load_module_factory(path: str) -> Callable[[torch.nn.Module], Any]:
    """The user's training recipe: a function of the network that returns a LightningModule.

    Raises:
        ValueError: if the path does not import or names something that cannot be called.
    """
    target = load_object(path, "--module")
    if not callable(target):
        raise ValueError(
            f"`--module` {path!r} must name a function of the network that returns a "
            f"LightningModule, got {type(target).__name__}."
        )
    return target


def check_batch(batch: Any, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images, labels)`` of a batch, or one sentence on what it is instead.

    Raises:
        ValueError: unless the batch is a pair of a float ``N x C x H x W`` tensor and an
            integer ``N`` tensor.
    """
    ok = isinstance(batch, (tuple, list)) and len(batch) == 2
    images, labels = batch if ok else (None, None)
    ok = ok and isinstance(images, torch.Tensor) and isinstance(labels, torch.Tensor)
    ok = ok and images.dim() == 4 and images.is_floating_point()  # type: ignore[union-attr]
    ok = ok and labels.dim() == 1 and not labels.is_floating_point()  # type: ignore[union-attr]
    ok = ok and len(images) == len(labels)  # type: ignore[arg-type]
    if not ok:
        raise ValueError(
            f"The datamodule's {where} batches must be (images, labels): a float N x C x H x W "
            f"tensor and N integer labels, got {_describe(batch)}."
        )
    return images, labels  # type: ignore[return-value]


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}: " + ", ".join(
            _describe(v) for v in value[:3]
        )
    return f"a {type(value).__name__}"


def datamodule_facts(datamodule: Any) -> tuple[tuple[int, ...], tuple[str, ...], int]:
    """One image's shape, the class names and the number of validation images, from the first
    training batch, the datamodule's ``classes`` or ``num_classes`` (else the labels it
    validates on), and its validation loader.

    Raises:
        ValueError: on batches that are not ``(images, labels)``, no validation images, or
            fewer than two classes.
    """
    datamodule.prepare_data()
    datamodule.setup("fit")
    images, _ = check_batch(next(iter(datamodule.train_dataloader())), "training")
    seen: set[int] = set()
    val_images = 0
    for batch in datamodule.val_dataloader():
        _, labels = check_batch(batch, "validation")
        val_images += len(labels)
        seen.update(int(y) for y in labels)
    if val_images == 0:
        raise ValueError("The datamodule's validation loader holds no images; the search "
                         "selects on them.")  # fmt: skip
    names = getattr(datamodule, "classes", None)
    count = getattr(datamodule, "num_classes", None)
    if names is not None:
        classes = tuple(str(n) for n in names)
    else:
        classes = tuple(str(i) for i in range(int(count) if count else max(seen) + 1))
    if len(classes) < 2:
        raise ValueError(f"The datamodule has {len(classes)} class(es); a classifier needs at "
                         "least two.")  # fmt: skip
    return tuple(images.shape[1:]), classes, val_images


def lightning_classes(module: Any) -> Any:
    """The Lightning distribution a LightningModule is built on (``pytorch_lightning`` or
    ``lightning.pytorch``): its Trainer must be that distribution's."""
    if type(module).__module__.startswith("lightning") or any(
        base.__module__.startswith("lightning.") for base in type(module).__mro__
    ):
        import lightning.pytorch

        return lightning.pytorch
    import pytorch_lightning

    return pytorch_lightning
