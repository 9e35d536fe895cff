"""``train_supernet``: the sandwich-rule training run, its result and its checkpoint files."""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from nsearch.supernet._sandwich import SandwichModule
from nsearch.supernet._supernet import Supernet

if TYPE_CHECKING:
    from nsearch.data import ImageDataModule

__all__ = ["EpochRecord", "SupernetTraining", "train_supernet"]

FORMAT = 1


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of supernet training: mean losses and validation accuracies (fractions)."""

    epoch: int
    train_loss: float
    distill_loss: float
    val_acc_largest: float | None = None
    val_acc_smallest: float | None = None


@dataclass(frozen=True)
class SupernetTraining:
    """What :func:`train_supernet` did.

    Attributes:
        epochs: epochs trained in all (by this call and any run it resumed).
        steps: optimizer steps in all.
        seconds: wall time of this call.
        from_checkpoint: the weights came from a finished run's checkpoint, nothing was trained.
        history: one record per epoch.
        checkpoint: where the weights were saved, if anywhere.
    """

    epochs: int
    steps: int
    seconds: float
    from_checkpoint: bool
    history: tuple[EpochRecord, ...]
    checkpoint: Path | None = None


def _records(history: list[dict[str, float]]) -> tuple[EpochRecord, ...]:
    return tuple(EpochRecord(**{**h, "epoch": int(h["epoch"])}) for h in history)  # type: ignore[arg-type]


def train_supernet(
    supernet: Supernet,
    data: ImageDataModule,
    *,
    epochs: int,
    lr: float | None = None,
    weight_decay: float = 5e-5,
    seed: int = 0,
    num_random: int = 2,
    label_smoothing: float = 0.0,
    warmup_fraction: float = 0.25,
    recalibration_batches: int = 16,
    channels_last: bool = True,
    checkpoint: str | os.PathLike[str] | None = None,
    accelerator: str = "auto",
    progress: bool = True,
) -> SupernetTraining:
    """Train ``supernet`` in place with the sandwich rule and in-place distillation.

    See :class:`SandwichModule` for the recipe. With ``checkpoint`` (a file path), the trained
    weights are saved there with the settings that made them, and a later call with the same
    path loads them instead of training again; while training, the state after each epoch is
    kept beside it (``<checkpoint>.partial.ckpt``), so an interrupted run resumes at its last
    finished epoch. Lightning picks a GPU where there is one (``accelerator="auto"``). The
    supernet is left in train mode (and in ``channels_last`` format if asked), on the CPU or the
    device it trained on.

    Args:
        supernet: the supernet to train, e.g. ``get_space("mobilenet").supernet(...)``.
        data: the training and validation images.
        epochs: passes over the training data, >= 1.
        lr: peak learning rate; ``None`` takes the supernet's ``default_lr``.
        weight_decay, seed, num_random, label_smoothing, warmup_fraction,
            recalibration_batches, channels_last: see :class:`SandwichModule`.
        checkpoint: where to save (and look for) the trained weights.
        accelerator: Lightning's accelerator.
        progress: show Lightning's progress bar and model summary.

    Raises:
        ValueError: on a setting out of range, or a checkpoint made with other settings.
    """
    lr = supernet.default_lr if lr is None else lr
    for name, value, ok, allowed in (
        ("epochs", epochs, isinstance(epochs, int) and epochs >= 1, "an integer >= 1"),
        ("lr", lr, lr > 0, "a positive number"),
        ("num_random", num_random, isinstance(num_random, int) and num_random >= 0,
         "an integer >= 0"),
        ("warmup_fraction", warmup_fraction, 0 <= warmup_fraction < 1, "in [0, 1)"),
    ):  # fmt: skip
        if not ok:
            raise ValueError(f"`{name}` must be {allowed}, got {value!r}.")
    start = time.perf_counter()
    hparams: dict[str, Any] = {
        "lr": lr,
        "weight_decay": weight_decay,
        "num_random": num_random,
        "seed": seed,
        "label_smoothing": label_smoothing,
        "warmup_fraction": warmup_fraction,
        "recalibration_batches": recalibration_batches,
        "channels_last": channels_last,
    }
    settings = {
        "space": supernet.space.name,
        **supernet.build_args,
        "epochs": epochs,
        "train_batches": len(data.train_dataloader()),
        **hparams,
    }
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.is_file():
        saved = _load(path, settings)
        supernet.load_state_dict(saved["state_dict"])
        history = _records(saved["history"])
        return SupernetTraining(epochs, int(saved["steps"]), time.perf_counter() - start, True,
                                history, path)  # fmt: skip

    module = SandwichModule(supernet.train(), **hparams)
    callbacks: list[pl.Callback] = []
    partial = None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial.ckpt")
        callbacks.append(
            ModelCheckpoint(
                dirpath=path.parent,
                filename=path.name + ".partial",
                monitor=None,
                save_top_k=1,
                save_on_train_epoch_end=True,
                enable_version_counter=False,
            )  # fmt: skip
        )
        module.settings = settings
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator=accelerator,
        devices=1,
        logger=False,
        callbacks=callbacks,
        enable_checkpointing=path is not None,
        enable_progress_bar=progress,
        enable_model_summary=progress,
        num_sanity_val_steps=0,
        default_root_dir=path.parent if path is not None else None,
    )
    resume = partial if partial is not None and partial.is_file() else None
    if resume is not None:
        _check_settings(torch.load(resume, map_location="cpu", weights_only=False)
                        .get("nsearch_supernet_settings", {}), settings, resume)  # fmt: skip
    with warnings.catch_warnings():  # the folder holds the checkpoint, and other files
        warnings.filterwarnings("ignore", message="Checkpoint directory .* is not empty")
        trainer.fit(module, datamodule=data, ckpt_path=resume)
    if trainer.interrupted or trainer.current_epoch < epochs:
        raise RuntimeError(
            f"Supernet training stopped after {trainer.current_epoch} of {epochs} epochs; "
            "run it again to resume from its last finished epoch."
        )
    steps = int(trainer.global_step)
    history = _records(module.history)
    if path is not None:
        state = {k: v.detach().cpu() for k, v in supernet.state_dict().items()}
        _save(path, {"format": FORMAT, "settings": settings, "steps": steps,
                     "history": module.history, "state_dict": state})  # fmt: skip
        if partial is not None:
            partial.unlink(missing_ok=True)
    return SupernetTraining(epochs, steps, time.perf_counter() - start, False, history, path)


def _check_settings(saved: dict[str, Any], settings: dict[str, Any], path: Path) -> None:
    differ = {k: (saved.get(k), v) for k, v in settings.items() if saved.get(k) != v}
    if differ:
        changes = ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in differ.items())
        raise ValueError(
            f"The supernet checkpoint {str(path)!r} was made with other settings ({changes}); "
            "pass another checkpoint path or delete it."
        )


def _load(path: Path, settings: dict[str, Any]) -> dict[str, Any]:
    saved: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    if saved.get("format") != FORMAT:
        raise ValueError(
            f"{str(path)!r} is not a supernet checkpoint of format {FORMAT}, "
            f"got format {saved.get('format')!r}."
        )
    _check_settings(saved["settings"], settings, path)
    return saved


def _save(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically (a partly written file is never left there)."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
