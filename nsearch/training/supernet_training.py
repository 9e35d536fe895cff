"""``train_supernet``: the sandwich-rule training run, its result and its checkpoint files."""

from __future__ import annotations

import os
import time
import warnings
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from nsearch.supernet import Supernet
from nsearch.training.hardware import Hardware
from nsearch.training.sandwich import SandwichModule
from nsearch.training.supernet_recipe import SupernetRecipe

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
        snapshots: the supernet's weights (on the CPU) after each of the last ``keep_last``
            epochs this call trained, oldest first (empty when it loaded a checkpoint).
    """

    epochs: int
    steps: int
    seconds: float
    from_checkpoint: bool
    history: tuple[EpochRecord, ...]
    checkpoint: Path | None = None
    snapshots: tuple[dict[str, torch.Tensor], ...] = ()


class _Snapshots(pl.Callback):
    """Copies of the supernet's weights after each of the last ``keep`` training epochs."""

    def __init__(self, supernet: Supernet, keep: int) -> None:
        self.supernet, self.kept = supernet, deque[dict[str, torch.Tensor]](maxlen=keep)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        state = self.supernet.state_dict()
        self.kept.append({k: v.detach().cpu().clone() for k, v in state.items()})


def _records(history: list[dict[str, float]]) -> tuple[EpochRecord, ...]:
    return tuple(EpochRecord(**{**h, "epoch": int(h["epoch"])}) for h in history)  # type: ignore[arg-type]


def train_supernet(
    supernet: Supernet,
    data: Any,
    *,
    epochs: int,
    recipe: SupernetRecipe | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    hardware: Hardware | None = None,
    progress: bool = True,
    keep_last: int = 0,
) -> SupernetTraining:
    """Train ``supernet`` in place by ``recipe`` (:class:`SupernetRecipe`; by default the sandwich
    rule with in-place distillation, at the space's ``supernet_lr``).

    With ``checkpoint`` (a file path), the trained weights are saved there with the settings
    that made them, and a later call with the same path loads them instead of training again;
    while training, the state after each epoch is kept beside it (``<checkpoint>.partial.ckpt``),
    so an interrupted run resumes at its last finished epoch. ``hardware`` (by default the
    CPU or the first GPU, ``accelerator="auto"``) places the Trainer. The supernet is left in
    train mode (and in ``channels_last`` format if asked), on the device it trained on.

    Args:
        supernet: the supernet to train, e.g. ``Supernet(get_space("mobilenet"), ...)``.
        data: a LightningDataModule of the training and validation images.
        epochs: passes over the training data, >= 1.
        recipe: how to train it.
        checkpoint: where to save (and look for) the trained weights.
        hardware: accelerator, devices and precision.
        progress: show Lightning's progress bar and model summary.
        keep_last: keep the weights after each of the last this many epochs
            (:attr:`SupernetTraining.snapshots`), to average estimates over them.

    Raises:
        ValueError: on a setting out of range, or a checkpoint made with other settings.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"`epochs` must be an integer >= 1, got {epochs!r}.")
    space_lr = supernet.space.supernet_lr
    assert space_lr is not None, "a Supernet's space has a supernet_lr"
    recipe = (recipe or SupernetRecipe()).with_lr(space_lr)
    hardware = hardware or Hardware()
    start = time.perf_counter()
    settings = {
        "space": supernet.space.name,
        **supernet.build_args,
        "epochs": epochs,
        "train_batches": len(data.train_dataloader()),
        **recipe.as_dict(),
        "precision": hardware.precision,
    }
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.is_file():
        saved = _load(path, settings)
        supernet.load_state_dict(saved["state_dict"])
        history = _records(saved["history"])
        return SupernetTraining(epochs, int(saved["steps"]), time.perf_counter() - start, True,
                                history, path)  # fmt: skip

    module = SandwichModule(supernet.train(), recipe)
    snapshots = _Snapshots(supernet, keep_last) if keep_last > 0 else None
    callbacks: list[pl.Callback] = [snapshots] if snapshots is not None else []
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
        **hardware.trainer_kwargs(),
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
    kept = tuple(snapshots.kept) if snapshots is not None else ()
    return SupernetTraining(epochs, steps, time.perf_counter() - start, False, history, path,
                            kept)  # fmt: skip


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
