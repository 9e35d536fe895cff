"""Training: the classifier and its recipe, a supernet's training and the scoring of its
sub-networks, and what a Lightning fit needs inside a longer job.

- :class:`Classifier`: the LightningModule that trains any candidate network (SGD with Nesterov
  momentum, one warm-up-then-cosine cycle, BatchNorm re-estimated before each validation);
- :class:`SupernetRecipe`, :func:`train_supernet`, :class:`SandwichModule`: a weight-sharing
  supernet's training; :func:`evaluate_subnet`, :func:`prepare_subnet`: scoring a sub-network;
- :class:`Hardware`: the accelerator, devices and precision of every Trainer;
- :func:`quiet_lightning`, :func:`interrupts_as_keyboard_interrupt`: a fit inside a search.

Names are imported on first use, so that importing one light module (``Hardware``) does not
import Lightning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nsearch._lazy import lazy_names

if TYPE_CHECKING:
    from nsearch.training.batchnorm import recalibrate_batchnorm
    from nsearch.training.classifier import Classifier
    from nsearch.training.hardware import Hardware
    from nsearch.training.lightning import interrupts_as_keyboard_interrupt, quiet_lightning
    from nsearch.training.sandwich import SandwichModule
    from nsearch.training.schedule import warmup_cosine
    from nsearch.training.subnet_scoring import (
        SubnetScore,
        SubnetScorer,
        evaluate_subnet,
        fold_batchnorm,
        prepare_subnet,
    )
    from nsearch.training.supernet_recipe import SupernetRecipe
    from nsearch.training.supernet_training import EpochRecord, SupernetTraining, train_supernet

__all__ = ["Classifier", "EpochRecord", "Hardware", "SandwichModule", "SubnetScore",
           "SubnetScorer", "SupernetRecipe",
           "SupernetTraining", "evaluate_subnet", "fold_batchnorm",
           "interrupts_as_keyboard_interrupt", "prepare_subnet", "quiet_lightning",
           "recalibrate_batchnorm", "train_supernet", "warmup_cosine"]  # fmt: skip

_HOMES = {
    "Classifier": "classifier",
    "EpochRecord": "supernet_training",
    "Hardware": "hardware",
    "SandwichModule": "sandwich",
    "SubnetScore": "subnet_scoring",
    "SubnetScorer": "subnet_scoring",
    "SupernetRecipe": "supernet_recipe",
    "SupernetTraining": "supernet_training",
    "evaluate_subnet": "subnet_scoring",
    "fold_batchnorm": "subnet_scoring",
    "interrupts_as_keyboard_interrupt": "lightning",
    "prepare_subnet": "subnet_scoring",
    "quiet_lightning": "lightning",
    "recalibrate_batchnorm": "batchnorm",
    "train_supernet": "supernet_training",
    "warmup_cosine": "schedule",
}


__getattr__ = lazy_names("nsearch.training", _HOMES)
