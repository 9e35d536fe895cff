"""How a supernet trains: one frozen record, read by the training step, the optimiser, the
checkpoint's settings and the search's supernet strategy."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["SAMPLINGS", "SupernetRecipe"]

SAMPLINGS = ("sandwich", "uniform")


@dataclass(frozen=True)
class SupernetRecipe:
    """The supernet's training recipe.

    Attributes:
        lr: peak learning rate of the warm-up-then-cosine cycle; ``None`` takes the space's
            ``supernet_lr``.
        weight_decay: L2 weight decay of SGD (Nesterov momentum 0.9).
        sampling: ``"sandwich"``: every step trains the largest, the smallest and
            ``num_random`` random sub-networks (Yu & Huang 2019); ``"uniform"``: ``num_random``
            random sub-networks, each on the labels (single-path, Guo et al. 2020).
        num_random: random sub-networks per step.
        distill: with ``sandwich``, the sub-networks other than the largest learn the
            largest's predicted class probabilities (in-place distillation) instead of the
            labels.
        grad_clip: the largest gradient norm (``None``: no clipping).
        label_smoothing: of the cross-entropy with the labels.
        warmup_fraction: share of the steps spent warming up, in [0, 1).
        seed: seeds the random sub-networks (step ``k`` draws from ``(seed, k)``).
        recalibration_batches: training batches that re-estimate batch-norm statistics before
            each epoch's validation of the largest and smallest sub-networks.
        channels_last: train in ``channels_last`` memory format.

    Raises:
        ValueError: on a value out of range.
    """

    lr: float | None = None
    weight_decay: float = 5e-5
    sampling: str = "sandwich"
    num_random: int = 2
    distill: bool = True
    grad_clip: float | None = None
    label_smoothing: float = 0.0
    warmup_fraction: float = 0.25
    seed: int = 0
    recalibration_batches: int = 16
    channels_last: bool = True

    def __post_init__(self) -> None:
        checks = (
            ("lr", self.lr is None or self.lr > 0, "a positive number or None"),
            ("weight_decay", self.weight_decay >= 0, "a number >= 0"),
            ("sampling", self.sampling in SAMPLINGS, f"one of {', '.join(SAMPLINGS)}"),
            ("num_random", isinstance(self.num_random, int) and self.num_random >= 0,
             "an integer >= 0"),
            ("grad_clip", self.grad_clip is None or self.grad_clip > 0,
             "a positive number or None"),
            ("warmup_fraction", 0 <= self.warmup_fraction < 1, "in [0, 1)"),
            ("recalibration_batches", self.recalibration_batches >= 0, "an integer >= 0"),
        )  # fmt: skip
        for name, ok, allowed in checks:
            if not ok:
                raise ValueError(f"`{name}` must be {allowed}, got {getattr(self, name)!r}.")
        if self.sampling == "uniform" and self.num_random < 1:
            raise ValueError("`sampling='uniform'` needs `num_random` >= 1, got 0.")

    def with_lr(self, default: float) -> SupernetRecipe:
        """This recipe with ``lr`` set: its own, or ``default`` (the space's) where it has none."""
        return self if self.lr is not None else dataclasses.replace(self, lr=default)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
