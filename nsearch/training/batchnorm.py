"""BatchNorm statistics re-estimated from training batches, for true eval-mode accuracy after a
short training (and for a supernet's sub-networks, whose shared statistics mix all of them)."""

from __future__ import annotations

from itertools import islice
from typing import Any

import torch
from torch import nn

__all__ = ["recalibrate_batchnorm"]


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Any, max_batches: int) -> None:
    """Re-estimate BatchNorm running statistics from ``max_batches`` training batches.

    Short training leaves running statistics that lag behind the weights, and eval-mode accuracy
    can then sit near chance while training accuracy is fine. This resets them and takes an exact
    average (``momentum=None``) over fresh batches; the train/eval flags come back as they were.
    """
    norms: list[Any] = [
        m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]
    if not norms or max_batches <= 0:
        return
    flags = {m: m.training for m in model.modules()}
    momenta = [m.momentum for m in norms]
    try:
        model.train()
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
        device = next(model.parameters()).device
        for x, _ in islice(batches, max_batches):
            model(x.to(device, non_blocking=True))
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        for m, training in flags.items():
            m.training = training
